"""Energy of real encoded frames to a grasp goal image along the scripted expert's path (issue 17).

What a perfect predictor would hand the planner: the scripted expert's frames and "trap" states
are rendered in the held-out labs, encoded with the frozen encoder, and their L1 energy to the
goal image printed (notes/manipulation.md, step 1).

    python scripts/manipulation_energy.py --definition lifted     # arm at home, goal lifted 12 cm
    python scripts/manipulation_energy.py --definition grasp --zoom 0.8 --size 128

``lifted``: the Grasp task before 2026-11-30 (start at home, goal: grasped and lifted 12 cm);
trap = hover at the goal's end-effector position with the object left on the table.
``grasp``: the Grasp task as it is (start 6 cm above, goal: closed on the object at rest);
trap = close the gripper without descending.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from vjepa_ac.encode import encode_frames
from vjepa_ac.data.transforms import crop_and_resize
from vjepa_ac.models.predictor import normalize_reps
from vjepa_ac.official import load_released_encoder
from vjepa_ac.pipeline import SHIPPED_ENCODERS
from vjepa_ac.sim import policies as P
from vjepa_ac.sim.labs import EVAL_LABS
from vjepa_ac.sim.scene import OBJECTS
from vjepa_ac.sim.tasks import make_task


def energies(encoder, frames: list[np.ndarray], goal: np.ndarray, size: int) -> np.ndarray:
    """L1 energy ``[len(frames)]`` of each frame's representation to the goal's."""
    x = crop_and_resize(torch.as_tensor(np.stack([*frames, goal])), crop="square", size=size)
    z = normalize_reps(encode_frames(encoder, x))  # [K+1, N, D]
    return (z[:-1] - z[-1:]).abs().mean(dim=(1, 2)).numpy()


def lifted_paths(task, seed: int) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray]:
    """Expert path, traps and goal of the old definition (start at home, lift 12 cm)."""
    sim, name = task.sim, task.cfg.object
    rng = np.random.default_rng(seed)
    layout = sim.sample_layout(rng, objects=(name,), positions={name: tuple(rng.uniform([0.4, -0.15], [0.6, 0.15]))})
    frames = [sim.reset(layout=layout).image]
    P.run(P.grasp(sim, rng, P.Style(), name, lift_to=OBJECTS[name].half_height + 0.12), sim,
          on_step=lambda obs: frames.append(obs.image))
    goal, goal_pos = frames[-1], sim.ee_pose()[0]
    traps = []
    for gripper in (0.0, 1.0):
        sim.reset(layout=layout, render=False)
        P.run(P.move_to(sim, rng, P.Style(), lambda: goal_pos, lambda: P.current_yaw(sim), gripper, 12), sim,
              render=False)
        traps.append(sim.render())
    return frames[:-1], traps, goal


def grasp_paths(task, seed: int) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray]:
    """Expert path, trap and goal of the Grasp task as defined now."""
    obs = task.reset(seed)
    goal, policy, frames = task.goal_image, task.expert_policy(), [obs.image]
    for _ in range(5):
        frames.append(task.step(policy(obs, goal)).image)
    task._start(render=False)
    P.run(P.hold(task.sim, np.random.default_rng(0), P.Style(), 1.0, 3), task.sim, render=False)
    return frames, [task.sim.render()], goal


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--definition", choices=("lifted", "grasp"), default="grasp")
    ap.add_argument("--object", default="cup", choices=sorted(OBJECTS))
    ap.add_argument("--zoom", type=float, default=1.0, help="SimConfig.ext1_zoom")
    ap.add_argument("--size", type=int, default=64, help="encoder input, px (the 64 px encoder's weights)")
    ap.add_argument("--scenes", type=int, default=3, help="per held-out lab")
    args = ap.parse_args()
    torch.set_num_threads(1)
    encoder = load_released_encoder(SHIPPED_ENCODERS["sim_vjepa_64"]).eval()
    paths = lifted_paths if args.definition == "lifted" else grasp_paths
    for lab in EVAL_LABS:
        with make_task("grasp", lab=lab, image_size=128, object=args.object, ext1_zoom=args.zoom) as task:
            for seed in range(args.scenes):
                frames, traps, goal = paths(task, seed)
                e = energies(encoder, frames + traps, goal, args.size)
                path, trap = e[: len(frames)], e[len(frames):]
                print(f"{lab} scene {seed}: path " + " ".join(f"{v:.3f}" for v in path)
                      + " | traps " + " ".join(f"{v:.3f}" for v in trap), flush=True)


if __name__ == "__main__":
    main()
