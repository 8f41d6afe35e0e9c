"""Feature cache: encode every frame a clip can use once, then train from memory-mapped features.

The encoder is frozen and the crop deterministic, so the encoder's output for a frame never
changes. ``encode_dataset`` (``vjepa-ac encode``) runs it over each usable episode at the clip
rate, on the episode's fixed frame grid (``clips.frame_grid``: every ``stride``-th row in
``container_stride`` mode, the rows nearest to ``k / fps`` s in ``timestamps`` mode), and writes::

    <output>/manifest.json              settings (encoder + weights sha256, crop, fps, sampling,
                                        dtype, N, D), the episode list, complete: true|false
    <output>/index_report.json          usable and skipped episodes with reasons
    <output>/episodes/<stem>.npy        [K, N, D] float16 (bfloat16: stored as its int16 bits)
    <output>/episodes/<stem>.meta.npz   rows [K], valid [K], states [K, 7], timestamps [K], ...

Every file is written to a ``.tmp`` name and renamed, the ``.meta.npz`` last, so a killed run
leaves only whole episodes; running again skips them (after checking the settings match).

``FeatureClipDataset`` serves clips of ``T`` consecutive grid frames with the same keys as
``ClipDataset`` but ``z [T, N, D]`` (float32) in place of ``frames``; with ``starts="grid"``
both datasets draw the same windows for the same (seed, epoch, index), so cached training
inputs equal encoding on the fly up to float16 rounding.

This module is the bridge from data to models: the only one in ``vjepa_ac.data`` that imports
the encoder (``vjepa_ac.models.encoder``) and the checkpoint loaders (``vjepa_ac.official``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from vjepa_ac.atomic import atomic_open, atomic_write_json, remove_stale_temps
from vjepa_ac.config import ConfigError, require, require_seed
from vjepa_ac.data.clips import ClipConfig, WindowedEpisodes, epoch_and_index, frame_grid, grid_windows, item_rng
from vjepa_ac.data.episode import Episode
from vjepa_ac.data.index import DataConfig, build_index, validation_ids
from vjepa_ac.data.transforms import crop_and_resize, normalize
from vjepa_ac.data.video import VideoDecodeError
from vjepa_ac.models.encoder import (
    ENCODER_PRESETS,
    EncoderConfig,
    VisionTransformer,
    build_encoder,
    encode_per_frame,
)

log = logging.getLogger(__name__)

CACHE_VERSION = 1
MANIFEST = "manifest.json"
EPISODES_DIR = "episodes"
# manifest keys that define the cached values: a resumed run must match them all
SETTING_KEYS = (
    "version",
    "encoder",
    "crop",
    "resolution",
    "antialias",
    "fps",
    "sampling",
    "max_time_error",
    "dtype",
    "storage_dtype",
    "tokens_per_frame",
    "width",
    "autocast",
)


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


def _stem(ep: Episode) -> str:
    safe = re.sub(r"[^A-Za-z0-9._+-]+", "_", f"{ep.episode_id}__{ep.camera}")[:120]
    return f"{safe}-{hashlib.sha256(ep.key.encode()).hexdigest()[:8]}"


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


def _save_npy(path: Path, array: np.ndarray) -> None:
    with atomic_open(path, "wb") as f:
        np.lib.format.write_array(f, array)


def _save_meta(path: Path, ep: Episode, rows: np.ndarray, valid: np.ndarray) -> None:
    arrays = dict(
        rows=rows,
        valid=valid,
        states=ep.states[rows],
        timestamps=ep.timestamps[rows],
        episode_id=np.array(ep.episode_id),
        camera=np.array(ep.camera),
        source=np.array(ep.source),
        video_path=np.array(str(ep.video_path)),
        container_fps=np.array(ep.container_fps),
    )
    if ep.extrinsics is not None:
        arrays["extrinsics"] = ep.extrinsics[rows]
    with atomic_open(path, "wb") as f:
        np.savez(f, **arrays)


def _write_json(path: Path, obj: dict) -> None:
    atomic_write_json(path, obj)


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


def _comparable(key: str, value):
    """A setting as far as it decides the features: the encoder by its weights and architecture,
    not the path it was read from (a moved or copied work folder keeps its cache)."""
    if key == "encoder" and isinstance(value, dict):
        return {k: value.get(k) for k in ("config", "weights_sha256")}
    return value


def _to_storage(z: torch.Tensor, dtype: str) -> np.ndarray:
    if dtype == "float16":
        return z.to(torch.float16).numpy()
    return z.to(torch.bfloat16).view(torch.int16).numpy()  # numpy has no bfloat16: keep its bits


def _from_storage(a: np.ndarray, dtype: str) -> torch.Tensor:
    t = torch.from_numpy(np.array(a))  # a copy: memory maps are read-only
    return t if dtype == "float16" else t.view(torch.bfloat16)


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
        diff = [k for k in SETTING_KEYS if _comparable(k, old.get(k)) != _comparable(k, settings[k])]
        if diff:
            raise ConfigError(
                f"{manifest_path}: the cache was made with other settings ({', '.join(diff)}: "
                f"{[old.get(k) for k in diff]} vs {[settings[k] for k in diff]}); "
                "use another output folder"
            )
    _write_json(manifest_path, {**settings, "complete": False, "source": index.source, "episodes": []})

    stems = [_stem(ep) for ep in index.episodes]
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
            _save_npy(out / EPISODES_DIR / f"{stems[i]}.npy", _to_storage(z.cpu(), cfg.dtype))
            _save_meta(out / EPISODES_DIR / f"{stems[i]}.meta.npz", ep, rows, valid)
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
    _write_json(
        manifest_path,
        {**settings, "complete": True, "source": index.source, "summary": summary, "episodes": episodes},
    )
    return summary


# ----------------------------------------------------------------------------- reading


@dataclass
class CachedEpisode:
    episode: Episode  # arrays at the grid frames: states [K, 7], timestamps [K], extrinsics [K, 6]
    rows: np.ndarray  # [K] episode rows of the grid frames
    valid: np.ndarray  # [K] bool
    path: Path  # [K, N, D] .npy


class FeatureCache:
    """A finished cache folder: its manifest and episodes (in index order)."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        path = self.root / MANIFEST
        if not path.is_file():
            raise FileNotFoundError(
                f"no feature cache at {self.root} ({MANIFEST} missing); run vjepa-ac encode"
            )
        self.manifest = json.loads(path.read_text())
        if not self.manifest.get("complete"):
            raise ValueError(
                f"{path}: the cache is incomplete (interrupted?); run vjepa-ac encode again to finish it"
            )
        if self.manifest.get("version") != CACHE_VERSION:
            raise ValueError(
                f"{path}: cache version {self.manifest.get('version')}, this code reads {CACHE_VERSION}"
            )
        self.entries = [self._load(e["stem"]) for e in self.manifest["episodes"]]

    def _load(self, stem: str) -> CachedEpisode:
        with np.load(self.root / EPISODES_DIR / f"{stem}.meta.npz") as m:
            ep = Episode(
                episode_id=str(m["episode_id"]),
                camera=str(m["camera"]),
                source=str(m["source"]),
                video_path=Path(str(m["video_path"])),
                states=m["states"],
                timestamps=m["timestamps"],
                container_fps=float(m["container_fps"]),
                extrinsics=m["extrinsics"] if "extrinsics" in m else None,
            )
            return CachedEpisode(ep, m["rows"], m["valid"], self.root / EPISODES_DIR / f"{stem}.npy")

    @property
    def tokens_per_frame(self) -> int:
        return int(self.manifest["tokens_per_frame"])

    @property
    def width(self) -> int:
        return int(self.manifest["width"])

    def split(self, val_fraction: float, seed: int) -> tuple[list[CachedEpisode], list[CachedEpisode]]:
        """(train, val) entries, the same split as ``DatasetIndex.split`` of the source."""
        val_ids = validation_ids({c.episode.episode_id for c in self.entries}, val_fraction, seed)
        return (
            [c for c in self.entries if c.episode.episode_id not in val_ids],
            [c for c in self.entries if c.episode.episode_id in val_ids],
        )

    def features(
        self,
        entry: CachedEpisode,
        positions: np.ndarray | slice = slice(None),
        dtype: torch.dtype | None = torch.float32,
    ) -> torch.Tensor:
        """Grid frames ``positions`` of an episode, ``[len, N, D]`` (read through a memory map).

        dtype: float32 by default; None keeps the stored precision (float16 or bfloat16)."""
        arr = np.load(entry.path, mmap_mode="r")
        z = _from_storage(arr[positions], self.manifest["dtype"])
        return z if dtype is None else z.to(dtype)


