"""Fine-tune a main job's predictor on a few scripted episodes of a lab it never saw; Reach there
before vs after (issue 15.2, notes/finetune.md "Fine-tuning to a new lab (sim)").

A separate study: the main job itself never trains on a held-out lab. Steps, each a `vjepa-ac`
command with the main job's own settings (read from RUN/pipeline.yaml and RUN/train/config.yaml),
each skipped or resumed when its output is already there:

1. `sim collect` EPISODES episodes in LAB (or --collect-lab; seed --seed, texture_swap 0: each lab
   keeps its own look); checks that no collected scene seed is one of the evaluation's scene seeds;
2. `encode` them with RUN/encoder.pt (the main job's clips: crop, fps, timestamps sampling);
3. `train` from RUN's predictor (`finetune.init`), STEPS steps (warmup 10 %, anneal the last 20 %);
4. `eval sim` Reach in LAB (--reach-episodes) and in --check-lab (--check-episodes), optionally
   Grasp in LAB (--grasp-episodes), with RUN's predictor (before) and the fine-tuned one (after),
   the main job's planner (CEM 300 x 5, horizon 1), same seeds; prints one table, paired by seed.

    python benchmarks/finetune_new_lab.py /work/scratch/cloneC/runs/sim /work/scratch/ftstudy \\
        --episodes 20 --steps 300 --grasp-episodes 5

Measured (2-core shared CPU, 2026-11-30; the main job of notes/manipulation.md; setting, LoRA,
50 episodes and the control in notes/finetune.md), the command above:

    n20_full_s300: 20 episodes of eval_kitchen (seed 15), 300 steps, peak lr 0.0003; trainable
    1,857,024; step 0.73 s (median); collect 44 s, encode 5 s, train 280 s (wall); held-out
    rollout loss 0.0487 -> 0.0415

    | task  | lab          | before        | after          | gained | lost | before (cm)  | after (cm)   |
    | reach | eval_kitchen | 1/20 [1, 24]  | 11/20 [34, 74] | 10     | 0    | 22.9 ± 12.1  | 11.1 ± 14.1  |
    | reach | eval_garage  | 3/10 [11, 60] | 1/10 [2, 40]   | 0      | 2    | 19.7 ± 13.1  | 35.6 ± 23.2  |
    | grasp | eval_kitchen | 4/10 [17, 69] | 2/10 [6, 51]   | 2      | 4    | 1.9 ± 1.1    | 4.2 ± 3.2    |

(success [Wilson 95 %]; gained / lost: scenes solved only after / only before; final distance
to the goal, or to the expert's grasp point, mean ± sample std.)
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import yaml

from vjepa_ac.sim.collect import CollectConfig, episode_start
from vjepa_ac.sim.evaluate import SimEvalConfig, wilson_interval


def vjepa(*args: str) -> float:
    """Run one `vjepa-ac` command; its wall time in s (raises when it fails)."""
    t0 = time.perf_counter()
    print("+ vjepa-ac", " ".join(args), flush=True)
    subprocess.run([sys.executable, "-m", "vjepa_ac.cli", *args], check=True)
    return time.perf_counter() - t0


def check_scene_seeds(collect: CollectConfig, evals: list[SimEvalConfig]) -> None:
    """Raise when a collected episode's scene seed is one an evaluation resets a scene with."""
    collected = {episode_start(collect, i)[2] for i in range(collect.episodes)}
    evaluated = {e.first_seed(lab) + i for e in evals for lab in e.labs for i in range(e.episodes)}
    if collected & evaluated:
        raise SystemExit(f"collect seed {collect.seed}: scene seeds {sorted(collected & evaluated)} "
                         "are evaluation scenes; choose another --seed")
    print(f"scene seeds: {len(collected)} collected, {len(evaluated)} evaluated, none shared", flush=True)


def episodes_of(results: Path) -> dict[tuple, dict]:
    """The planner's episodes of a results.json by (object, seed): a scene, for pairing."""
    return {(e["object"], e["seed"]): e for e in json.loads(results.read_text())["episodes"]
            if e["policy"] == "planner"}


