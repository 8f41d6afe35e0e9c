"""Named scene variants ("labs"): textures, lighting, distractors and exterior camera placement.

As in the paper, which trains on DROID and evaluates zero-shot in two labs that are not in it,
data are collected only in the TRAIN labs and tasks are evaluated in the EVAL labs, whose
textures, lights, distractor sets and camera placements appear in no training lab
(``tests/sim/test_labs.py`` checks this).

The PROBE labs are built differently again (textures, light, distractors and camera angles around
the base that no train or eval lab has) and are used for nothing but a final check that a model
and its settings were not tuned to the two eval labs (issue 17).

Coordinates are in the robot base frame (metres): the robot stands at the origin on the table
top (z = 0) facing +x, so its left is +y. DROID calls the exterior camera on the robot's left
(larger y) "left"; ``ext1`` is placed there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

DistractorShape = Literal["bottle", "bowl", "book", "ball", "can", "block"]


@dataclass(frozen=True)
class CameraPlacement:
    """A tripod camera: nominal pose plus the per-episode jitter applied on reset."""

    pos: tuple[float, float, float]  # m
    target: tuple[float, float, float]  # m, point on the optical axis
    fovy: float = 55.0  # deg, vertical field of view
    pos_jitter: float = 0.03  # m, uniform per axis
    target_jitter: float = 0.03  # m, uniform per axis
    fovy_jitter: float = 2.0  # deg, uniform


@dataclass(frozen=True)
class Distractor:
    """A static object placed at random in the lab's distractor region each episode."""

    shape: DistractorShape
    rgba: tuple[float, float, float, float]


@dataclass(frozen=True)
class LabSpec:
    name: str
    split: Literal["train", "eval", "probe"]
    table_texture: str  # robosuite texture name
    floor_texture: str
    wall_texture: str
    wall_rgba: tuple[float, float, float, float] = (1.0, 1.0, 1.0, 1.0)  # tint
    sky: tuple[tuple[float, float, float], tuple[float, float, float]] = ((0.75, 0.78, 0.8), (0.35, 0.37, 0.4))
    light_dir: tuple[float, float, float] = (0.2, 0.3, -1.0)  # direction of the main (shadowing) light
    light_diffuse: tuple[float, float, float] = (0.6, 0.6, 0.6)
    ambient: tuple[float, float, float] = (0.35, 0.35, 0.35)  # headlight ambient
    light_jitter: float = 0.15  # relative, per episode, on direction and intensity
    ext1: CameraPlacement = CameraPlacement((0.85, 0.95, 0.70), (0.42, 0.0, 0.18))
    ext2: CameraPlacement = CameraPlacement((0.85, -0.95, 0.70), (0.42, 0.0, 0.18))
    distractors: tuple[Distractor, ...] = field(default_factory=tuple)


