"""Training configuration: one dataclass per concern, composed into ``TrainConfig``.

The defaults are the paper's recipe (REFERENCE.md section 5: ViT-g features at 256 px, the
~300M predictor, batch 256, 94,500 steps); files in ``configs/`` override them and
``vjepa-ac train CONFIG key=value ...`` overrides those. Unknown keys and inconsistent values
are errors naming the fields (``vjepa_ac.config``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from vjepa_ac.config import ConfigError, require, require_seed
from vjepa_ac.data.clips import ClipConfig
from vjepa_ac.data.index import DataConfig
from vjepa_ac.models.encoder import EncoderConfig
from vjepa_ac.models.predictor import PredictorConfig
from vjepa_ac.train.synthetic_clips import SyntheticConfig


@dataclass
class OptimConfig:
    """AdamW and the warmup-constant-anneal schedule (paper appendix B.1). Steps count optimizer steps."""

    warmup: int = 4500  # steps, linear start_lr -> peak_lr
    constant: int = 85500  # steps at peak_lr
    anneal: int = 4500  # steps, linear peak_lr -> final_lr; the run lasts warmup + constant + anneal steps
    start_lr: float = 7.5e-5
    peak_lr: float = 4.25e-4
    final_lr: float = 0.0
    weight_decay: float = 0.04  # constant; matrices (ndim >= 2) only, never biases or norms
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    # max global L2 norm of the gradients; 0 disables clipping (the norm is still logged). 1.01 is
    # the paper's; the public training code never clips (docs/faithfulness.md)
    grad_clip: float = 1.01
    # a NaN/Inf gradient norm with a finite loss: "stop" the run (naming the last good
    # checkpoint), or "skip" the update and go on, as the public code's GradScaler does.
    # A non-finite loss always stops (the public code asserts on it too)
    on_nonfinite_grad: Literal["stop", "skip"] = "stop"

    def __post_init__(self) -> None:
        for key in ("warmup", "constant", "anneal"):
            require(self, key, getattr(self, key) >= 0, ">= 0 steps")
        if self.total_steps < 1:
            raise ConfigError("warmup + constant + anneal must be >= 1 step", key="warmup")
        for key in ("start_lr", "peak_lr", "final_lr"):
            require(self, key, 0 <= getattr(self, key) < 1e3, "in [0, 1000) (a learning rate)")
        require(self, "weight_decay", 0 <= self.weight_decay < 1e3, "in [0, 1000)")
        require(self, "eps", 0 < self.eps < 1, "in (0, 1)")
        require(self, "grad_clip", 0 <= self.grad_clip < math.inf, "a finite norm >= 0 (0: no clipping)")
        require(self, "betas", all(0.0 <= b < 1.0 for b in self.betas), "two numbers in [0, 1)")

    @property
    def total_steps(self) -> int:
        return self.warmup + self.constant + self.anneal

    def schedule(self) -> dict:
        """Keyword arguments of ``wsd_lr``."""
        return dict(
            warmup=self.warmup,
            constant=self.constant,
            anneal=self.anneal,
            start_lr=self.start_lr,
            peak_lr=self.peak_lr,
            final_lr=self.final_lr,
        )


def _vit_giant() -> EncoderConfig:
    return EncoderConfig.preset("vit_giant")


@dataclass
class ModelConfig:
    """The frozen encoder (architecture + weights) and the trained predictor."""

    encoder: EncoderConfig = field(default_factory=_vit_giant)
    predictor: PredictorConfig = field(default_factory=PredictorConfig)
    # "random" (seeded init, for tests and benchmarks), a release name ("vitg", "vjepa2-ac-vitg",
    # downloaded once), or a local .pt / .safetensors file / URL in the released format
    encoder_checkpoint: str = "random"
    encoder_key: str | None = (
        None  # entry holding the encoder; None: the release's (target_encoder for vitg.pt)
    )
    # older name of finetune.init (a released-format file or name to start from); "random": unset
    predictor_init: str = "random"
    init_seed: int = 0  # seeds the random initialisation of encoder and predictor
    encoder_frames_per_call: int = 64  # frames per encoder call (bounds activation memory)

    def __post_init__(self) -> None:
        enc, pred = self.encoder, self.predictor
        if pred.embed_dim != enc.embed_dim:
            raise ConfigError(
                f"model.predictor.embed_dim ({pred.embed_dim}) must equal model.encoder.embed_dim "
                f"({enc.embed_dim}): the predictor reads the encoder's features"
            )
        if tuple(pred.img_size) != enc.size_hw or pred.patch_size != enc.patch_size:
            raise ConfigError(
                f"model.predictor.img_size/patch_size ({tuple(pred.img_size)}/{pred.patch_size}) must match "
                f"model.encoder.img_size/patch_size ({enc.img_size}/{enc.patch_size})"
            )
        require(self, "encoder_frames_per_call", self.encoder_frames_per_call >= 1, ">= 1")
        require_seed(self, "init_seed")


LORA_TARGETS = ("qkv", "proj", "fc1", "fc2")  # the nn.Linear layers of a predictor block


@dataclass
class LoraConfig:
    """LoRA adapters on the predictor blocks' linear layers (Hu et al. 2021), through ``peft``.
    With ``rank > 0`` every base weight is frozen and only the adapters train."""

    rank: int = 0  # adapter rank r; 0: no adapters (full or freeze_blocks fine-tuning)
    alpha: float = 16.0  # scaling alpha: the update is (alpha / rank) * B @ A
    dropout: float = 0.0  # dropout on the adapters' input
    targets: tuple[str, ...] = LORA_TARGETS  # which linear layers of each block get adapters

    def __post_init__(self) -> None:
        require(self, "rank", self.rank >= 0, ">= 0 (0: no adapters)")
        require(self, "alpha", 0 < self.alpha < math.inf, "a finite number > 0")
        require(self, "dropout", 0.0 <= self.dropout < 1.0, "in [0, 1)")
        bad = sorted(set(self.targets) - set(LORA_TARGETS))
        if bad or not self.targets:
            raise ConfigError(f"finetune.lora.targets: {list(self.targets)} must be a non-empty subset of "
                              f"{list(LORA_TARGETS)} (unknown: {bad})")


@dataclass
class FinetuneConfig:
    """Fine-tuning a trained predictor on a small dataset (docs/finetune.md).

    ``init`` is where the predictor's starting weights come from: ``none`` (``model.predictor_init``
    or a random init), a release name (``vjepa2-ac-vitg``) or URL, a released-format ``.pt`` /
    ``.safetensors`` file, a Hub-layout folder or Hub id (``vjepa-ac export-hub``), or a training
    run folder / checkpoint (LoRA adapters of that run merged). The frozen encoder is
    ``model.encoder_checkpoint`` (a Hub folder or id works there too): use the one ``init`` was
    trained with. The objective is the paper's (teacher forcing + rollout L1, ``train/losses.py``).
    """

    init: str = "none"
    # freeze the input embeddings (predictor_embed, action/state/extrinsics encoders) and the first
    # k predictor blocks; the backward pass stops at block k (less activation memory); with LoRA,
    # those blocks also get no adapters
    freeze_blocks: int = 0
    lora: LoraConfig = field(default_factory=LoraConfig)

    def __post_init__(self) -> None:
        require(self, "freeze_blocks", self.freeze_blocks >= 0, ">= 0")
        if not self.init:
            raise ConfigError("finetune.init must be 'none' or a weights source, got ''")

    @property
    def active(self) -> bool:
        """True when training starts from other weights or trains only part of the predictor."""
        return self.init != "none" or self.freeze_blocks > 0 or self.lora.rank > 0


@dataclass
class TrainDataConfig:
    """Where clips come from.

    ``source``: ``video`` (raw DROID / LeRobot episodes decoded on the fly; the frozen encoder
    runs in the training loop), ``features`` (the cache written by ``vjepa-ac encode``; needs
    ``clips.starts: grid`` and the cache's fps/sampling) or ``synthetic`` (in-memory clips,
    ``train/synthetic_clips.py``). ``clips`` applies to all three (``frames_per_clip``); the held-out
    episodes are ``dataset.val_fraction`` of them, split by episode before any clip is cut.
    """

    source: Literal["video", "features", "synthetic"] = "video"
    dataset: DataConfig = field(default_factory=DataConfig)  # raw episodes (video; features: the split)
    clips: ClipConfig = field(default_factory=ClipConfig)  # frames per clip, rate, sampling, crop, resolution
    feature_cache: Path | None = None  # folder written by `vjepa-ac encode` (source=features)
    synthetic: SyntheticConfig = field(default_factory=SyntheticConfig)
    num_workers: int = 8  # DataLoader worker processes per rank (0: load in the training process)
    prefetch_factor: int = 2  # micro-batches each worker loads ahead

    def __post_init__(self) -> None:
        require(self, "num_workers", self.num_workers >= 0, ">= 0")
        require(self, "prefetch_factor", self.prefetch_factor >= 1, ">= 1")
        if self.source == "features" and self.feature_cache is None:
            raise ConfigError(
                "data.source=features needs data.feature_cache (a folder written by vjepa-ac encode)"
            )
        if self.source == "features" and self.clips.starts != "grid":
            raise ConfigError(
                "data.source=features needs data.clips.starts=grid (the cache holds the frame grid only)"
            )

    @property
    def frames_per_clip(self) -> int:
        return self.clips.frames_per_clip


@dataclass
class TrainConfig:
    """One training run. Batch sizes count clips; the global batch is split over processes
    (GPUs) and accumulation micro-steps: ``batch_size = micro_batch_size x world size x accumulation``."""

    run_dir: Path = Path("runs/vjepa_ac")  # config.yaml, metrics, TensorBoard, checkpoints, export go here
    seed: int = 0  # data order, python/numpy/torch RNG
    model: ModelConfig = field(default_factory=ModelConfig)
    data: TrainDataConfig = field(default_factory=TrainDataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)  # start weights, frozen blocks, LoRA
    batch_size: int = 256  # clips per optimizer step, all processes and micro-steps together (paper: 256)
    micro_batch_size: int = 8  # clips per process per forward/backward (released: 8 per GPU)
    rollout_steps: int = 2  # predicted frames in the rollout loss (paper: 2)
    # "fixed": the rollout starts from [h_1, pred_2] (public code since PR #25); "pre_pr25": from
    # [h_1, pred_3] as the public code did before it (the released checkpoint's likely objective)
    rollout_objective: Literal["fixed", "pre_pr25"] = "fixed"
    device: Literal["auto", "cpu", "cuda"] = "auto"  # auto: cuda:LOCAL_RANK when available
    amp: Literal["auto", "bf16", "fp32"] = "auto"  # auto: bfloat16 autocast on CUDA, fp32 on CPU
    compile: bool = False  # torch.compile the predictor
    log_every: int = 1  # steps between metric rows (CSV, TensorBoard)
    val_every: int = 1000  # steps between validations on held-out episodes; 0: never
    val_clips: int = 256  # held-out clips per validation (at most)
    ckpt_every: int = 1000  # steps between checkpoints (one is always written at the end)
    keep_last: int = 3  # checkpoints kept on disk
    export: bool = True  # write the predictor in the released format (.pt) and as safetensors at the end
    tensorboard: bool = True
    # a frame decoder of this run's encoder (vjepa-ac decoder train): TensorBoard then shows decoded
    # teacher-forcing and rollout predictions of a held-out clip at each validation; None: no pictures
    decoder: Path | None = None
    wandb: bool = False  # log to Weights & Biases too (needs the wandb package)
    wandb_project: str = "vjepa-ac"
    progress_bar: bool = True

    def __post_init__(self) -> None:
        require_seed(self, "seed")
        init = self.model.predictor_init
        if init != "random":  # the older field is folded into finetune.init (one way to name start weights)
            if self.finetune.init not in ("none", init):
                raise ConfigError(f"model.predictor_init ({init!r}) and finetune.init ({self.finetune.init!r}) "
                                  "both name start weights; set finetune.init only")
            self.finetune.init, self.model.predictor_init = init, "random"
        depth = self.model.predictor.depth
        if self.finetune.freeze_blocks >= depth:
            raise ConfigError(f"finetune.freeze_blocks ({self.finetune.freeze_blocks}) must be < "
                              f"model.predictor.depth ({depth}): at least one block trains")
        require(self, "batch_size", self.batch_size >= 1, ">= 1")
        require(self, "micro_batch_size", self.micro_batch_size >= 1, ">= 1")
        if self.batch_size % self.micro_batch_size:
            raise ConfigError(
                f"batch_size ({self.batch_size}) must be a multiple of micro_batch_size "
                f"({self.micro_batch_size})"
            )
        if self.data.source != "features" and self.data.clips.resolution != self.model.encoder.img_size:
            raise ConfigError(
                f"data.clips.resolution ({self.data.clips.resolution}) must equal model.encoder.img_size "
                f"({self.model.encoder.img_size}): frames go to the encoder at that size"
            )
        t = self.data.frames_per_clip
        if self.rollout_objective == "pre_pr25" and t < 3:
            raise ConfigError(
                f"rollout_objective=pre_pr25 needs data.clips.frames_per_clip >= 3 (it starts from pred_3), got {t}",
                key="rollout_objective",
            )
        if not 1 <= self.rollout_steps <= t - 1:
            raise ConfigError(
                f"rollout_steps ({self.rollout_steps}) must be in [1, frames_per_clip - 1 = {t - 1}] "
                f"(data frames_per_clip = {t})"
            )
        for key in ("log_every", "ckpt_every", "keep_last", "val_clips"):
            require(self, key, getattr(self, key) >= 1, ">= 1")
        require(self, "val_every", self.val_every >= 0, ">= 0 (0: never)")

    @property
    def total_steps(self) -> int:
        return self.optim.total_steps
