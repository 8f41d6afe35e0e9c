"""Task sanity figures: success of the scripted expert (exact and with noisy translations) and of
random actions, per task and object, in the evaluation labs. Prints one JSON line.

    python benchmarks/bench_sim_tasks.py --seeds 20
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit

from vjepa_ac.sim import policies as P
from vjepa_ac.sim.labs import EVAL_LABS
from vjepa_ac.sim.tasks import TASKS, make_task


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seeds", type=int, default=20, help="episodes per task, object and lab")
    ap.add_argument("--objects", nargs="+", default=["cup", "box", "cube"])
    ap.add_argument("--image-size", type=int, default=64)
    ap.add_argument("--noise", type=float, default=0.005, help="m, translation noise of the noisy expert")
    args = ap.parse_args()
    rows, t0 = [], time.perf_counter()
    for name in TASKS:
        for obj in args.objects:
            expert, noisy, rand, dist, tries = [], [], [], [], []
            for lab in EVAL_LABS:
                with make_task(name, lab=lab, image_size=args.image_size, object=obj) as task:
                    rng = np.random.default_rng(0)
                    for seed in range(args.seeds):
                        task.reset(seed)
                        tries.append(task.scene_tries)
                        r = task.rollout(task.expert_policy(), seed)
                        expert.append(r["success"])
                        dist.append(r["distance"])
                        noisy.append(task.rollout(task.expert_policy(noise=args.noise), seed)["success"])
                        rand.append(task.rollout(lambda o, g, rng=rng: P.random_action(rng), seed)["success"])
            rows.append({
                "task": name, "object": obj, "episodes": len(expert),
                # scenes where the expert failed while making the goal images are re-sampled:
                # expert_first_try is its success over every scene it was tried on
                "expert_first_try": len(tries) / sum(tries),
                "expert": float(np.mean(expert)),
                "noisy_expert": float(np.mean(noisy)),
                "random": float(np.mean(rand)),
                "expert_final_distance_m": round(float(np.mean(dist)), 4),
            })
    emit({"bench": "sim_tasks", "labs": list(EVAL_LABS), "image_size": args.image_size, "noise_m": args.noise,
          "wall_s": round(time.perf_counter() - t0, 1), "results": rows})


if __name__ == "__main__":
    main()
