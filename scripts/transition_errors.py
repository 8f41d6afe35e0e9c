"""A trained predictor's teacher-forcing error per kind of transition, on held-out episodes (issue 17).

Each episode is cut into the training clip length on the 4 fps grid, every frame encoded with the
run's frozen encoder, and each step's prediction (from the real past, as in training) compared
with the next frame's representation: mean |pred - target| over tokens and channels. Steps are
grouped by what the robot did, read from the states: the gripper closing or opening, carrying
(closure between 0.25 and 0.8: fingers stopped on an object) while moving, moving empty, still.
"copy" is the error of predicting no change (the last frame), the floor a useful model beats.

    vjepa-ac sim collect configs/sim_collect.yaml out_dir=/tmp/heldout episodes=16 \\
        'labs=[eval_kitchen,eval_garage]' allow_eval_labs=true sim.ext1_zoom=0.8 sim.tint_jitter=0
    python scripts/transition_errors.py runs/sim /tmp/heldout
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

from vjepa_ac.data.clips import ClipConfig, clip_indices
from vjepa_ac.data.droid import DroidConfig
from vjepa_ac.data.index import DataConfig, build_index
from vjepa_ac.data.poses import states_to_actions
from vjepa_ac.load import load_world_model
from vjepa_ac.train.losses import teacher_forcing

KINDS = ("closing", "opening", "carrying", "moving empty", "still", "other")


def kind(s0: np.ndarray, s1: np.ndarray) -> str:
    """What happened between states ``s0`` and ``s1`` ``[7]``."""
    move, grip, closure = np.linalg.norm(s1[:3] - s0[:3]), s1[6] - s0[6], s0[6]
    if grip > 0.05:
        return "closing"
    if grip < -0.05:
        return "opening"
    if move > 0.015:
        return "carrying" if 0.25 < closure < 0.8 else "moving empty"
    return "still" if move < 0.005 else "other"


@torch.no_grad()
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", help="a run folder, the main job's folder, or any load_world_model spec")
    ap.add_argument("episodes", type=Path, help="a folder of raw DROID episodes (held-out labs)")
    ap.add_argument("--frames", type=int, default=8, help="clip length (the training clips')")
    ap.add_argument("--max-episodes", type=int, default=0, help="use only the first N episodes (0: all)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    loaded = load_world_model(args.model)
    wm = loaded.world_model
    predictor = wm.model.predictor
    clips = ClipConfig(frames_per_clip=args.frames, fps=4.0, sampling="timestamps", starts="grid",
                       crop=wm.crop, resolution=wm.image_size)
    index = build_index(DataConfig(format="droid", droid=DroidConfig(root=args.episodes), val_fraction=0.0), clips)
    errors: dict[tuple[str, str], list[float]] = defaultdict(list)
    copies: dict[tuple[str, str], list[float]] = defaultdict(list)
    episodes = index.episodes[: args.max_episodes or None]
    for ep in episodes:
        lab = ep.episode_id.split("+")[0]  # the sim writer's uuid starts with the lab
        # windows on consecutive grid starts overlap: every (T-1)-th one counts each step once
        for rows in clip_indices(ep.timestamps, ep.container_fps, clips)[:: args.frames - 1]:
            frames = torch.from_numpy(ep.read_frames(rows))  # [T, H, W, 3] uint8
            h = wm.encode(frames)  # [T, N, D] layer-normed
            T, N, D = h.shape
            states = torch.from_numpy(ep.states[rows]).float()  # [T, 7]
            actions = torch.from_numpy(states_to_actions(ep.states[rows])).float()  # [T-1, 7]
            pred, _ = teacher_forcing(predictor, h.reshape(1, T * N, D), actions[None], states[None])
            err = (pred.reshape(T - 1, N, D) - h[1:]).abs().mean(dim=(1, 2))  # [T-1]
            copy = (h[:-1] - h[1:]).abs().mean(dim=(1, 2))  # [T-1]
            for t in range(T - 1):
                k = kind(ep.states[rows[t]], ep.states[rows[t + 1]])
                for key in ((lab, k), ("all", k)):
                    errors[key].append(float(err[t]))
                    copies[key].append(float(copy[t]))
    print(f"{loaded.model_id}: {len(episodes)} episodes from {args.episodes}")
    print("| lab | transition | steps | predictor L1 | copy-last-frame L1 | predictor / copy |")
    print("| --- | --- | --- | --- | --- | --- |")
    for lab in sorted({lab for lab, _ in errors}):
        for k in KINDS:
            if errors[lab, k]:
                e, c = np.mean(errors[lab, k]), np.mean(copies[lab, k])
                print(f"| {lab} | {k} | {len(errors[lab, k])} | {e:.4f} | {c:.4f} | {e / c:.2f} |")


if __name__ == "__main__":
    main()
