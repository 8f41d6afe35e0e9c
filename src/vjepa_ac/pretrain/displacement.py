"""Frames whose only difference is a known end-effector displacement, rendered in the simulator.

Per scene (``FrankaSim.reset(seed)`` in a lab): move the end effector to a random reference
point above the objects, render it, then move it to points at known distances in random
directions and render each; objects, camera and light stay as they are. The measured positions
give the true displacements. ``probe.displacement_metrics`` scores an encoder on the result.
Needs the ``[sim]`` extra.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vjepa_ac.sim.env import FrankaSim, SimConfig

# box the end effector stays in (m): above the table objects, inside the camera views
SAFE_LOW = np.array([0.32, -0.25, 0.16])
SAFE_HIGH = np.array([0.68, 0.25, 0.42])
DISTANCES_CM = (1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 15.0, 20.0)


@dataclass
class DisplacementSet:
    ref_images: np.ndarray  # [S, H, W, 3] uint8
    images: np.ndarray  # [S, K, H, W, 3] uint8
    ref_pos: np.ndarray  # [S, 3] m, measured
    pos: np.ndarray  # [S, K, 3] m, measured
    lab: np.ndarray  # [S] str

    @property
    def disp_cm(self) -> np.ndarray:
        """[S, K] measured end-effector displacement from the reference, cm."""
        return np.linalg.norm(self.pos - self.ref_pos[:, None], axis=-1) * 100.0

    def save(self, path) -> None:
        np.savez_compressed(path, ref_images=self.ref_images, images=self.images, ref_pos=self.ref_pos,
                            pos=self.pos, lab=self.lab)

    @classmethod
    def load(cls, path) -> DisplacementSet:
        z = np.load(path, allow_pickle=False)
        return cls(z["ref_images"], z["images"], z["ref_pos"], z["pos"], z["lab"])


def move_to(sim: FrankaSim, target: np.ndarray, max_steps: int = 12, still: float = 3e-4) -> np.ndarray:
    """Command the end effector to ``target`` (m, pure translation: each action moves the
    commanded point by ``target - commanded``), then hold until it moves less than ``still`` m
    per step. Returns the measured position."""
    prev = sim.ee_pose()[0]
    for _ in range(max_steps):
        cmd = sim.commanded_pose()[0]
        sim.step(np.concatenate([target - cmd, np.zeros(4)]), render=False)
        now = sim.ee_pose()[0]
        if np.linalg.norm(target - sim.commanded_pose()[0]) < 1e-4 and np.linalg.norm(now - prev) < still:
            break
        prev = now
    return sim.ee_pose()[0]


def collect_displacements(labs: tuple[str, ...], scenes_per_lab: int, seed: int = 0, image_size: int = 128,
                          distances_cm: tuple[float, ...] = DISTANCES_CM, repeats: int = 2) -> DisplacementSet:
    """``repeats`` random directions per distance, per scene."""
    ref_images, images, ref_pos, pos, lab_names = [], [], [], [], []
    for li, lab in enumerate(labs):
        sim = FrankaSim(SimConfig(lab=lab, image_size=image_size))
        try:
            for s in range(scenes_per_lab):
                rng = np.random.default_rng([seed, li, s])
                sim.reset(seed=int(rng.integers(1 << 31)), render=False)
                p0 = move_to(sim, rng.uniform(SAFE_LOW, SAFE_HIGH))
                ref_images.append(sim.render())
                ref_pos.append(p0)
                imgs, ps = [], []
                for d in np.repeat(np.asarray(distances_cm), repeats):
                    u = rng.normal(size=3)
                    target = np.clip(p0 + d / 100.0 * u / np.linalg.norm(u), SAFE_LOW, SAFE_HIGH)
                    ps.append(move_to(sim, target))
                    imgs.append(sim.render())
                images.append(np.stack(imgs))
                pos.append(np.stack(ps))
                lab_names.append(lab)
        finally:
            sim.close()
    return DisplacementSet(np.stack(ref_images), np.stack(images), np.stack(ref_pos), np.stack(pos),
                           np.array(lab_names))