LABS: dict[str, LabSpec] = {
    lab.name: lab
    for lab in (
        LabSpec(
            name="train_office",
            split="train",
            table_texture="light-wood",
            floor_texture="light-gray-floor-tile",
            wall_texture="cream-plaster",
            distractors=(Distractor("bottle", (0.2, 0.5, 0.8, 1)), Distractor("book", (0.7, 0.2, 0.2, 1))),
        ),
        LabSpec(
            name="train_workshop",
            split="train",
            table_texture="gray-woodgrain",
            floor_texture="wood-tiles",
            wall_texture="white-bricks",
            light_dir=(-0.3, 0.2, -1.0),
            light_diffuse=(0.7, 0.62, 0.5),
            ambient=(0.3, 0.28, 0.25),
            ext1=CameraPlacement((0.78, 0.90, 0.65), (0.44, 0.0, 0.16), fovy=57.0),
            distractors=(Distractor("can", (0.8, 0.8, 0.8, 1)), Distractor("block", (0.9, 0.6, 0.1, 1))),
        ),
        LabSpec(
            name="train_lab",
            split="train",
            table_texture="steel-brushed",
            floor_texture="gray-felt",
            wall_texture="light-gray-plaster",
            sky=((0.85, 0.85, 0.9), (0.5, 0.5, 0.55)),
            light_dir=(0.4, -0.3, -1.0),
            light_diffuse=(0.55, 0.58, 0.65),
            ambient=(0.38, 0.38, 0.42),
            ext1=CameraPlacement((0.92, 1.00, 0.80), (0.40, 0.0, 0.15), fovy=52.0),
            distractors=(
                Distractor("bowl", (0.95, 0.95, 0.9, 1)),
                Distractor("bottle", (0.3, 0.7, 0.3, 1)),
                Distractor("ball", (0.9, 0.3, 0.6, 1)),
            ),
        ),
        LabSpec(
            name="train_studio",
            split="train",
            table_texture="wood-varnished-panels",
            floor_texture="red-wood",
            wall_texture="pink-plaster",
            light_dir=(0.1, 0.5, -1.0),
            light_diffuse=(0.65, 0.6, 0.6),
            ambient=(0.33, 0.32, 0.32),
            ext1=CameraPlacement((0.88, 0.88, 0.70), (0.45, 0.02, 0.18), fovy=56.0),
            distractors=(Distractor("book", (0.2, 0.3, 0.6, 1)),),
        ),
        # held out: never used for training data
        LabSpec(
            name="eval_kitchen",
            split="eval",
            table_texture="dark-wood",
            floor_texture="dirt",
            wall_texture="yellow-plaster",
            sky=((0.8, 0.75, 0.65), (0.4, 0.35, 0.3)),
            light_dir=(-0.2, -0.4, -1.0),
            light_diffuse=(0.7, 0.65, 0.55),
            ambient=(0.32, 0.3, 0.28),
            ext1=CameraPlacement((0.80, 0.98, 0.75), (0.42, 0.0, 0.16), fovy=54.0, pos_jitter=0.0,
                                 target_jitter=0.0, fovy_jitter=0.0),
            distractors=(Distractor("can", (0.85, 0.2, 0.15, 1)), Distractor("bowl", (0.3, 0.45, 0.7, 1))),
        ),
        LabSpec(
            name="eval_garage",
            split="eval",
            table_texture="blue-wood",
            floor_texture="steel-scratched",
            wall_texture="gray-plaster",
            wall_rgba=(0.85, 0.9, 0.95, 1.0),
            sky=((0.7, 0.75, 0.85), (0.3, 0.32, 0.4)),
            light_dir=(0.3, 0.1, -1.0),
            light_diffuse=(0.5, 0.55, 0.65),
            ambient=(0.4, 0.4, 0.45),
            ext1=CameraPlacement((0.90, 0.92, 0.66), (0.41, -0.02, 0.19), fovy=56.0, pos_jitter=0.0,
                                 target_jitter=0.0, fovy_jitter=0.0),
            distractors=(Distractor("ball", (0.95, 0.85, 0.2, 1)), Distractor("block", (0.3, 0.6, 0.6, 1))),
        ),
        # probes: camera ~10 degrees further round to the front and higher / ~15 degrees further
        # to the side and lower than any other lab's (azimuth about the workspace ~55 and ~80 deg)
        LabSpec(
            name="probe_attic",
            split="probe",
            table_texture="green-wood",
            floor_texture="clay",
            wall_texture="white-plaster",
            sky=((0.9, 0.85, 0.8), (0.45, 0.4, 0.35)),
            light_dir=(0.5, 0.4, -1.0),
            light_diffuse=(0.75, 0.68, 0.55),
            ambient=(0.28, 0.27, 0.25),
            ext1=CameraPlacement((1.00, 0.85, 0.85), (0.43, 0.0, 0.15), fovy=52.0, pos_jitter=0.0,
                                 target_jitter=0.0, fovy_jitter=0.0),
            distractors=(Distractor("bottle", (0.9, 0.9, 0.3, 1)), Distractor("block", (0.5, 0.2, 0.7, 1))),
        ),
        LabSpec(
            name="probe_loft",
            split="probe",
            table_texture="ceramic",
            floor_texture="metal",
            wall_texture="brass-ambra",
            sky=((0.65, 0.7, 0.75), (0.25, 0.27, 0.3)),
            light_dir=(-0.4, 0.3, -1.0),
            light_diffuse=(0.5, 0.5, 0.5),
            ambient=(0.42, 0.42, 0.42),
            ext1=CameraPlacement((0.62, 1.05, 0.62), (0.42, 0.02, 0.17), fovy=56.0, pos_jitter=0.0,
                                 target_jitter=0.0, fovy_jitter=0.0),
            distractors=(Distractor("book", (0.9, 0.5, 0.1, 1)), Distractor("can", (0.2, 0.8, 0.4, 1))),
        ),
    )
}

