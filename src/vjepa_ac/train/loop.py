"""The training loop: ``train(cfg, resume=False)`` wires models, data, optimizer, DDP, logging,
validation, checkpoints and signals together; the work itself is in ``step.py``.

Launch on one process (``vjepa-ac train CONFIG``) or many (``torchrun --nproc_per_node 4 -m
vjepa_ac.cli train CONFIG``; multi-node with ``--nnodes``/``--rdzv_endpoint``; on SLURM
``srun torchrun ...``). Distribution is detected from ``RANK``/``WORLD_SIZE``/``LOCAL_RANK``:
DDP over nccl on GPUs, gloo on CPUs. Only rank 0 writes files. The run folder must be shared by
all nodes (checkpoints are written by rank 0 and read by every rank on resume).
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from vjepa_ac.atomic import atomic_write_json, remove_stale_temps
from vjepa_ac.config import save_config, to_dict
from vjepa_ac.models.encoder import FrameEncoder
from vjepa_ac.models.predictor import ACPredictor
from vjepa_ac.official import released_predictor_kwargs
from vjepa_ac.runs import stored_predictor_config
from vjepa_ac.train import checkpoint as ckpt
from vjepa_ac.train.build import build_encoder, build_predictor
from vjepa_ac.train.config import TrainConfig
from vjepa_ac.train.datasets import BatchStream, DataPosition, EpochShardSampler, build_datasets, val_batches
from vjepa_ac.train.export import export_predictor_files
from vjepa_ac.train.finetune import plain_predictor, trainable_parameters
from vjepa_ac.train.logging import RunLogger, plot_loss_curves
from vjepa_ac.train.optim import build_optimizer
from vjepa_ac.train.runlock import RunLock
from vjepa_ac.train.runtime import (
    Distributed,
    StopSignal,
    accumulation_steps,
    amp_dtype,
    init_distributed,
    peak_memory_mb,
)
from vjepa_ac.train.step import NonFiniteLossError, WorldModelObjective, train_step
from vjepa_ac.train.validate import validate

log = logging.getLogger("vjepa_ac.train")


@dataclass
class TrainResult:
    step: int  # optimizer steps done
    stopped: str  # "finished" | "signal"
    run_dir: Path
    checkpoint: Path | None  # the last checkpoint written
    metrics: dict  # the last step's metrics


def _config_changes(old: dict, new: dict, prefix: str = "") -> list[str]:
    out = []
    for k in sorted(set(old) | set(new)):
        a, b = old.get(k), new.get(k)
        if isinstance(a, dict) and isinstance(b, dict):
            out += _config_changes(a, b, f"{prefix}{k}.")
        elif a != b:
            out.append(f"{prefix}{k}: {a!r} -> {b!r}")
    return out


def _resume_path(cfg: TrainConfig, resume: bool | str | Path) -> Path | None:
    folder = cfg.run_dir / "checkpoints"
    if resume is False:
        if ckpt.list_checkpoints(folder):
            raise FileExistsError(
                f"{folder} holds checkpoints: pass --resume to continue, or choose another run_dir"
            )
        return None
    if resume is True:
        path = ckpt.latest_checkpoint(folder)
        if path is None:
            log.info("--resume: no checkpoint in %s, starting from step 0", folder)
        return path
    return Path(resume)


def train(cfg: TrainConfig, resume: bool | str | Path = False) -> TrainResult:
    """Train the predictor of ``cfg``; ``resume=True`` continues from the run folder's latest
    checkpoint (or starts when there is none), a path continues from that checkpoint."""
    d, device = init_distributed(cfg.device)
    handler, lock = None, None
    try:
        if d.is_main:
            # one trainer per run folder: refuse a second one before it writes anything
            lock = RunLock(cfg.run_dir).acquire()
            handler = logging.FileHandler(cfg.run_dir / "train.log")
            handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
            logging.getLogger("vjepa_ac").addHandler(handler)
        else:
            log.setLevel(logging.WARNING)
        return _train(cfg, resume, d, device)
    finally:
        if handler is not None:
            logging.getLogger("vjepa_ac").removeHandler(handler)
            handler.close()
        if lock is not None:
            lock.release()
        if dist.is_initialized():
            dist.destroy_process_group()


@dataclass
class Run:
    """The wired parts of a run, passed explicitly to the functions below."""

    cfg: TrainConfig
    dist: Distributed
    device: torch.device
    amp: torch.dtype | None
    predictor: ACPredictor  # the plain module (state dicts, export)
    model: torch.nn.Module  # what training calls: WorldModelObjective(predictor), DDP-wrapped and/or compiled
    encoder: FrameEncoder | None  # None with cached features
    optimizer: torch.optim.Optimizer
    stream: BatchStream
    val_set: torch.utils.data.Dataset | None  # held-out episodes; None: no validation
    logger: RunLogger | None  # rank 0 only
    decoder: torch.nn.Module | None = None  # frame decoder for TensorBoard pictures (cfg.decoder), loaded at first use


def save_state(run: Run, step: int) -> Path:
    """Checkpoint after ``step`` optimizer steps (written by rank 0; every rank returns the path)."""
    folder = run.cfg.run_dir / "checkpoints"
    if not run.dist.is_main:
        return ckpt.checkpoint_path(folder, step)
    state = dict(
        config=to_dict(run.cfg),
        predictor_kwargs=released_predictor_kwargs(run.predictor.cfg),
        model=run.predictor.state_dict(),
        optimizer=run.optimizer.state_dict(),
        step=step,
        epoch=run.stream.position.epoch,
        samples_in_epoch=run.stream.position.samples_in_epoch,
        rng=ckpt.rng_state(),
    )
    path = ckpt.save_checkpoint(state, folder, run.cfg.keep_last)
    log.info("checkpoint %s", path)
    return path


def run_validation(run: Run, step: int) -> dict:
    cfg = run.cfg
    batches = val_batches(
        run.val_set,
        max_clips=cfg.val_clips,
        micro_batch=cfg.micro_batch_size,
        rank=run.dist.rank,
        world_size=run.dist.world_size,
        num_workers=min(cfg.data.num_workers, 2),
    )
    metrics = validate(
        run.predictor,
        batches,
        encoder=run.encoder,
        device=run.device,
        amp_dtype=run.amp,
        rollout_steps=cfg.rollout_steps,
        horizons=cfg.data.frames_per_clip - 1,
    )
    if run.logger:
        run.logger.val(step, metrics)
        if cfg.decoder is not None and run.logger.tb is not None:
            log_prediction_picture(run, step)
    return metrics


def log_prediction_picture(run: Run, step: int) -> None:
    """Decoded predictions of the first held-out clip to TensorBoard (``train.val_images``)."""
    from vjepa_ac.models.decoder import load_decoder
    from vjepa_ac.train.val_images import prediction_picture

    if run.decoder is None:
        run.decoder = load_decoder(run.cfg.decoder, run.device)[0]
        want = (run.predictor.cfg.tokens_per_frame, run.predictor.cfg.embed_dim)
        if (run.decoder.cfg.tokens_per_frame, run.decoder.cfg.embed_dim) != want:
            raise ValueError(f"decoder {run.cfg.decoder}: reads [{run.decoder.cfg.tokens_per_frame}, "
                             f"{run.decoder.cfg.embed_dim}] features, this run's are {list(want)}")
    batch = next(iter(val_batches(run.val_set, max_clips=1, micro_batch=1, rank=0, world_size=1)))
    picture = prediction_picture(run.predictor, batch, run.decoder, encoder=run.encoder, device=run.device)
    run.logger.image("val/predictions", step, picture)


def setup(
    cfg: TrainConfig, resume_from: Path | None, d: Distributed, device: torch.device
) -> tuple[Run, int, Path | None]:
    """Build everything; returns the run, the step to continue from and the checkpoint resumed."""
    random.seed(cfg.seed)
    np.random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    accum = accumulation_steps(cfg.batch_size, cfg.micro_batch_size, d.world_size)
    src = cfg.data.source
    needs_encoder = not (src == "features" or (src == "synthetic" and cfg.data.synthetic.features))
    encoder = build_encoder(cfg.model, device) if needs_encoder else None
    state = ckpt.load_checkpoint(resume_from) if resume_from is not None else None
    if state is not None:
        # the resumed weights keep the LayerNorm eps their run recorded (the release's for runs
        # saved before it was recorded), whatever the config file now defaults to
        stored = stored_predictor_config(state["config"]["model"]["predictor"])
        cfg.model.predictor.norm_eps = float(stored["norm_eps"])
    predictor = build_predictor(cfg.model, device, cfg.finetune)
    optimizer = build_optimizer(predictor, cfg.optim)
    step, position = 0, DataPosition()
    if state is not None:
        predictor.load_state_dict(state["model"], strict=True)
        optimizer.load_state_dict(state["optimizer"])
        step, position = state["step"], DataPosition(state["epoch"], state["samples_in_epoch"])
        ckpt.set_rng_state(state["rng"])
        for change in _config_changes(state["config"], to_dict(cfg)):
            log.warning("config differs from the checkpoint's: %s", change)
        log.info(
            "resumed from %s at step %d (epoch %d, %d clips in)",
            resume_from,
            step,
            position.epoch,
            position.samples_in_epoch,
        )
    model = WorldModelObjective(predictor, cfg.rollout_steps, cfg.rollout_objective == "pre_pr25")
    if d.world_size > 1:
        model = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    if cfg.compile:
        model = torch.compile(model)

    train_set, val_set = build_datasets(cfg, cfg.run_dir if d.is_main else None)
    if val_set is None and cfg.val_every:
        log.warning("no held-out episodes (data.dataset.val_fraction = 0): validation is off")
    sampler = EpochShardSampler(
        len(train_set), global_batch=cfg.batch_size, rank=d.rank, world_size=d.world_size, seed=cfg.seed
    )
    stream = BatchStream(
        train_set,
        sampler,
        micro_batch=cfg.micro_batch_size,
        accumulation=accum,
        num_workers=cfg.data.num_workers,
        prefetch_factor=cfg.data.prefetch_factor,
        pin_memory=device.type == "cuda",
        position=position,
    )
    amp = amp_dtype(cfg.amp, device)
    log.info(
        "effective batch %d = %d per process x %d processes x %d accumulation; %d steps (%d per epoch of %d "
        "clips); device %s, %s; predictor %s parameters, %s trainable",
        cfg.batch_size,
        cfg.micro_batch_size,
        d.world_size,
        accum,
        cfg.total_steps,
        sampler.steps_per_epoch,
        len(train_set),
        device,
        "bf16 autocast" if amp else "fp32",
        f"{trainable_parameters(predictor)[1]:,}",
        f"{trainable_parameters(predictor)[0]:,}",
    )
    logger = None
    if d.is_main:
        logger = RunLogger(
            cfg.run_dir,
            cfg.total_steps,
            step,
            tensorboard=cfg.tensorboard,
            progress_bar=cfg.progress_bar,
            wandb_project=cfg.wandb_project if cfg.wandb else None,
            config=to_dict(cfg),
        )
    run = Run(cfg, d, device, amp, predictor, model, encoder, optimizer, stream, val_set, logger)
    return run, step, resume_from


def speed_metrics(run: Run, seconds: float, data_seconds: float) -> dict:
    """clips/s and predictor tokens/s (teacher forcing + rollout steps, incl. action/state tokens)."""
    cfg, p = run.cfg, run.predictor.cfg
    tokens_per_clip = (cfg.data.frames_per_clip - 1 + cfg.rollout_steps - 1) * (
        p.tokens_per_frame + p.cond_tokens
    )
    return dict(
        step_time=seconds,
        data_wait=data_seconds / seconds,
        clips_per_s=cfg.batch_size / seconds,
        tokens_per_s=cfg.batch_size * tokens_per_clip / seconds,
        peak_mem_mb=peak_memory_mb(run.device),
        epoch=run.stream.position.epoch,
    )


def _train(cfg: TrainConfig, resume: bool | str | Path, d: Distributed, device: torch.device) -> TrainResult:
    if d.is_main:
        # temporary files of a save that was killed (this process holds the run lock, so no
        # other writer is in flight); at paper size each is a full checkpoint (GBs)
        for stale in remove_stale_temps(cfg.run_dir / "checkpoints") + remove_stale_temps(cfg.run_dir):
            log.warning("removed %s, left by an interrupted save", stale)
    resume_from = _resume_path(cfg, resume)
    if d.is_main:
        save_config(cfg, cfg.run_dir / "config.yaml")
    run, step, last_ckpt = setup(cfg, resume_from, d, device)
    if d.is_main:
        save_config(cfg, cfg.run_dir / "config.yaml")  # again: setup may set model.predictor.norm_eps
    total, metrics, stopped = cfg.total_steps, {}, "finished"
    decode_failures = 0  # clips of this process replaced after a decode error, since this (re)start
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    if step == 0 and run.val_set is not None and cfg.val_every:
        run_validation(run, 0)  # the untrained predictor: where the validation curve starts
    try:
        with StopSignal() as stop:
            while step < total:
                t0 = time.perf_counter()
                batches = run.stream.next_step()
                t_data = time.perf_counter() - t0
                try:
                    metrics = train_step(
                        run.model,
                        batches,
                        run.optimizer,
                        step=step,
                        optim=cfg.optim,
                        encoder=run.encoder,
                        device=device,
                        amp_dtype=run.amp,
                    )
                except NonFiniteLossError as err:
                    err = err.with_context(str(last_ckpt) if last_ckpt else None, batch_clips(batches))
                    _report_nonfinite(cfg.run_dir, err, d.is_main)
                    raise err from None
                step += 1
                if metrics.get("skipped"):
                    log.warning("step %d: non-finite gradient norm, update skipped (optim.on_nonfinite_grad=skip)", step)
                decode_failures += count_decode_failures(batches)
                metrics.update(speed_metrics(run, time.perf_counter() - t0, t_data))
                metrics["decode_failures"] = decode_failures
                if run.logger:
                    if step % cfg.log_every == 0 or step == total:
                        run.logger.train(step, metrics)
                    run.logger.progress(metrics)
                if run.val_set is not None and cfg.val_every and (step % cfg.val_every == 0 or step == total):
                    run_validation(run, step)
                signalled = stop.agreed(device)
                if step % cfg.ckpt_every == 0 or step == total or signalled:
                    last_ckpt = save_state(run, step)
                if signalled:
                    stopped = "signal"
                    log.warning("stopped by signal at step %d; continue with --resume", step)
                    break
    finally:
        if run.logger:
            run.logger.close()
    if d.is_main and stopped == "finished":
        if cfg.export:
            paths = export_predictor_files(plain_predictor(run.predictor, cfg.finetune), cfg.run_dir / "export")
            log.info("exported the predictor: %s", ", ".join(str(p) for p in paths.values()))
        log.info("loss curve %s", plot_loss_curves(cfg.run_dir))
    if dist.is_initialized():
        dist.barrier()
    return TrainResult(step, stopped, cfg.run_dir, last_ckpt, metrics)


def count_decode_failures(micro_batches: list[dict]) -> int:
    """Clips replaced after a decode error while loading a step's micro-batches (this process)."""
    return sum(int(b["decode_failures"].sum()) for b in micro_batches if "decode_failures" in b)


def batch_clips(micro_batches: list[dict]) -> list[str]:
    """``"<episode_id> [<camera>] rows a..b"`` for every clip of a step's micro-batches (this
    process's share); clips without ids (synthetic data) are named by their batch position."""
    names = []
    for m, batch in enumerate(micro_batches):
        ids = batch.get("episode_id")
        if ids is None:
            continue
        cameras = batch.get("camera") or [""] * len(ids)
        rows = batch.get("rows")
        for i, (eid, cam) in enumerate(zip(ids, cameras)):
            span = f" rows {int(rows[i][0])}..{int(rows[i][-1])}" if rows is not None else ""
            names.append(f"{eid}{f' [{cam}]' if cam else ''}{span}")
    return names


def _report_nonfinite(run_dir: Path, err: NonFiniteLossError, is_main: bool) -> None:
    log.error("%s", err)
    if is_main:
        info = {
            "step": err.step,
            "what": err.what,
            "terms": err.terms,
            "last_checkpoint": err.last_checkpoint,
            "nonfinite_after_update": err.bad_tensors,
            "clips": err.clips,
        }
        atomic_write_json(run_dir / "nonfinite.json", info)
