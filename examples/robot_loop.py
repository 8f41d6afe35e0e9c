"""A robot's control loop driven only through the planning server's client.

Start a server, then run episodes of a simulated task against it:

    vjepa-ac serve /path/vjepa2-ac-vitg.pt &                       # or: vjepa-ac serve tiny:
    python examples/robot_loop.py --url http://127.0.0.1:8765 --task reach --episodes 3 num_samples=400

or let the script serve a model itself on a free loopback port (same code path, over HTTP):

    python examples/robot_loop.py --serve toy: --task toy_reach --episodes 5 num_samples=200 iterations=5

Each step: observe (camera image + 7-D state) -> ``client.plan`` -> execute the first action ->
replan. Sim tasks (reach, grasp, reach_with_object, pick_and_place) need ``vjepa_ac.sim`` and
the [sim] extra; ``toy_reach`` needs nothing (serve it with ``toy:``). Trailing ``key=value``
arguments are per-request planner settings (CEMConfig / MPPIConfig fields, method, preset).
Prints one JSON line per episode and a summary line.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path

import numpy as np
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from vjepa_ac.client import PlanningClient, read_token
from vjepa_ac.serve.loop import ToyReachTask, run_episode

SIM_TASKS = ("reach", "grasp", "reach_with_object", "pick_and_place")


def make_task(name: str, lab: str | None, image_size: int):
    if name == "toy_reach":
        return ToyReachTask()
    from vjepa_ac.sim.tasks import make_task as make_sim_task

    return make_sim_task(name, image_size=image_size, **({"lab": lab} if lab else {}))


@contextlib.contextmanager
def server_url(args: argparse.Namespace):
    if args.url:
        yield args.url
        return
    from vjepa_ac.serve.app import create_app
    from vjepa_ac.serve.config import ServeConfig
    from vjepa_ac.serve.model import load_service_model
    from vjepa_ac.serve.server import BackgroundServer
    from vjepa_ac.serve.service import PlanningService

    cfg = ServeConfig(port=0)
    model = load_service_model(args.serve, cfg.device)
    with BackgroundServer(create_app(PlanningService(model, cfg))) as url:
        yield url


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--url", default=None, help="a running server (default: serve --serve in-process)")
    p.add_argument("--serve", default="toy:", help="CHECKPOINT to serve in-process when --url is not given")
    p.add_argument("--task", default="toy_reach", choices=("toy_reach",) + SIM_TASKS)
    p.add_argument("--lab", default=None, help="sim lab (default: the sim's first evaluation lab)")
    p.add_argument("--image-size", type=int, default=128, help="sim camera px")
    p.add_argument("--episodes", type=int, default=3)
    p.add_argument("--seed", type=int, default=0, help="seed of the first episode (then +1000 each)")
    p.add_argument("--max-steps", type=int, default=None, help="actions per episode (default: the task's)")
    p.add_argument("--token-file", default=None, help="bearer token of a --url server that needs one")
    p.add_argument("--wire", default="msgpack", choices=("msgpack", "json"))
    p.add_argument("--image-encoding", default="raw", choices=("raw", "png", "jpeg"))
    p.add_argument("planner", nargs="*", help="per-request planner settings, key=value")
    args = p.parse_args(argv)
    planner = {k: yaml.safe_load(v) for k, v in (item.split("=", 1) for item in args.planner)}

    task = make_task(args.task, args.lab, args.image_size)
    successes = []
    with (server_url(args) as url,
          PlanningClient(url, wire=args.wire, image_encoding=args.image_encoding,
                         token=read_token(args.token_file) if args.token_file else None) as client):
        meta = client.metadata()
        for e in range(args.episodes):
            seed = args.seed + 1000 * e
            r = run_episode(client, task, seed=seed, max_steps=args.max_steps, **planner)
            successes.append(r.success)
            print(json.dumps({"episode": e, "seed": seed, "success": r.success, "steps": r.steps,
                              "distance_m": r.distance, "final_energy": float(r.energies[-1]),
                              "round_trip_s_mean": float(r.round_trip_s.mean()),
                              "plan_time_s_mean": float(r.plan_time_s.mean())}))
    print(json.dumps({"task": args.task, "model_id": meta["model_id"], "episodes": args.episodes,
                      "success_rate": float(np.mean(successes)), "planner": planner}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