class FeatureClipDataset(WindowedEpisodes):
    """Clips of cached features. Items: ``z [T, N, D]`` float32 plus the ``ClipDataset`` keys
    (``states``, ``actions``, ``episode_id``, ``camera``, ``rows``, ``timestamps``, ``extrinsics``).

    ``cfg`` must describe the cached clips: ``starts="grid"`` and the cache's ``fps``, ``sampling``
    and ``max_time_error``; ``frames_per_clip`` is free. ``entries`` (default: all) selects episodes,
    e.g. one side of ``FeatureCache.split``. ``z_dtype=None`` returns ``z`` in the stored precision
    (float16 / bfloat16): half the bytes through DataLoader worker queues; cast on the device.
    """

    def __init__(
        self,
        cache: FeatureCache | str | Path,
        cfg: ClipConfig,
        entries: Sequence[CachedEpisode] | None = None,
        z_dtype: torch.dtype | None = torch.float32,
    ):
        self.cache = cache if isinstance(cache, FeatureCache) else FeatureCache(cache)
        self.z_dtype = z_dtype
        m = self.cache.manifest
        if cfg.starts != "grid":
            raise ConfigError("starts: the feature cache holds the fixed frame grid only; set starts=grid")
        for key in ("fps", "sampling", "max_time_error"):
            if getattr(cfg, key) != m[key]:
                raise ConfigError(
                    f"{key}: {getattr(cfg, key)!r} differs from the cache's {m[key]!r} "
                    f"({self.cache.root}); encode again with these settings"
                )
        self.entries = list(self.cache.entries if entries is None else entries)
        super().__init__([c.episode for c in self.entries], cfg)

    def windows(self, episode_number: int) -> np.ndarray:
        return grid_windows(self.entries[episode_number].valid, self.cfg.frames_per_clip)  # positions [W, T]

    def __getitem__(self, key: int | tuple[int, int]) -> dict:
        epoch, index = epoch_and_index(key, self.epoch)
        e, positions = self.choose(item_rng(self.cfg.seed, epoch, index), index)
        entry = self.entries[e]
        item = self.targets(entry.episode, positions)
        item["rows"] = torch.from_numpy(entry.rows[positions].astype(np.int64))
        item["z"] = self.cache.features(entry, positions, self.z_dtype)  # [T, N, D]
        return item
