"""Planning server under load: concurrent clients on loopback, latency percentiles, throughput.

    python benchmarks/bench_serve.py                                   # tiny and toy, 1/4/8 clients
    python benchmarks/bench_serve.py --models tiny: --clients 4 --duration-s 20 num_samples=800 iterations=10
    python benchmarks/bench_serve.py --models toy: --clients 16 --queue-size 4   # overload: counts 503s

The server runs as ``vjepa-ac serve MODEL`` in a subprocess on a free loopback port (its own
process, as deployed); each client is a thread with its own ``PlanningClient`` (msgpack, raw
images, no retries, so a 503 is counted, never hidden) that registers the goal once, then
plans back to back for ``--duration-s``. ``tiny:`` is the small random-weight encoder +
predictor (64 px), ``toy:`` the analytic toy model (the serving overhead alone). Trailing
``key=value`` are the per-request planner settings (default: 200 samples x 5 iterations).

Prints one JSON line per (model, clients): device name, requests ok / busy (503) / failed (any
other error: must be 0), latency p50 / p99 / max in s (client round trip), throughput (plans/s),
mean plan and queue time on the server, median overhead (round trip - queue - plan: HTTP,
(de)serialisation, image decoding).
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _common import device_name, emit

from vjepa_ac.client import BusyError, PlanningClient

DEFAULT_PLANNER = {"num_samples": 200, "iterations": 5}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(model: str, args: argparse.Namespace) -> tuple[subprocess.Popen, str]:
    port = free_port()
    cmd = [sys.executable, "-m", "vjepa_ac.cli", "serve", "--port", str(port), model,
           f"torch_threads={args.threads}", f"queue_size={args.queue_size}", "device=cpu",
           "max_connections_per_client=null"]  # every client of the bench shares one address
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    end = time.monotonic() + 120
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {proc.stderr.read().decode()[-2000:]}")
        try:
            if PlanningClient(url, timeout=2).health()["status"] == "ok":
                return proc, url
        except httpx.TransportError:  # not listening yet
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("server did not start within 120 s")


def scene(model: str, side: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Camera image, state, goal image, goal state: toy-camera images for toy:, random frames else."""
    start = np.array([0.4, 0.0, 0.3, 0.0, 0.0, 0.0, 0.0])
    goal = start + np.array([0.1, -0.05, 0.05, 0, 0, 0, 0])
    if model.startswith("toy:"):
        from vjepa_ac.plan.toy import ToyWorldModel

        cam = ToyWorldModel()
        return cam.render(torch.tensor(start)).numpy(), start, cam.render(torch.tensor(goal)).numpy(), goal
    rng = np.random.default_rng(0)
    return (rng.integers(0, 256, (side, side, 3), dtype=np.uint8), start,
            rng.integers(0, 256, (side, side, 3), dtype=np.uint8), goal)


def run_load(url: str, model: str, clients: int, args: argparse.Namespace, planner: dict) -> dict:
    image, state, goal_image, _ = scene(model, args.image_side)
    with PlanningClient(url) as c:
        goal_id = c.register_goal(goal_image)
        for _ in range(2):  # warm-up
            c.plan(image, state, goal_id=goal_id, **planner)
    latencies: list[float] = []
    plan_times: list[float] = []
    queue_times: list[float] = []
    overheads: list[float] = []  # round trip - queue - plan: HTTP, (de)serialisation, decoding
    counts = {"ok": 0, "busy": 0, "failed": 0}
    errors: list[str] = []
    lock = threading.Lock()
    stop_at = time.monotonic() + args.duration_s

    def client_loop(i: int) -> None:
        with PlanningClient(url, timeout=args.timeout_s, busy_retries=0) as c:
            k = 0
            while time.monotonic() < stop_at:
                try:
                    r = c.plan(image, state, goal_id=goal_id, seed=i * 100_000 + k, **planner)
                    with lock:
                        counts["ok"] += 1
                        latencies.append(r.round_trip_s)
                        plan_times.append(r.plan_time_s)
                        queue_times.append(r.queue_time_s)
                        overheads.append(r.round_trip_s - r.queue_time_s - r.plan_time_s)
                except BusyError:
                    with lock:
                        counts["busy"] += 1
                    time.sleep(0.05)
                except Exception as e:  # noqa: BLE001  (counted and reported: a dropped request)
                    with lock:
                        counts["failed"] += 1
                        errors.append(f"{type(e).__name__}: {e}"[:200])
                k += 1

    t0 = time.monotonic()
    threads = [threading.Thread(target=client_loop, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - t0
    lat = np.array(latencies) if latencies else np.array([np.nan])
    return {
        "clients": clients, "wall_s": round(wall, 2), "requests_ok": counts["ok"], "busy_503": counts["busy"],
        "failed": counts["failed"], "errors": sorted(set(errors))[:3],
        "latency_p50_s": round(float(np.percentile(lat, 50)), 4),
        "latency_p99_s": round(float(np.percentile(lat, 99)), 4),
        "latency_max_s": round(float(lat.max()), 4), "throughput_plans_per_s": round(counts["ok"] / wall, 3),
        "plan_time_mean_s": round(float(np.mean(plan_times)), 4) if plan_times else None,
        "queue_time_mean_s": round(float(np.mean(queue_times)), 4) if queue_times else None,
        "overhead_p50_s": round(float(np.median(overheads)), 4) if overheads else None,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", default=["tiny:", "toy:"])
    p.add_argument("--clients", type=int, nargs="+", default=[1, 4, 8])
    p.add_argument("--duration-s", type=float, default=10.0, help="load per (model, clients)")
    p.add_argument("--threads", type=int, default=1, help="server torch threads (1: see notes/serve.md)")
    p.add_argument("--queue-size", type=int, default=16, help="server queue (< clients: 503s)")
    p.add_argument("--timeout-s", type=float, default=120.0, help="client HTTP timeout")
    p.add_argument("--image-side", type=int, default=256, help="camera px of the random frames (tiny:)")
    p.add_argument("planner", nargs="*", help="per-request planner settings, key=value")
    args = p.parse_args()
    planner = {k: yaml.safe_load(v) for k, v in (i.split("=", 1) for i in args.planner)}
    planner = planner or dict(DEFAULT_PLANNER)
    cpu = device_name(torch.device("cpu")).rsplit(" x", 1)[0]
    device = f"{cpu}, {os.cpu_count()} cores, server {args.threads} threads"
    for model in args.models:
        proc, url = start_server(model, args)
        try:
            model_id = PlanningClient(url).health()["model_id"]
            for clients in args.clients:
                emit({"bench": "serve", "device": device, "model_id": model_id, "planner": planner,
                      "image_side": args.image_side if not model.startswith("toy:") else 8,
                      "queue_size": args.queue_size, "duration_s": args.duration_s,
                      **run_load(url, model, clients, args, planner)})
        finally:
            proc.terminate()
            proc.wait(30)


if __name__ == "__main__":
    main()
