"""The main job on the embedded default: simulated robot -> features -> predictor -> planning.

``vjepa-ac pipeline [CONFIG] [key=value ...]`` runs five stages into one work folder, each of
which skips what is already done, so re-running resumes:

1. ``collect``: scripted sim episodes in raw DROID format (training labs only);
2. ``encoder``: the frozen encoder's weights file (seeded random init or shipped weights);
3. ``encode``: the feature cache of every episode (``vjepa-ac encode``);
4. ``train``: the AC predictor on the cached features (``vjepa-ac train``; resumes);
5. ``eval``: closed-loop planning on the sim tasks in held-out labs, against random actions
   (``vjepa-ac eval sim``; resumes episode by episode).

Optional, off by default (``decoder.enabled=true``): ``decoder``, a frame decoder of the encoder
trained on the feature cache after ``encode`` (``vjepa-ac decoder train``, a few CPU minutes; a
finished one is kept), so that ``eval`` writes pictures of failed episodes, ``vjepa-ac rollout``
works on the work_dir, and training logs decoded predictions to TensorBoard (docs/decoder.md).

The defaults below are the embedded default (small models that train on 2 CPU cores); the
resolved configuration is saved as ``<work_dir>/pipeline.yaml``.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

import torch

from vjepa_ac.atomic import atomic_write_json
from vjepa_ac.config import ConfigError, save_config, to_dict
from vjepa_ac.data.clips import ClipConfig
from vjepa_ac.data.droid import DroidConfig
from vjepa_ac.data.index import DataConfig
from vjepa_ac.eval.sim import EvalSimConfig
from vjepa_ac.models.encoder import EncoderConfig
from vjepa_ac.models.predictor import PredictorConfig
from vjepa_ac.sim.collect import CollectConfig
from vjepa_ac.sim.env import SimConfig
from vjepa_ac.sim.evaluate import SimEvalConfig
from vjepa_ac.threads import set_threads
from vjepa_ac.train.config import ModelConfig, OptimConfig, TrainConfig, TrainDataConfig
from vjepa_ac.train.decoder import DECODER_FILE, DecoderArch, DecoderTrainConfig

log = logging.getLogger("vjepa_ac.pipeline")

ASSETS = Path(__file__).resolve().parent / "assets"
# encoder weights shipped in the package, by name; each has a .json of how it was made
SHIPPED_ENCODERS: dict[str, Path] = {"sim_vjepa_64": ASSETS / "sim_encoder_64.pt"}


def _encoder_arch() -> EncoderConfig:
    # 64 px frames, 16 px patches: 4 x 4 = 16 tokens per frame
    return EncoderConfig(img_size=64, patch_size=16, embed_dim=192, depth=4, num_heads=3)


@dataclass
class EncoderInit:
    """The frozen encoder of the pipeline: its architecture and where its weights come from."""

    # "sim_vjepa_64": pretrained here on sim video (notes/pretrain.md; planned better than random,
    # notes/pipeline.md), "random": seeded init, or a save_encoder file (.pt / .safetensors)
    weights: str = "sim_vjepa_64"
    seed: int = 0  # init seed of "random"
    arch: EncoderConfig = field(default_factory=_encoder_arch)  # of "random"; files carry their own


def _collect() -> CollectConfig:
    # tint_jitter: per-episode table/floor/wall colours, so that the held-out labs' looks are not new;
    # texture_swap: per surface, half the episodes get another texture (domain randomisation), from the
    # training labs' and 24 procedural ones (random colours and patterns); light_dir_swap: half the
    # episodes light the scene from any side (where the arm's shadow falls); notes/manipulation.md, run F;
    # ext1_zoom: the workspace fills more of the frame (gripper and objects cover more tokens)
    return CollectConfig(episodes=600, sim=SimConfig(image_size=128, tint_jitter=0.35, texture_swap=0.5,
                                                     procedural_textures=24, light_dir_swap=0.5, ext1_zoom=0.8),
                         min_seconds=10.0, max_seconds=20.0)


def _train() -> TrainConfig:
    arch = _encoder_arch()
    return TrainConfig(
        model=ModelConfig(
            encoder=arch,
            predictor=PredictorConfig(img_size=(64, 64), patch_size=16, embed_dim=192, width=192, depth=4,
                                      num_heads=3),
        ),
        data=TrainDataConfig(
            source="features",
            dataset=DataConfig(format="droid", droid=DroidConfig(root=Path("episodes")), val_fraction=0.05),
            clips=ClipConfig(frames_per_clip=8, fps=4.0, sampling="timestamps", starts="grid", crop="square",
                             resolution=64, clips_per_episode=4),
            feature_cache=Path("features"),
            num_workers=0,
        ),
        # the paper's schedule shape, compressed; the paper's 4.25e-4 peak is too low for a 2k-step run
        # of a 2M-parameter predictor (notes/pipeline.md): it ends worse than copying the last frame
        optim=OptimConfig(warmup=100, constant=2000, anneal=300, start_lr=2e-4, peak_lr=2e-3),
        batch_size=32,
        micro_batch_size=32,
        rollout_steps=2,
        device="auto",
        log_every=25,
        val_every=500,
        val_clips=64,
        ckpt_every=250,
        keep_last=2,
    )


def _eval() -> EvalSimConfig:
    return EvalSimConfig(
        # ~600 planning calls at ~1 s: Reach gets the most episodes (its target is a rate)
        # >= 20 episodes per task over the two held-out labs (10 per lab, 5 per object and lab)
        sim=SimEvalConfig(tasks=("reach", "grasp", "pick_and_place", "reach_with_object"), episodes=5,
                          task_episodes=dict(reach=10), video="failures"),
        name="planner",
        planner="paper",
        plan=dict(num_samples=300, iterations=5),
        # Reach plans 3 steps ahead: its energy only leads within ~15 cm of the goal at 4 x 4 tokens,
        # and horizon 3 doubled Reach in a paired test (6/20 vs 3/20) for ~8 more eval minutes
        # (notes/manipulation.md); the other tasks keep the paper's horizon 1
        task_plan=dict(reach=dict(horizon=3)),
    )


def _decoder_train() -> DecoderTrainConfig:
    # every 2nd grid frame of every episode (~17k frames of the default's 600 episodes); 1.5M parameters,
    # ~0.06 s per step on one core: ~5 CPU minutes with reading the frames (notes/decoder.md)
    return DecoderTrainConfig(arch=DecoderArch(width=192, depth=3, num_heads=3), every=2, steps=3000,
                              batch_size=32, peak_lr=1e-3, warmup=100)


@dataclass
class DecoderStage:
    """The optional frame decoder (pictures only: it never changes planning or the predictor)."""

    enabled: bool = False  # train it after `encode` (stage "decoder"); off: the default's runtime stays
    train: DecoderTrainConfig = field(default_factory=_decoder_train)  # features, data, out_dir: derived


@dataclass
class PipelineConfig:
    """The main job. Paths inside the stages are derived from ``work_dir`` (see ``resolve``)."""

    work_dir: Path = Path("runs/sim")  # episodes/, encoder.pt, features/, train/, eval/, summary.json
    threads: int = 0  # torch threads (0: torch's default, one per core; vjepa_ac/threads.py)
    # "decoder" runs after "encode" when decoder.enabled (or when listed here)
    stages: tuple[Literal["collect", "encoder", "encode", "decoder", "train", "eval"], ...] = (
        "collect", "encoder", "encode", "train", "eval")
    collect: CollectConfig = field(default_factory=_collect)
    encoder: EncoderInit = field(default_factory=EncoderInit)
    encode_dtype: Literal["float16", "bfloat16"] = "float16"  # feature cache precision
    encode_batch_frames: int = 64  # frames per encoder call
    train: TrainConfig = field(default_factory=_train)
    eval: EvalSimConfig = field(default_factory=_eval)
    decoder: DecoderStage = field(default_factory=DecoderStage)

    def __post_init__(self) -> None:
        if self.threads < 0 or self.encode_batch_frames < 1:
            raise ConfigError("threads must be >= 0 and encode_batch_frames >= 1")
        w = self.encoder.weights
        if w != "random" and w not in SHIPPED_ENCODERS and not w.endswith((".pt", ".safetensors")):
            raise ConfigError(f"encoder.weights: {w!r} is not 'random', one of {sorted(SHIPPED_ENCODERS)}, "
                              "or a .pt / .safetensors file")


def encoder_path(cfg: PipelineConfig) -> Path:
    return Path(cfg.work_dir) / "encoder.pt"


def decoder_path(cfg: PipelineConfig) -> Path:
    return Path(cfg.work_dir) / "decoder" / DECODER_FILE


def stage_order(cfg: PipelineConfig) -> list[str]:
    """``cfg.stages``, with ``decoder`` after ``encode`` (else before ``train``) when enabled."""
    order = list(cfg.stages)
    if cfg.decoder.enabled and "decoder" not in order:
        after = [i + 1 for i, s in enumerate(order) if s == "encode"] or [i for i, s in enumerate(order) if s == "train"]
        order.insert(after[0] if after else len(order), "decoder")
    return order


def resolve(cfg: PipelineConfig) -> PipelineConfig:
    """Fill every derived path and make the stages agree on the encoder, resolution and data."""
    work = Path(cfg.work_dir)
    arch = _encoder_file_arch(cfg)
    collect = replace(cfg.collect, out_dir=str(work / "episodes"))
    t = cfg.train
    pred = replace(t.model.predictor, img_size=(arch.img_size, arch.img_size), patch_size=arch.patch_size,
                   embed_dim=arch.embed_dim)
    data = replace(
        t.data,
        source="features",
        feature_cache=work / "features",
        dataset=replace(t.data.dataset, format="droid",
                        droid=replace(t.data.dataset.droid, root=work / "episodes", episode_list=None)),
        clips=replace(t.data.clips, resolution=arch.img_size, starts="grid"),
    )
    # resolved: the trained run loads from any working directory (a moved work_dir: runs.locate)
    model = replace(t.model, encoder=arch, predictor=pred, encoder_checkpoint=str(encoder_path(cfg).resolve()))
    train = replace(t, run_dir=work / "train", model=model, data=data,
                    decoder=decoder_path(cfg) if cfg.decoder.enabled else t.decoder)
    dec = replace(cfg.decoder, train=replace(cfg.decoder.train, features=data.feature_cache, data=data.dataset,
                                             out_dir=decoder_path(cfg).parent, val_fraction=data.dataset.val_fraction,
                                             split_seed=data.dataset.split_seed))
    # frames are rendered at the collection's size and resized by the world model exactly as in training
    ev = replace(cfg.eval, out_dir=work / "eval",
                 sim=replace(cfg.eval.sim, image_size=collect.sim.image_size, camera_zoom=collect.sim.ext1_zoom,
                             video_dir=None))
    return replace(cfg, collect=collect, train=train, eval=ev, decoder=dec)


def _encoder_file_arch(cfg: PipelineConfig) -> EncoderConfig:
    """The architecture of the encoder the pipeline uses (a weights file carries its own)."""
    src = _encoder_source(cfg)
    if src is None:
        return cfg.encoder.arch
    from vjepa_ac.official import load_released_encoder

    return load_released_encoder(src).cfg


def _encoder_source(cfg: PipelineConfig) -> Path | None:
    w = cfg.encoder.weights
    if w == "random":
        return None
    path = SHIPPED_ENCODERS.get(w, Path(w))
    if not path.is_file():
        raise FileNotFoundError(f"encoder.weights: {path} not found")
    return path


# ------------------------------------------------------------------------------------- stages


def stage_collect(cfg: PipelineConfig) -> dict:
    from vjepa_ac.sim.collect import collect

    summary = collect(cfg.collect)
    if summary["errors"]:
        raise RuntimeError(f"sim collect: {summary['errors']} episodes failed: {summary['error_indices']}")
    return {k: summary[k] for k in ("episodes", "new_episodes", "frames", "robot_hours", "wall_seconds")}


def stage_encoder(cfg: PipelineConfig) -> dict:
    """Write ``work_dir/encoder.pt`` once; later runs check it is still the configured encoder."""
    from vjepa_ac.encode import weights_sha256
    from vjepa_ac.models.encoder import VisionTransformer
    from vjepa_ac.official import load_released_encoder, save_encoder

    src = _encoder_source(cfg)
    if src is None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.encoder.seed)
            encoder = VisionTransformer(cfg.encoder.arch)
    else:
        encoder = load_released_encoder(src)
    digest = weights_sha256(encoder)
    path = encoder_path(cfg)
    if path.is_file():
        existing = weights_sha256(load_released_encoder(path))
        if existing != digest:
            raise RuntimeError(f"{path} holds other encoder weights than encoder.{cfg.encoder.weights!r}; "
                               "use another work_dir (features and the predictor depend on it)")
        return dict(path=str(path), sha256=digest, new=False)
    save_encoder(encoder, path)
    return dict(path=str(path), sha256=digest, new=True, source=cfg.encoder.weights)


def stage_encode(cfg: PipelineConfig) -> dict:
    from vjepa_ac.encode import EncodeConfig, encode_dataset

    t = cfg.train
    enc = EncodeConfig(output=t.data.feature_cache, data=t.data.dataset, clips=t.data.clips,
                       checkpoint=str(encoder_path(cfg)), dtype=cfg.encode_dtype,
                       device="cuda" if torch.cuda.is_available() else "cpu",
                       batch_frames=cfg.encode_batch_frames, num_workers=1)
    summary = encode_dataset(enc)
    return {k: summary[k] for k in ("encoded", "reused", "skipped", "frames_total", "seconds")}


def stage_decoder(cfg: PipelineConfig) -> dict:
    from vjepa_ac.train.decoder import train_decoder

    summary = train_decoder(cfg.decoder.train)
    val = summary.get("val_scores") or {}
    return dict(path=summary["decoder"], skipped=bool(summary.get("skipped")), val_psnr=val.get("psnr"),
                val_psnr_mean_frame=val.get("psnr_mean_frame"))


def stage_train(cfg: PipelineConfig) -> dict:
    from vjepa_ac.train.checkpoint import latest_checkpoint, load_checkpoint
    from vjepa_ac.train.loop import train

    t = cfg.train
    last = latest_checkpoint(t.run_dir / "checkpoints")
    if last is not None and int(load_checkpoint(last)["step"]) >= t.total_steps:
        return dict(step=t.total_steps, skipped=True)
    result = train(t, resume=last is not None)
    if result.stopped != "finished":
        raise RuntimeError(f"training stopped ({result.stopped}) at step {result.step}; re-run to resume")
    return dict(step=result.step, skipped=False)


def stage_eval(cfg: PipelineConfig) -> dict:
    from vjepa_ac.eval.sim import run_sim_eval

    results = run_sim_eval(str(cfg.train.run_dir), cfg.eval)
    return dict(results=str(Path(cfg.eval.out_dir) / "results.json"), episodes=len(results.get("episodes", [])))


STAGES = {"collect": stage_collect, "encoder": stage_encoder, "encode": stage_encode, "decoder": stage_decoder,
          "train": stage_train, "eval": stage_eval}


def run_pipeline(cfg: PipelineConfig) -> dict:
    """Run the configured stages in order; returns (and writes) ``summary.json``."""
    set_threads(cfg.threads)
    work = Path(cfg.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    cfg = resolve(cfg)
    save_config(cfg, work / "pipeline.yaml")
    summary: dict = dict(config=str(work / "pipeline.yaml"), stages={})
    for name in stage_order(cfg):
        log.info("stage %s", name)
        t0 = time.perf_counter()
        out = STAGES[name](cfg)
        out["seconds"] = round(time.perf_counter() - t0, 1)
        summary["stages"][name] = out
        log.info("stage %s done in %.0f s: %s", name, out["seconds"], json.dumps(out))
    atomic_write_json(work / "summary.json", summary)
    return summary


def results_table(cfg: PipelineConfig) -> str:
    """The Markdown results table of the eval stage ('' before it ran)."""
    path = Path(resolve(cfg).eval.out_dir) / "results.md"
    return path.read_text() if path.is_file() else ""


__all__ = ["PipelineConfig", "EncoderInit", "run_pipeline", "resolve", "results_table", "to_dict"]
