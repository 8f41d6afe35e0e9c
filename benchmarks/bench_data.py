"""Data loading speed: raw-video clips/s per worker (PyAV decode + crop to 256 px from 15 Hz MP4s)
in both sampling modes, feature-cache clips/s, and memory per DataLoader worker. Prints one JSON line.

    python benchmarks/bench_data.py --synthetic                 # makes 1280x720 DROID-format episodes
    python benchmarks/bench_data.py --root /data/droid_raw --clips 200
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import device_name, emit, rss_now_mb  # noqa: E402

from vjepa_ac.data.clips import ClipConfig, ClipDataset  # noqa: E402
from vjepa_ac.data.droid import DroidConfig  # noqa: E402
from vjepa_ac.data.features import FeatureCache, FeatureClipDataset  # noqa: E402
from vjepa_ac.data.index import DataConfig, build_index  # noqa: E402
from vjepa_ac.data.synthetic_datasets import make_droid_dataset  # noqa: E402
from vjepa_ac.encode import EncodeConfig, encode_dataset  # noqa: E402
from vjepa_ac.models.encoder import EncoderConfig, build_encoder  # noqa: E402


class WithWorkerMemory(Dataset):
    """Adds the worker's resident memory (MiB) to each item: now, peak, and at its first item."""

    def __init__(self, ds: Dataset):
        self.ds, self.first_rss = ds, None

    def __len__(self) -> int:
        return len(self.ds)

    def __getitem__(self, i):
        if self.first_rss is None:
            self.first_rss = rss_now_mb()
        item = self.ds[i]
        item["_rss_mb"] = rss_now_mb()
        item["_peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        item["_first_mb"] = self.first_rss
        return item


def clips_per_s(ds: Dataset, n: int) -> float:
    ds[0]  # warm up (imports, codec init)
    t = time.perf_counter()
    for i in range(1, n + 1):
        ds[i % len(ds)]
    return n / (time.perf_counter() - t)


def loader_stats(ds: Dataset, n: int, workers: int, batch: int) -> dict:
    loader = DataLoader(
        WithWorkerMemory(ds),
        batch_size=batch,
        num_workers=workers,
        shuffle=False,
        sampler=[i % len(ds) for i in range(n * batch)],
    )
    t, first, rss, peak, grow = None, True, [], [], []
    for b in loader:
        if first:  # start timing after the workers are up
            t, first = time.perf_counter(), False
            continue
        rss.append(float(b["_rss_mb"].max()))
        peak.append(float(b["_peak_mb"].max()))  # noqa: E702
        grow.append(float((b["_rss_mb"] - b["_first_mb"]).max()))
    return {
        "batch": batch,
        "clips_per_s": round((n - 1) * batch / (time.perf_counter() - t), 2),
        "worker_rss_mb": round(max(rss), 1),
        "worker_peak_rss_mb": round(max(peak), 1),
        "worker_rss_growth_mb": round(max(grow), 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument(
        "--synthetic", action="store_true", help="generate 1280x720 episodes (15 Hz rows, 60 fps MP4s)"
    )
    ap.add_argument("--root", type=Path, help="a raw DROID folder to read instead")
    ap.add_argument("--episodes", type=int, default=6)
    ap.add_argument("--seconds", type=float, default=12.0, help="length of each synthetic episode")
    ap.add_argument("--frames", type=int, default=8, help="frames per clip")
    ap.add_argument("--clips", type=int, default=40, help="clips timed per measurement")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--batch", type=int, default=4, help="clips per DataLoader batch")
    ap.add_argument("--feature-width", type=int, default=1408, help="D of the cached features (ViT-g: 1408)")
    args = ap.parse_args()
    if not args.synthetic and args.root is None:
        ap.error("give --synthetic or --root")
    torch.set_num_threads(1)  # one core per worker, as in a DataLoader

    with tempfile.TemporaryDirectory() as tmp:
        root = args.root
        if args.synthetic:
            root = Path(tmp) / "droid"
            t = time.perf_counter()
            make_droid_dataset(
                root,
                args.episodes,
                length=int(args.seconds * 15),
                size=(720, 1280),
                two_cameras=False,
                list_file=None,
            )
            gen_s = time.perf_counter() - t
        data = DataConfig(droid=DroidConfig(root=root))
        result = {
            "bench": "data",
            "device": device_name(torch.device("cpu")),
            "source": "synthetic" if args.synthetic else str(root),
            "frames_per_clip": args.frames,
            "resolution": 256,
        }
        if args.synthetic:
            result["synthetic"] = {
                "episodes": args.episodes,
                "seconds": args.seconds,
                "size": "1280x720",
                "generate_s": round(gen_s, 1),
            }
        for sampling in ("container_stride", "timestamps"):
            cfg = ClipConfig(frames_per_clip=args.frames, fps=4.0, sampling=sampling)
            index = build_index(data, cfg)
            ds = ClipDataset(index.episodes, cfg)
            result[f"raw_{sampling}"] = {
                "clips_per_s_per_worker": round(clips_per_s(ds, args.clips), 2),
                f"loader_{args.workers}_workers": loader_stats(
                    ds, max(2, args.clips // args.batch), args.workers, args.batch
                ),
            }

        # feature cache: features of the right size (N=256 at 256 px, D=feature_width) from a
        # one-layer stand-in encoder (the speed of reading a cache does not depend on the weights)
        enc_cfg = EncoderConfig(
            img_size=256,
            embed_dim=args.feature_width,
            depth=1,
            num_heads=16 if args.feature_width % 16 == 0 else 22,
        )
        encoder = build_encoder(enc_cfg).eval()
        clips = ClipConfig(frames_per_clip=args.frames, fps=4.0, sampling="container_stride", starts="grid")
        cache_dir = Path(tmp) / "cache"
        t = time.perf_counter()
        summary = encode_dataset(
            EncodeConfig(
                output=cache_dir,
                data=data,
                clips=clips,
                checkpoint="random",
                num_workers=min(args.workers, 1),
            ),
            encoder=encoder,
        )
        cache = FeatureCache(cache_dir)
        result["feature_cache"] = {
            "bytes_per_frame": summary["bytes_per_frame"],
            "frames": summary["frames_total"],
            "encode_stub_s": round(time.perf_counter() - t, 1),
            "MB_per_clip": round(args.frames * summary["bytes_per_frame"] / 2**20, 2),
        }
        for name, dtype in (("float32", torch.float32), ("stored_float16", None)):
            fds = FeatureClipDataset(cache, clips, z_dtype=dtype)
            result["feature_cache"][f"z_{name}"] = {
                "clips_per_s_per_worker": round(clips_per_s(fds, args.clips * 5), 2),
                f"loader_{args.workers}_workers": loader_stats(
                    fds, max(2, args.clips * 5 // args.batch), args.workers, args.batch
                ),
            }
    emit(result)


if __name__ == "__main__":
    main()
