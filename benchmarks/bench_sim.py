"""Simulated data collection speed: episodes per minute per core at 128 and 256 px, with 1 and 2
worker processes, through the real collector (physics, IK, rendering, H.264 + H5 writing).
Prints one JSON line.

    python benchmarks/bench_sim.py                      # 128 and 256 px, 1 and 2 workers
    python benchmarks/bench_sim.py --sizes 128 --workers 2 --episodes 16

Each configuration writes ``--episodes`` episodes per worker of ``--seconds`` s (4 Hz) into a
temporary folder; the figures include worker start-up and model builds, as a real run does.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import device_name, emit

from vjepa_ac.sim.collect import CollectConfig, collect
from vjepa_ac.sim.env import SimConfig


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", type=int, nargs="+", default=[128, 256])
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--episodes", type=int, default=8, help="episodes per worker")
    ap.add_argument("--seconds", type=float, default=15.0, help="episode length (s)")
    ap.add_argument("--no-shadows", action="store_true")
    args = ap.parse_args()

    import os

    import mujoco
    import torch

    results = []
    for size in args.sizes:
        for workers in args.workers:
            with tempfile.TemporaryDirectory() as out:
                cfg = CollectConfig(
                    out_dir=out, episodes=args.episodes * workers, workers=workers, progress=False,
                    min_seconds=args.seconds, max_seconds=args.seconds,
                    sim=SimConfig(image_size=size, shadows=not args.no_shadows),
                )
                s = collect(cfg)
                disk = sum(p.stat().st_size for p in Path(out).rglob("*") if p.is_file())
            results.append({
                "image_size": size,
                "workers": workers,
                "episodes": s["new_episodes"],
                "wall_s": round(s["wall_seconds"], 2),
                "episodes_per_min": round(s["episodes_per_minute"], 2),
                "episodes_per_min_per_core": round(s["episodes_per_minute_per_worker"], 2),
                "s_per_episode_per_core": round(60.0 / s["episodes_per_minute_per_worker"], 3),
                "kb_per_episode": round(disk / 1024 / max(1, s["new_episodes"]), 1),
                "errors": s["errors"],
            })
    emit({
        "bench": "sim_collect",
        "device": f"{device_name(torch.device('cpu'))}, {os.cpu_count()} cores",
        "mujoco": mujoco.__version__,
        "gl": os.environ.get("MUJOCO_GL"),
        "episode_seconds": args.seconds,
        "control_hz": 4.0,
        "shadows": not args.no_shadows,
        "results": results,
    })


if __name__ == "__main__":
    main()
