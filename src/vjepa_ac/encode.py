"""The encode job (``vjepa-ac encode``): run the frozen encoder over a dataset into the feature cache.

``encode_dataset(cfg)`` indexes ``cfg.data``, decodes each usable episode's frame grid in
DataLoader workers, encodes it (``encode_frames``) and writes the cache whose format and
readers live in ``vjepa_ac.data.features`` (``manifest.json``, ``episodes/<stem>.npy`` +
``.meta.npz``); rerunning resumes it. This module sits above ``data/`` and ``models/``: it is
the one place the two meet for the cache (``data/`` itself imports no other subpackage).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Sequence

import torch
from torch.utils.data import DataLoader, Dataset

from vjepa_ac.atomic import remove_stale_temps
from vjepa_ac.config import ConfigError, require, require_seed
from vjepa_ac.data.clips import ClipConfig, frame_grid
from vjepa_ac.data.episode import Episode
from vjepa_ac.data.features import (
    CACHE_VERSION,
    EPISODES_DIR,
    MANIFEST,
    SETTING_KEYS,
    comparable_setting,
    episode_stem,
    to_storage,
    write_episode_meta,
    write_features_file,
    write_json,
)
from vjepa_ac.data.index import DataConfig, build_index
from vjepa_ac.data.transforms import crop_and_resize, normalize
from vjepa_ac.data.video import VideoDecodeError
from vjepa_ac.models.encoder import (
    ENCODER_PRESETS,
    EncoderConfig,
    VisionTransformer,
    build_encoder,
    encode_per_frame,
)

log = logging.getLogger("vjepa_ac.data.features")  # the logger name the job always used

@dataclass
class EncodeConfig:
    """``vjepa-ac encode``: which dataset, which encoder, where the cache goes."""

    output: Path | None = None  # cache folder (required); re-running resumes it
    data: DataConfig = field(default_factory=DataConfig)
    # fps, sampling, max_time_error, crop, resolution (frames_per_clip does not matter here)
    clips: ClipConfig = field(default_factory=lambda: ClipConfig(starts="grid"))
    # a released name (vitl, vith, vitg, vjepa2-ac-vitg), a local file, or "random" (tests)
    checkpoint: str = "vitg"
    checkpoint_key: str | None = None  # entry holding the encoder (default: the release's / target_encoder)
    encoder_preset: str = "vit_giant"  # architecture of "random" and of local files not named like a release
    seed: int = 0  # weights of the "random" encoder
    dtype: Literal["float16", "bfloat16"] = "float16"  # storage precision of the features
    device: str = "auto"  # "auto": cuda if available, else cpu
    autocast_bf16: bool = True  # bfloat16 autocast on CUDA (as the released training computes its targets)
    batch_frames: int = 32  # frames per encoder call
    num_workers: int = 2  # DataLoader workers decoding episodes while the encoder runs

    def __post_init__(self) -> None:
        if self.encoder_preset not in ENCODER_PRESETS:
            raise ConfigError(
                f"encoder_preset {self.encoder_preset!r} is not one of {sorted(ENCODER_PRESETS)}"
            )
        require(self, "batch_frames", self.batch_frames >= 1, ">= 1")
        require(self, "num_workers", self.num_workers >= 0, ">= 0")
        require_seed(self, "seed")


# ----------------------------------------------------------------------------- encoder


def weights_sha256(module: torch.nn.Module) -> str:
    """sha256 over the state dict (sorted names, dtypes, shapes and bytes): identifies the weights."""
    h = hashlib.sha256()
    for name, t in sorted(module.state_dict().items()):
        t = t.detach().cpu().contiguous()
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def load_cache_encoder(cfg: EncodeConfig) -> VisionTransformer:
    """The frozen encoder of ``cfg`` (eval mode, CPU)."""
    if cfg.checkpoint == "random":
        torch.manual_seed(cfg.seed)
        return build_encoder(EncoderConfig.preset(cfg.encoder_preset, img_size=cfg.clips.resolution)).eval()
    from vjepa_ac.official import ENCODER_KWARGS_KEY, RELEASED, load_released_encoder, read_checkpoint

    named = cfg.checkpoint in RELEASED or Path(cfg.checkpoint).stem in RELEASED
    # local files carry their architecture (save_encoder) or get the configured preset
    self_describing = not named and ENCODER_KWARGS_KEY in read_checkpoint(cfg.checkpoint)
    kwargs = (
        None
        if named or self_describing
        else dict(
            img_size=cfg.clips.resolution,
            patch_size=16,
            tubelet_size=2,
            **ENCODER_PRESETS[cfg.encoder_preset],
        )
    )
    return load_released_encoder(cfg.checkpoint, key=cfg.checkpoint_key, encoder_kwargs=kwargs).eval()


@torch.no_grad()
def encode_frames(
    encoder: VisionTransformer, frames: torch.Tensor, *, batch_frames: int = 32, autocast_bf16: bool = False
) -> torch.Tensor:
    """Per-frame AC encoding of uint8 frames. frames: ``[K, 3, H, W]`` uint8 -> ``[K, N, D]`` float32.

    Frames are moved to the encoder's device, normalised there, and encoded ``batch_frames`` at a time.
    """
    device = next(encoder.parameters()).device
    outs = []
    for chunk in frames.split(batch_frames):
        x = normalize(chunk.to(device, non_blocking=True))  # [k, 3, H, W]
        with torch.autocast(
            device.type, dtype=torch.bfloat16, enabled=autocast_bf16 and device.type == "cuda"
        ):
            z = encode_per_frame(encoder, x.unsqueeze(0).transpose(1, 2))  # [1, k*N, D]
        outs.append(z.float().reshape(len(chunk), -1, z.shape[-1]))  # [k, N, D]
    return torch.cat(outs)

# ----------------------------------------------------------------------------- writing


class _GridFrames(Dataset):
    """Item i: ``(i, frames [K, 3, R, R] uint8 | None, error)`` for episode i (decoded in workers).

    A decode failure is returned, not raised, so one bad video cannot stop (or, on resume,
    re-stop) a long encoding run; ``encode_dataset`` counts and names it."""

    def __init__(self, episodes: Sequence[Episode], cfg: ClipConfig):
        self.episodes, self.cfg = list(episodes), cfg

    def __len__(self) -> int:
        return len(self.episodes)

    def __getitem__(self, i: int) -> tuple[int, torch.Tensor | None, str]:
        ep = self.episodes[i]
        rows, _ = frame_grid(ep.timestamps, ep.container_fps, self.cfg)
        try:
            raw = ep.read_frames(
                rows, max_decode_ahead=self.cfg.max_decode_ahead, threads=self.cfg.decode_threads
            )
        except VideoDecodeError as e:
            return i, None, str(e)
        return i, crop_and_resize(raw, self.cfg.crop, self.cfg.resolution, self.cfg.antialias), ""

def _settings(cfg: EncodeConfig, encoder: VisionTransformer, sha: str, device: torch.device) -> dict:
    n = (cfg.clips.resolution // encoder.cfg.patch_size) ** 2
    autocast = "bfloat16" if cfg.autocast_bf16 and device.type == "cuda" else None
    return {
        "version": CACHE_VERSION,
        "encoder": {
            "checkpoint": cfg.checkpoint,
            "checkpoint_key": cfg.checkpoint_key,
            "config": dataclasses.asdict(encoder.cfg),
            "weights_sha256": sha,
        },
        "crop": cfg.clips.crop,
        "resolution": cfg.clips.resolution,
        "antialias": cfg.clips.antialias,
        "fps": cfg.clips.fps,
        "sampling": cfg.clips.sampling,
        "max_time_error": cfg.clips.max_time_error,
        "dtype": cfg.dtype,
        "storage_dtype": "float16" if cfg.dtype == "float16" else "int16",
        "tokens_per_frame": n,
        "width": encoder.cfg.embed_dim,
        "autocast": autocast,
    }

def encode_dataset(cfg: EncodeConfig, encoder: VisionTransformer | None = None) -> dict:
    """Encode every usable episode of ``cfg.data`` into the cache at ``cfg.output``; resume if it exists.

    ``clips.starts`` is always "grid". ``encoder``: use this frozen encoder instead of loading
    ``cfg.checkpoint``. Returns a summary: episodes encoded / reused / skipped (by the index) /
    decode_failed (named, not cached), frames, bytes per frame and in all, seconds, frames/s.
    """
    if cfg.output is None:
        raise ConfigError("output: give the cache folder")
    if cfg.clips.starts != "grid":
        cfg = dataclasses.replace(cfg, clips=dataclasses.replace(cfg.clips, starts="grid"))
    out = Path(cfg.output)
    (out / EPISODES_DIR).mkdir(parents=True, exist_ok=True)
    remove_stale_temps(out / EPISODES_DIR)  # left by an interrupted run

    index = build_index(cfg.data, cfg.clips)
    index.write_report(out / "index_report.json")
    device = torch.device(
        ("cuda" if torch.cuda.is_available() else "cpu") if cfg.device == "auto" else cfg.device
    )
    encoder = (encoder if encoder is not None else load_cache_encoder(cfg)).eval().to(device)
    settings = _settings(cfg, encoder, weights_sha256(encoder), device)
    manifest_path = out / MANIFEST
    if manifest_path.exists():
        old = json.loads(manifest_path.read_text())
        diff = [k for k in SETTING_KEYS if comparable_setting(k, old.get(k)) != comparable_setting(k, settings[k])]
        if diff:
            raise ConfigError(
                f"{manifest_path}: the cache was made with other settings ({', '.join(diff)}: "
                f"{[old.get(k) for k in diff]} vs {[settings[k] for k in diff]}); "
                "use another output folder"
            )
    write_json(manifest_path, {**settings, "complete": False, "source": index.source, "episodes": []})

    stems = [episode_stem(ep) for ep in index.episodes]
    done = {
        s
        for s in stems
        if (out / EPISODES_DIR / f"{s}.meta.npz").exists() and (out / EPISODES_DIR / f"{s}.npy").exists()
    }
    todo = [i for i, s in enumerate(stems) if s not in done]
    log.info("%s: %d episodes to encode, %d already cached", out, len(todo), len(done))

    from tqdm import tqdm

    loader = DataLoader(
        _GridFrames([index.episodes[i] for i in todo], cfg.clips),
        batch_size=None,
        num_workers=cfg.num_workers,
        pin_memory=device.type == "cuda",
    )
    t0, frames_done, failed = time.perf_counter(), 0, {}
    with tqdm(total=len(todo), unit="episode", desc="encode", disable=None) as bar:
        for j, frames, error in loader:
            i = todo[j]
            ep = index.episodes[i]
            bar.update(1)
            if frames is None:
                failed[i] = error
                log.warning("not cached (decode failed): %s", error)
                continue
            rows, valid = frame_grid(ep.timestamps, ep.container_fps, cfg.clips)
            z = encode_frames(
                encoder, frames, batch_frames=cfg.batch_frames, autocast_bf16=settings["autocast"] is not None
            )  # [K, N, D]
            write_features_file(out / EPISODES_DIR / f"{stems[i]}.npy", to_storage(z.cpu(), cfg.dtype))
            write_episode_meta(out / EPISODES_DIR / f"{stems[i]}.meta.npz", ep, rows, valid)
            frames_done += len(rows)
            bar.set_postfix(frames=frames_done)
    seconds = time.perf_counter() - t0

    episodes = []
    for i, (ep, s) in enumerate(zip(index.episodes, stems)):
        if i in failed:
            continue
        k = len(frame_grid(ep.timestamps, ep.container_fps, cfg.clips)[0])
        episodes.append({"stem": s, "episode_id": ep.episode_id, "camera": ep.camera, "frames": k})
    bytes_per_frame = settings["tokens_per_frame"] * settings["width"] * 2
    summary = {
        "output": str(out),
        "encoded": len(todo) - len(failed),
        "reused": len(done),
        "skipped": len(index.skipped),
        "decode_failed": {index.episodes[i].source: err for i, err in failed.items()},
        "frames_encoded": frames_done,
        "frames_total": int(sum(e["frames"] for e in episodes)),
        "bytes_per_frame": bytes_per_frame,
        "seconds": round(seconds, 3),
        "frames_per_s": round(frames_done / seconds, 2) if seconds > 0 else None,
    }
    summary["bytes_total"] = summary["frames_total"] * bytes_per_frame
    write_json(
        manifest_path,
        {**settings, "complete": True, "source": index.source, "summary": summary, "episodes": episodes},
    )
    return summary
