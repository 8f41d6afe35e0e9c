"""Planner configs: ``CEMConfig``, ``MPPIConfig``, ``NeverGradConfig``, ``GradientConfig`` (all
sharing ``SearchConfig``: search space, bounds, energy) and ``MPCConfig``, and ``PlannerSpec``,
the one way a user chooses a planner.

Defaults are the paper's CEM (V-JEPA 2 section 4): 800 samples, 10 iterations, 10 elites,
horizon 1, xyz and gripper searched with rotation fixed at 0, xyz inside an L1 ball of radius
0.075 m. ``CEM_PRESETS["notebook"]`` is the public notebook's variant. Load overrides with
``vjepa_ac.config.load_config(CEMConfig, "configs/plan/cem_notebook.yaml", ["horizon=3"])``.

Choosing a planner (``vjepa-ac plan --planner/--planner-config/key=value``, ``eval sim`` and
``eval offline``'s ``planner``/``planner_config``/``plan.*``, the server's ``method``/``preset``/
``planner`` and each request's ``planner``) is one ``PlannerSpec(kind, file, overrides)``:
the defaults of ``kind`` <- the YAML ``file`` <- ``overrides``, deep-merged, then validated.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from vjepa_ac.config import ConfigError, deep_merge, from_dict, load_yaml, parse_overrides, to_dict
from vjepa_ac.plan.actions import GROUPS

Group = Literal["xyz", "rot", "gripper"]


@dataclass
class SearchConfig:
    """What every planner shares: searched dims, the feasible set, sampling and scoring.

    ``num_samples`` x ``iterations`` is the budget of candidate rollouts of the sampling planners
    (CEM, MPPI, NeverGrad); the gradient planner optimises ``num_samples`` sequences in parallel
    for ``iterations`` Adam steps.
    """

    # -- search space
    horizon: int = 1  # actions per planned sequence (world-model steps)
    search: tuple[Group, ...] = ("xyz", "gripper")  # searched action groups; the others stay 0
    xyz_bound: Literal["l1_ball", "box"] = "l1_ball"  # feasible set of each xyz displacement
    xyz_radius: float = 0.075  # m; L1-ball radius ("l1_ball") or per-axis limit ("box")
    l1_method: Literal["project", "rescale"] = "project"  # how samples outside the L1 ball get in
    rot_limit: float = 0.1  # rad; per-axis clip of each searched rotation angle
    gripper_limit: float = 1.0  # per-step closure change is clipped to [-limit, limit]
    # -- sampling
    num_samples: int = 800  # candidate sequences per iteration
    iterations: int = 10  # sample -> score -> refit rounds per plan
    chunk_size: int | None = None  # candidates per world-model call (None: all at once)
    # "bf16": candidates' rollouts under bfloat16 autocast, the returned plan's energy re-scored in
    # fp32; for GPUs and bf16-capable CPUs (slower than fp32 on others; notes/performance.md)
    precision: Literal["fp32", "bf16"] = "fp32"
    init_std_xyz: float = 0.075  # m; initial sampling std of dx, dy, dz
    init_std_rot: float = 0.05  # rad; initial std of searched rotation angles
    init_std_gripper: float = 1.0  # initial std of the closure change
    min_std: float = 0.0  # floor on the std of searched dims after each refit (same units)
    momentum_mean: float = 0.0  # mean <- (1 - m) * fitted mean + m * previous mean
    momentum_std: float = 0.0  # std  <- (1 - m) * fitted std  + m * previous std
    include_mean: bool = False  # candidate 0 of each iteration is the current mean (jepa-wms' CEM)
    # -- scoring and output
    energy: Literal["l1", "l2"] = "l1"  # latent distance to the goal (plan/energy.py)
    energy_tokens: Literal["per_token", "pooled"] = "per_token"  # compare every token, or the token means
    energy_at: Literal["horizon", "every_step"] = "horizon"  # score the last step, or sum all H steps
    select: Literal["mean", "best"] = "mean"  # returned plan: final sampling mean, or best sample seen
    gripper_round: float = 0.0  # returned closure changes with |dg| below this become 0 (0: off)

    def __post_init__(self) -> None:
        if isinstance(self.search, list):
            self.search = tuple(self.search)
        name = type(self).__name__
        positive_ints = ("horizon", "num_samples", "iterations")
        for f in positive_ints:
            if getattr(self, f) < 1:
                raise ValueError(f"{name}.{f} must be >= 1, got {getattr(self, f)}")
        if self.chunk_size is not None and self.chunk_size < 1:
            raise ValueError(f"{name}.chunk_size must be >= 1 or None, got {self.chunk_size}")
        if self.precision not in ("fp32", "bf16"):
            raise ValueError(f"{name}.precision must be 'fp32' or 'bf16', got {self.precision!r}")
        unknown = [g for g in self.search if g not in GROUPS]
        if unknown or len(set(self.search)) != len(self.search) or not self.search:
            raise ValueError(f"{name}.search must be distinct names from {sorted(GROUPS)}, got {self.search}")
        limits = {"xyz": ("xyz_radius", "init_std_xyz"), "rot": ("rot_limit", "init_std_rot"),
                  "gripper": ("gripper_limit", "init_std_gripper")}
        for group in self.search:
            for f in limits[group]:
                if not getattr(self, f) > 0:
                    raise ValueError(f"{name}.{f} must be > 0 when {group!r} is in {name}.search, "
                                     f"got {getattr(self, f)}")
        if self.min_std < 0:
            raise ValueError(f"{name}.min_std must be >= 0, got {self.min_std}")
        for f in ("momentum_mean", "momentum_std"):
            if not 0.0 <= getattr(self, f) < 1.0:
                raise ValueError(f"{name}.{f} must be in [0, 1), got {getattr(self, f)}")
        if self.gripper_round < 0:
            raise ValueError(f"{name}.gripper_round must be >= 0, got {self.gripper_round}")
        if self.gripper_round > 0 and "gripper" not in self.search:
            raise ValueError(f"{name}.gripper_round={self.gripper_round} needs 'gripper' in {name}.search")


@dataclass
class CEMConfig(SearchConfig):
    """Cross-entropy method: refit a diagonal Gaussian to the ``num_elites`` lowest energies."""

    num_elites: int = 10  # top-k candidates the Gaussian is refitted to (needs >= 2 for a std)

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 2 <= self.num_elites <= self.num_samples:
            raise ValueError(f"CEMConfig.num_elites must be in [2, CEMConfig.num_samples="
                             f"{self.num_samples}], got {self.num_elites}")


@dataclass
class MPPIConfig(SearchConfig):
    """MPPI: refit to all candidates weighted by ``softmax(-(E - min E) / (temperature * scale))``."""

    temperature: float = 0.2  # lambda; in units of `scale` (see normalize_energy)
    normalize_energy: bool = True  # scale = std of the iteration's energies (else 1: energy units)
    update_std: bool = True  # refit the std to the weighted spread (False: keep the initial std)

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.temperature > 0:
            raise ValueError(f"MPPIConfig.temperature must be > 0, got {self.temperature}")


@dataclass
class NeverGradConfig(SearchConfig):
    """NeverGrad (Rapin & Teytaud 2018) over the searched dims in their box bounds: each
    iteration asks ``num_samples`` candidates, scores them and tells their energies back; the
    budget is ``num_samples * iterations`` (jepa-wms' ``NevergradPlanner``: NGOpt, tuning-free).
    Needs the optional ``nevergrad`` extra."""

    optimizer: str = "NGOpt"  # a nevergrad.optimizers.registry name: NGOpt, CMA, DiagonalCMA, TwoPointsDE, ...

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.optimizer:
            raise ValueError("NeverGradConfig.optimizer must name a nevergrad optimizer, e.g. 'NGOpt'")


@dataclass
class GradientConfig(SearchConfig):
    """Gradient planning: Adam on the action sequence through the differentiable rollout,
    projected into the bounds after each step (as DINO-WM's GD planner and jepa-wms'
    ``AdamPlanner``). ``num_samples`` sequences start from the mean (+ ``init_std_*`` noise when
    ``init == "random"``) and are optimised in parallel; the lowest-energy one is returned.
    ``chunk_size`` applies only to the final scoring: each Adam step rolls all S out at once."""

    num_samples: int = 1  # sequences optimised in parallel (restarts; the lowest energy is returned)
    iterations: int = 50  # Adam steps, each one rollout + backward of num_samples sequences (serve bound: 50)
    lr: float = 0.005  # Adam step size, in action units (m, rad, closure) per iteration
    betas: tuple[float, float] = (0.9, 0.995)  # Adam's (beta1, beta2), jepa-wms' values
    init: Literal["mean", "random"] = "mean"  # start at the mean (0 or init_mean), or mean + N(0, init_std^2)
    action_noise: float = 0.0  # std of Gaussian noise added to the actions after each step (same units)

    def __post_init__(self) -> None:
        super().__post_init__()
        if isinstance(self.betas, list):
            self.betas = tuple(self.betas)
        if not self.lr > 0:
            raise ValueError(f"GradientConfig.lr must be > 0, got {self.lr}")
        if len(self.betas) != 2 or not all(0.0 <= b < 1.0 for b in self.betas):
            raise ValueError(f"GradientConfig.betas must be two numbers in [0, 1), got {self.betas}")
        if self.action_noise < 0:
            raise ValueError(f"GradientConfig.action_noise must be >= 0, got {self.action_noise}")
        if self.precision != "fp32":
            raise ValueError("GradientConfig.precision must be 'fp32': the gradient planner's Adam steps run "
                             f"in fp32 (bf16 scoring is for the sampling planners), got {self.precision!r}")


@dataclass
class MPCConfig:
    """Receding-horizon control: plan, execute the first action, observe, replan."""

    max_steps: int = 20  # actions executed by run_mpc before it stops
    stop_energy: float | None = None  # run_mpc stops once a plan's energy is <= this (None: never)
    warm_start: bool = True  # start each plan from the previous mean shifted by one step
    warm_start_fill: Literal["zero", "repeat"] = "zero"  # last step after the shift: 0 or a copy
    seed: int = 0  # seed of the planner's torch.Generator (re-seeded on reset)

    def __post_init__(self) -> None:
        if self.max_steps < 1:
            raise ValueError(f"MPCConfig.max_steps must be >= 1, got {self.max_steps}")


# Named presets (the YAML files in configs/plan/ spell the same values as overrides).
CEM_PRESETS: dict[str, CEMConfig] = {
    "paper": CEMConfig(),
    "notebook": CEMConfig(
        horizon=2, num_samples=400, xyz_bound="box", xyz_radius=0.05, gripper_limit=0.75,
        init_std_xyz=0.05, init_std_gripper=1.0, momentum_mean=0.15, momentum_std=0.15,
        gripper_round=0.25,
    ),
    # jepa-wms' DROID planning protocol (configs/online_plan_evals/droid, arXiv 2512.24497):
    # 300 x 15, 10 elites, horizon 3, all 7 dims searched from N(0, 0.1^2), clipped per dim to
    # 0.1 (xyz, m; rotation, rad) and 0.75 (gripper), the mean kept among the candidates, L2.
    "jepa_wms_droid": CEMConfig(
        horizon=3, num_samples=300, iterations=15, num_elites=10, search=("xyz", "rot", "gripper"),
        xyz_bound="box", xyz_radius=0.1, rot_limit=0.1, gripper_limit=0.75, init_std_xyz=0.1,
        init_std_rot=0.1, init_std_gripper=0.1, include_mean=True, energy="l2",
    ),
}


def cem_preset(name: str, **overrides) -> CEMConfig:
    """A copy of ``CEM_PRESETS[name]`` with fields replaced (validated again)."""
    if name not in CEM_PRESETS:
        raise ValueError(f"unknown CEM preset {name!r}; valid: {sorted(CEM_PRESETS)}")
    return replace(CEM_PRESETS[name], **overrides)


PLANNER_TYPES: dict[str, type[SearchConfig]] = {
    "cem": CEMConfig, "mppi": MPPIConfig, "nevergrad": NeverGradConfig, "gradient": GradientConfig,
}


PLANNER_KINDS = tuple(sorted(PLANNER_TYPES)) + tuple(sorted(CEM_PRESETS))  # what PlannerSpec.kind may name


@dataclass
class PlannerSpec:
    """Which planner, with which settings: ``kind``'s defaults <- ``file`` <- ``overrides``.

    kind: ``cem``, ``mppi``, ``nevergrad``, ``gradient``, or a CEM preset (``paper``,
        ``notebook``, ``jepa_wms_droid``: ``CEM_PRESETS``)
    file: YAML of field overrides (``configs/plan/*.yaml``), or None
    overrides: field overrides (``{"num_samples": 400}``), applied last
    The layers are deep-merged, and the result validated by the kind's config class:
    an unknown kind, a missing file or an unknown or invalid field raises ``ConfigError`` naming
    it (under ``where``, e.g. ``plan.num_samples``).
    """

    kind: str = "paper"
    file: Path | None = None
    overrides: dict[str, Any] = field(default_factory=dict)

    @property
    def planner_type(self) -> type[SearchConfig]:
        if self.kind in CEM_PRESETS:
            return CEMConfig
        if self.kind not in PLANNER_TYPES:
            raise ConfigError(f"unknown planner {self.kind!r}; choose from {list(PLANNER_KINDS)}")
        return PLANNER_TYPES[self.kind]

    def defaults(self) -> SearchConfig:
        """The settings of ``kind`` alone."""
        return CEM_PRESETS[self.kind] if self.kind in CEM_PRESETS else self.planner_type()

    def resolve(self, where: str = "plan", **fixed: Any) -> SearchConfig:
        """The validated planner config; ``fixed`` fields (e.g. ``horizon=1``) override everything."""
        layers: list[Mapping[str, Any]] = [to_dict(self.defaults())]
        if self.file is not None:
            layers.append(load_yaml(self.file))
        layers += [self.overrides, fixed]
        return from_dict(self.planner_type, deep_merge(*layers), where)


def limits_exceeded(planner: SearchConfig, limits: Mapping[str, int]) -> list[tuple[str, int, int]]:
    """``(field, value, bound)`` for each of ``limits`` (``{"num_samples": 4096, ...}``) that
    ``planner`` exceeds, in the order of ``limits``."""
    return [(name, getattr(planner, name), bound) for name, bound in limits.items() if getattr(planner, name) > bound]


def load_planner_config(kind: str = "cem", path: str | Path | None = None,
                        overrides: list[str] | None = None) -> SearchConfig:
    """``PlannerSpec(kind, path, overrides).resolve()`` with ``key=value`` overrides (the CLI's form)."""
    spec = PlannerSpec(kind, None if path is None else Path(path), parse_overrides(overrides or []))
    return spec.resolve(where="")