def rate(eps: list[dict]) -> str:
    k, n = sum(bool(e["success"]) for e in eps), len(eps)
    lo, hi = wilson_interval(k, n)
    return f"{k}/{n} [{100 * lo:.0f}, {100 * hi:.0f}]"


def cm(eps: list[dict]) -> str:
    d = 100 * np.array([e["distance"] for e in eps])
    return f"{d.mean():.1f} ± {d.std(ddof=1):.1f}"  # sample std, as results.md


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run", type=Path, help="a main job's work_dir (pipeline.yaml, encoder.pt, train/)")
    ap.add_argument("out", type=Path, help="scratch folder: <out>/before/, <out>/n<EPISODES>_<variant>/")
    ap.add_argument("--episodes", type=int, default=20, help="fine-tuning episodes collected in --lab")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--lr", type=float, default=3e-4, help="peak lr (the main job's: 2e-3)")
    ap.add_argument("--lora-rank", type=int, default=0, help="0: full fine-tuning")
    ap.add_argument("--lab", default="eval_kitchen")
    ap.add_argument("--check-lab", default="eval_garage")
    ap.add_argument("--collect-lab", default=None,
                    help="lab(s) of the fine-tuning episodes, comma-separated, taking turns (default --lab); "
                    "a training lab alone is the control "
                    "(as much extra training, none of the new lab's look), "
                    "the new lab plus a training lab mixes old data in")
    ap.add_argument("--seed", type=int, default=15, help="collection seed (the main job's is 0)")
    ap.add_argument("--reach-episodes", type=int, default=20)
    ap.add_argument("--check-episodes", type=int, default=10)
    ap.add_argument("--grasp-episodes", type=int, default=0, help="per object (cup, box); 0: no Grasp")
    a = ap.parse_args()
    a.collect_lab = a.collect_lab or a.lab
    labs = tuple(a.collect_lab.split(","))
    run, out = a.run.resolve(), a.out.resolve()
    pipe = yaml.safe_load((run / "pipeline.yaml").read_text())
    tcfg_path = run / "train" / "config.yaml"
    tcfg = yaml.safe_load(tcfg_path.read_text())
    sim = pipe["collect"]["sim"]
    method = f"lora{a.lora_rank}" if a.lora_rank else "full"
    variant = ("" if labs == (a.lab,) else "+".join(labs) + "_") + f"n{a.episodes}_{method}_s{a.steps}"
    work, data = out / variant, out / f"episodes_{'+'.join(labs)}_seed{a.seed}_n{a.episodes}"
    timings_path = work / "timings.json"
    work.mkdir(parents=True, exist_ok=True)
    timings = json.loads(timings_path.read_text()) if timings_path.exists() else {}

    evals = [(a.lab, "reach", a.reach_episodes), (a.check_lab, "reach", a.check_episodes)]
    evals += [(a.lab, "grasp", a.grasp_episodes)] if a.grasp_episodes else []
    collect_over = dict(episodes=a.episodes, labs=labs, allow_eval_labs=True, seed=a.seed,
                        workers=1, progress=False, min_seconds=pipe["collect"]["min_seconds"],
                        max_seconds=pipe["collect"]["max_seconds"])
    sim_over = {f"sim.{k}": sim[k] for k in ("image_size", "ext1_zoom", "tint_jitter", "control_hz")}
    sim_over["sim.texture_swap"] = 0.0  # the new lab keeps its own look
    check_scene_seeds(CollectConfig(**collect_over),
                      [SimEvalConfig(labs=(lab,), episodes=n) for lab, _, n in evals])

    # 1. collect (resumable: finished episodes are skipped)
    over = {**collect_over, **sim_over, "out_dir": data / "episodes", "labs": f"[{','.join(labs)}]"}
    if "collect_s" not in timings:
        timings["collect_s"] = vjepa("sim", "collect", *(f"{k}={v}" for k, v in over.items()))
    # 2. encode with the main job's encoder and clip settings (re-running reuses encoded episodes)
    enc = {"output": str(data / "features"), "checkpoint": str(run / "encoder.pt"),
           "dtype": pipe["encode_dtype"], "batch_frames": pipe["encode_batch_frames"], "num_workers": 1,
           "data": {**tcfg["data"]["dataset"],
                    "droid": {**tcfg["data"]["dataset"]["droid"], "root": str(data / "episodes")}},
           "clips": tcfg["data"]["clips"]}
    (data / "encode.yaml").write_text(yaml.safe_dump(enc))
    if "encode_s" not in timings:
        timings["encode_s"] = vjepa("encode", str(data / "encode.yaml"))
    # 3. fine-tune: the main job's train config with new data, start weights and schedule
    warmup, anneal = max(1, a.steps // 10), a.steps // 5
    train_over = {
        "run_dir": work / "train", "data.dataset.droid.root": data / "episodes",
        "data.feature_cache": data / "features",
        "finetune.init": run / "train", "finetune.lora.rank": a.lora_rank,
        "optim.warmup": warmup, "optim.constant": a.steps - warmup - anneal, "optim.anneal": anneal,
        "optim.start_lr": a.lr / 10, "optim.peak_lr": a.lr, "val_every": max(1, a.steps // 3),
        "ckpt_every": a.steps, "tensorboard": False, "progress_bar": False,
    }
    if "train_s" not in timings:
        timings["train_s"] = vjepa("train", str(tcfg_path), *(f"{k}={v}" for k, v in train_over.items()))
    timings_path.write_text(json.dumps(timings, indent=1))
    # 4. evaluate before / after on the same seeds (each results.json resumes)
    for lab, task, n in evals:
        for model, where in ((run, out / "before"), (work / "train", work / "after")):
            # camera as the main job collected (a fine-tuned run is no main-job folder: no defaults)
            vjepa("eval", "sim", str(model), f"out_dir={where}/{task}_{lab}", f"sim.tasks=[{task}]",
                  f"sim.labs=[{lab}]", f"sim.episodes={n}", f"sim.image_size={sim['image_size']}",
                  f"sim.camera_zoom={sim['ext1_zoom']}", "plan.num_samples=300", "plan.iterations=5",
                  "baseline=false", "sim.video=none", "sim.progress=false")

    with open(work / "train" / "metrics.csv") as f:
        step_s = float(np.median([float(r["step_time"]) for r in csv.DictReader(f)]))
    with open(work / "train" / "val.csv") as f:
        val = list(csv.DictReader(f))
    log = (work / "train" / "train.log").read_text()  # "... predictor N parameters, M trainable"
    trainable = re.search(r"parameters, ([\d,]+) trainable", log)
    tr = trainable[1] if trainable else "?"
    print(f"\n{variant}: {a.episodes} episodes of {a.collect_lab} (seed {a.seed}), {a.steps} steps, "
          f"peak lr {a.lr:g}; trainable {tr}; step {step_s:.2f} s (median); "
          f"collect {timings['collect_s']:.0f} s, encode {timings['encode_s']:.0f} s,"
          f" train {timings['train_s']:.0f} s (wall); held-out rollout "
          f"loss {float(val[0]['rollout']):.4f} -> {float(val[-1]['rollout']):.4f}\n")
    print("| task | lab | before success [95% CI] | after success [95% CI] | gained | lost | "
          "before final dist (cm) | after final dist (cm) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for lab, task, _ in evals:
        before = episodes_of(out / "before" / f"{task}_{lab}" / "results.json")
        after = episodes_of(work / "after" / f"{task}_{lab}" / "results.json")
        seeds = sorted(set(before) & set(after))
        b, f = [before[s] for s in seeds], [after[s] for s in seeds]
        name = (lambda s: s[1]) if task == "reach" else (lambda s: f"{s[0]} {s[1]}")  # reach: no object
        gained = [name(s) for s in seeds if after[s]["success"] and not before[s]["success"]]
        lost = [name(s) for s in seeds if before[s]["success"] and not after[s]["success"]]
        listed = [f"{len(x)}" + (f" ({', '.join(map(str, x))})" if x else "") for x in (gained, lost)]
        print(f"| {task} | {lab} | {rate(b)} | {rate(f)} | {listed[0]} | {listed[1]} | {cm(b)} | {cm(f)} |")


if __name__ == "__main__":
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    main()
