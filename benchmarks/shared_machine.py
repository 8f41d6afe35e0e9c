"""A main-job stage alone and beside one busy single-threaded process: the slowdown per thread setting.

    python benchmarks/shared_machine.py                          # train stage, 1 and 2 threads, both policies
    python benchmarks/shared_machine.py --stage plan --threads 2 --policies PASSIVE

Each case runs in a fresh process (the OpenMP wait policy is read once, when torch starts):
``--threads`` torch intra-op threads x ``--policies`` (``PASSIVE``: waiting OpenMP threads sleep, the
default of ``vjepa-ac`` and of the tests; ``unset``: libgomp's default, which spins first), each
timed twice: alone, then with a busy single-threaded process running (a pure-Python spin loop that
holds one core, started by this script and stopped after). The figure is ``slowdown`` = s/step
beside / s/step alone (wall clock); ``vs_1_thread`` compares with the 1-thread case of the same
policy and condition. Prints one JSON line per case and one summary line.

Stages (the main job's shapes, ``vjepa_ac.pipeline.PipelineConfig`` defaults, random weights and
synthetic inputs, so no run folder is needed):
- ``train``: ``train.step.train_step`` (teacher forcing + 2-step rollout, backward, clipping,
  AdamW) on 32 clips of 8 frames of 4 x 4 tokens of width 192, the main job's predictor.
- ``plan``: one CEM plan of the eval stage (``paper`` preset, 300 samples x 5 iterations, H = 1).

The machine must be otherwise quiet for the figures to mean anything: the load average before the
run is printed (``load_avg``); on a machine with other work the "alone" case is not alone.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPIN = "while True:\n    pass\n"


def worker(stage: str, threads: int, steps: int) -> dict:
    """Run ``steps`` timed repetitions of ``stage`` in this process (after one warm-up)."""
    sys.path.insert(0, str(ROOT / "src"))
    import torch

    from vjepa_ac.pipeline import PipelineConfig

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    cfg = PipelineConfig().train
    p = cfg.model.predictor
    from vjepa_ac.models.predictor import ACPredictor

    predictor = ACPredictor(p)
    if stage == "train":
        from vjepa_ac.train.optim import build_optimizer
        from vjepa_ac.train.step import WorldModelObjective, train_step

        B, T = cfg.batch_size, cfg.data.clips.frames_per_clip
        g = torch.Generator().manual_seed(0)
        batch = {"z": torch.randn(B, T, p.tokens_per_frame, p.embed_dim, generator=g),
                 "states": torch.randn(B, T, 7, generator=g), "actions": 0.05 * torch.randn(B, T - 1, 7, generator=g)}
        objective = WorldModelObjective(predictor, cfg.rollout_steps)
        optimizer = build_optimizer(predictor, cfg.optim)
        step = [0]

        def run():
            train_step(objective, [batch], optimizer, step=step[0], optim=cfg.optim, encoder=None,
                       device=torch.device("cpu"))
            step[0] += 1
    else:
        from vjepa_ac.models.predictor import normalize_reps
        from vjepa_ac.plan.cem import cem
        from vjepa_ac.plan.config import PlannerSpec
        from vjepa_ac.plan.interface import Context
        from vjepa_ac.plan.world_model import LatentWorldModel

        ev = PipelineConfig().eval
        plan_cfg = PlannerSpec(ev.planner, ev.planner_config, ev.plan).resolve()
        wm = LatentWorldModel(None, predictor.eval(), device="cpu")
        z0, goal = normalize_reps(torch.randn(2, p.tokens_per_frame, p.embed_dim))
        context = Context.single(z0, torch.tensor([0.5, 0.0, 0.3, 3.1, 0.0, 0.0, 0.0]))

        def run():
            cem(wm, context, goal, plan_cfg, torch.Generator().manual_seed(0))

    run()
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        run()
        times.append(time.perf_counter() - t)
    return dict(s_per_step=statistics.median(times), threads=torch.get_num_threads())


def run_case(stage: str, threads: int, policy: str, steps: int, busy: bool) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS")}
    if policy != "unset":
        env["OMP_WAIT_POLICY"] = policy
    spinner = subprocess.Popen([sys.executable, "-c", SPIN]) if busy else None
    try:
        if spinner is not None:
            time.sleep(0.5)  # let it take its core
        out = subprocess.run([sys.executable, __file__, "--worker", stage, str(threads), str(steps)], env=env,
                             capture_output=True, text=True, check=True).stdout
    finally:
        if spinner is not None:
            spinner.kill()
            spinner.wait()
    return json.loads(out.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    if argv is None and len(sys.argv) > 1 and sys.argv[1] == "--worker":
        print(json.dumps(worker(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))))
        return 0
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--stage", choices=["train", "plan"], default="train")
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--policies", nargs="+", choices=["PASSIVE", "ACTIVE", "unset"], default=["PASSIVE", "unset"])
    p.add_argument("--steps", type=int, default=5, help="timed steps per case (median), after one warm-up")
    args = p.parse_args(argv)
    load = os.getloadavg()[0]
    rows = []
    for policy in args.policies:
        for threads in args.threads:
            alone = run_case(args.stage, threads, policy, args.steps, busy=False)["s_per_step"]
            beside = run_case(args.stage, threads, policy, args.steps, busy=True)["s_per_step"]
            row = dict(bench="shared_machine", stage=args.stage, policy=policy, threads=threads,
                       alone_s=round(alone, 4), beside_busy_s=round(beside, 4), slowdown=round(beside / alone, 2))
            rows.append(row)
            print(json.dumps(row), flush=True)
    for row in rows:  # relative to 1 thread under the same policy
        one = next((r for r in rows if r["policy"] == row["policy"] and r["threads"] == 1), None)
        if one is not None:
            row["alone_vs_1_thread"] = round(row["alone_s"] / one["alone_s"], 2)
            row["beside_vs_1_thread"] = round(row["beside_busy_s"] / one["beside_busy_s"], 2)
    print(json.dumps(dict(bench="shared_machine_summary", stage=args.stage, cpus=os.cpu_count(),
                          load_avg_before=round(load, 2), load_avg_after=round(os.getloadavg()[0], 2),
                          cases=rows)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
