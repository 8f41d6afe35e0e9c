"""Metrics of a run: CSV files, TensorBoard, optional Weights & Biases, a progress bar, and the
loss-curve PNG written at the end. Only the main process (rank 0) creates a ``RunLogger``.

Files in the run folder::

    metrics.csv     one row per logged training step (step, loss terms, lr, grad norm, speed, memory)
    val.csv         one row per validation (teacher-forcing and rollout L1 per horizon)
    tb/             TensorBoard events (train/* and val/* scalars)
    loss_curve.png  training loss terms and validation losses against the step
"""

from __future__ import annotations

import csv
import logging
import math
from pathlib import Path

from vjepa_ac.atomic import atomic_open

log = logging.getLogger("vjepa_ac.train")

TRAIN_CSV = "metrics.csv"
VAL_CSV = "val.csv"
CURVE_PNG = "loss_curve.png"


class CsvLog:
    """Append rows to a CSV whose columns are fixed by its first row (later extra keys are dropped)."""

    def __init__(self, path: Path):
        self.path = path
        self.fields: list[str] | None = None
        if path.is_file() and path.stat().st_size:
            with open(path, newline="") as f:
                self.fields = next(csv.reader(f), None)

    def truncate_after(self, step: int) -> None:
        """Drop rows logged after ``step`` (a resumed run logs them again), and any row a kill
        cut short (missing fields or an unreadable step). The file is rewritten atomically."""
        if not self.path.is_file() or not self.fields:
            return
        rows = read_csv(self.path)
        kept = [r for r in rows if _complete(r, self.fields) and _step(r) <= step]
        if len(kept) != len(rows):
            with atomic_open(self.path, "w", newline="") as f:
                w = csv.DictWriter(f, fieldnames=self.fields)
                w.writeheader()
                w.writerows(kept)

    def write(self, row: dict) -> None:
        new = self.fields is None
        if new:
            self.fields = list(row)
        with open(self.path, "a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=self.fields, extrasaction="ignore")
            if new:
                w.writeheader()
            w.writerow(row)


def _step(row: dict) -> float:
    try:
        return float(row["step"])
    except (TypeError, ValueError, KeyError):
        return math.inf


def _complete(row: dict, fields: list[str]) -> bool:
    return None not in row and all(row.get(k) is not None for k in fields)


def read_csv(path: str | Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


class RunLogger:
    """CSV + TensorBoard (+ W&B) + tqdm for one run; ``start_step`` > 0 continues a resumed run."""

    def __init__(
        self,
        run_dir: Path,
        total_steps: int,
        start_step: int = 0,
        *,
        tensorboard: bool = True,
        wandb_project: str | None = None,
        config: dict | None = None,
        progress_bar: bool = True,
    ):
        self.run_dir = Path(run_dir)
        self.train_csv = CsvLog(self.run_dir / TRAIN_CSV)
        self.val_csv = CsvLog(self.run_dir / VAL_CSV)
        # rows after the checkpoint resumed from are logged again. A validation at step k runs
        # before checkpoint k is written, so its row is kept; a run that starts over from step 0
        # (killed before its first checkpoint) validates step 0 again, so nothing is kept then.
        keep = start_step if start_step > 0 else -1
        self.train_csv.truncate_after(keep)
        self.val_csv.truncate_after(keep)
        self.tb = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self.tb = SummaryWriter(
                str(self.run_dir / "tb"), purge_step=start_step + 1 if start_step else None
            )
        self.wandb = None
        if wandb_project:
            try:
                import wandb  # optional dependency: enable with wandb=true
            except ImportError as e:
                raise ImportError("wandb=true needs the wandb package (pip install wandb)") from e

            self.wandb = wandb.init(
                project=wandb_project,
                dir=str(self.run_dir),
                config=config,
                resume="allow",
                name=self.run_dir.name,
            )
        self.bar = None
        if progress_bar:
            from tqdm import tqdm

            self.bar = tqdm(
                total=total_steps,
                initial=start_step,
                unit="step",
                dynamic_ncols=True,
                desc="train",
                mininterval=1.0,
            )

    def _scalars(self, prefix: str, step: int, metrics: dict) -> None:
        if self.tb is not None:
            for k, v in metrics.items():
                if k != "step" and isinstance(v, (int, float)):
                    self.tb.add_scalar(f"{prefix}/{k}", v, step)
        if self.wandb is not None:
            self.wandb.log({f"{prefix}/{k}": v for k, v in metrics.items() if k != "step"}, step=step)

    def train(self, step: int, metrics: dict) -> None:
        """Log the metrics of optimizer step ``step`` (1-based: steps done)."""
        self.train_csv.write({"step": step, **metrics})
        self._scalars("train", step, metrics)

    def progress(self, metrics: dict) -> None:
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix(
                loss=f"{metrics['loss']:.4f}",
                lr=f"{metrics['lr']:.2e}",
                clips_s=f"{metrics.get('clips_per_s', float('nan')):.1f}",
                refresh=False,
            )

    def val(self, step: int, metrics: dict) -> None:
        self.val_csv.write({"step": step, **metrics})
        self._scalars("val", step, metrics)
        log.info(
            "step %d validation: %s",
            step,
            " ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in metrics.items()),
        )

    def image(self, tag: str, step: int, image) -> None:
        """An ``[H, W, 3]`` uint8 picture to TensorBoard (no-op without it)."""
        if self.tb is not None:
            self.tb.add_image(tag, image, step, dataformats="HWC")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        if self.tb is not None:
            self.tb.close()
        if self.wandb is not None:
            self.wandb.finish()


def plot_loss_curves(run_dir: str | Path, out: str | Path | None = None) -> Path | None:
    """Loss terms of ``metrics.csv`` (and ``val.csv``) against the step as a PNG; None without rows."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    run_dir = Path(run_dir)
    train_rows = read_csv(run_dir / TRAIN_CSV) if (run_dir / TRAIN_CSV).is_file() else []
    if not train_rows:
        return None
    val_rows = read_csv(run_dir / VAL_CSV) if (run_dir / VAL_CSV).is_file() else []
    fig, ax = plt.subplots(figsize=(8, 4.5))
    steps = [int(float(r["step"])) for r in train_rows]
    for key, label in (
        ("loss", "train total"),
        ("loss_tf", "train teacher forcing"),
        ("loss_rollout", "train rollout"),
    ):
        ax.plot(steps, [float(r[key]) for r in train_rows], label=label, linewidth=1)
    if val_rows:
        vsteps = [int(float(r["step"])) for r in val_rows]
        for key in ("teacher_forcing", "rollout"):
            ax.plot(vsteps, [float(r[key]) for r in val_rows], "o--", label=f"val {key.replace('_', ' ')}")
    values = [float(r["loss"]) for r in train_rows]
    if all(math.isfinite(v) and v > 0 for v in values):
        ax.set_yscale("log")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("L1 loss")
    ax.set_title(run_dir.name)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    out = Path(out) if out else run_dir / CURVE_PNG
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