TRAIN_LABS: tuple[str, ...] = tuple(n for n, lab in LABS.items() if lab.split == "train")
EVAL_LABS: tuple[str, ...] = tuple(n for n, lab in LABS.items() if lab.split == "eval")
PROBE_LABS: tuple[str, ...] = tuple(n for n, lab in LABS.items() if lab.split == "probe")
HELD_OUT_LABS: tuple[str, ...] = EVAL_LABS + PROBE_LABS  # never in training data

# Textures that ``SimConfig.texture_swap`` may put on a training episode's table, floor or walls
# (domain randomisation, Tobin et al. 2017): every training lab's, plus three robosuite textures
# no lab uses (product-label textures with logos and text are left out). Never a held-out lab's
# (tests/sim/test_labs.py checks it), so the held-out labs stay unseen.
RANDOMIZATION_TEXTURES: tuple[str, ...] = tuple(sorted(
    {t for n in TRAIN_LABS for t in (LABS[n].table_texture, LABS[n].floor_texture, LABS[n].wall_texture)}
    | {"bread", "glass", "lemon"}
))


@dataclass(frozen=True)
class ProceduralTexture:
    """A MuJoCo builtin 2D texture (no file): a pattern in two colours."""

    builtin: Literal["checker", "gradient", "flat"]
    rgb1: tuple[float, float, float]
    rgb2: tuple[float, float, float]
    mark: Literal["none", "random"] = "none"  # "random": speckles of ``markrgb`` over ``random`` of the pixels
    markrgb: tuple[float, float, float] = (0.0, 0.0, 0.0)
    random: float = 0.0


def _procedural_textures(n: int = 24, seed: int = 17) -> dict[str, ProceduralTexture]:
    """``n`` textures of random colours and patterns (checkers, gradients, speckled flats), fixed by
    ``seed``: colours drawn uniformly over the RGB cube, so no lab's look is aimed at."""
    rng = np.random.default_rng(seed)
    rgb = lambda: tuple(round(float(v), 3) for v in rng.uniform(0.0, 1.0, 3))
    out = {}
    for i in range(n):
        kind = ("checker", "gradient", "flat")[i % 3]
        c1, c2, c3 = rgb(), rgb(), rgb()
        if kind == "flat":  # speckle density drawn for flats only (the pool the main job was measured with)
            speckles = round(float(rng.uniform(0.05, 0.3)), 3)
            out[f"proc-{i:02d}"] = ProceduralTexture(kind, c1, c2, "random", c3, speckles)
        else:
            out[f"proc-{i:02d}"] = ProceduralTexture(kind, c1, c2)
    return out


# Procedural textures that ``SimConfig.procedural_textures`` adds to the swap pool: robosuite has no
# more textures that no lab uses, and the kitchen's Reach failures follow its textures (issue 17).
PROCEDURAL_TEXTURES: dict[str, ProceduralTexture] = _procedural_textures()


def get_lab(name: str) -> LabSpec:
    if name not in LABS:
        raise KeyError(f"unknown lab {name!r}; known labs: train {list(TRAIN_LABS)}, eval {list(EVAL_LABS)}, "
                       f"probe {list(PROBE_LABS)}")
    return LABS[name]
