"""``vjepa-ac eval offline``: how well a world model predicts, and plans, on held-out episodes.

    vjepa-ac eval offline runs/sim                       # the run's own held-out episodes
    vjepa-ac eval offline vjepa2-ac-vitg dataset.droid.root=/data/droid split=all

Two scores on clips of held-out DROID-format (or LeRobot) episodes:

- **prediction**: teacher-forcing and rollout L1 per horizon (``train.validate.validate``, the
  numbers training logs as ``tf_h{k}`` / ``rollout_h{k}``).
- **action score**: at each step t of a clip, plan one action (CEM, horizon 1) from frame t
  toward the *real* frame t+1's representation and compare its xyz with the recorded action's:
  L1 over xyz (m) and the cosine of the two directions. Baselines scored the same way: the
  zero action, and random candidates of the planner's first iteration (its initial Gaussian,
  mapped into the bounds). The energies of the plan, the recorded action and the zero action
  tell a search failure (plan energy above the recorded action's) from a model failure (the
  recorded action is not the energy minimum).
- **droid score** (``scores`` must name ``droid_score``): jepa-wms' DROID action score
  (arXiv 2512.24497; ``eval/droid_score.py``): plan 3 actions once from a frame toward the
  frame 3 steps later with their CEM (300 x 15, L2), compare the summed displacement with the
  recorded one, ``max(0, 800 * (0.1 - mean xyz error))``; comparable with their 42.9 / 48.2.

    vjepa-ac eval offline runs/sim 'scores=[droid_score]' droid_score.episodes=64

Data settings (``dataset``, ``clips``) default to the training run's when MODEL is a run folder
or a training checkpoint, so ``split: val`` is the run's own held-out episodes; a YAML file and
``key=value`` overrides change them. Results: ``out_dir/offline.json`` and ``offline.md``.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor

from vjepa_ac.config import ConfigError, to_dict
from vjepa_ac.data.clips import ClipConfig, ClipDataset
from vjepa_ac.data.index import DataConfig, build_index
from vjepa_ac.eval.droid_score import DroidScoreConfig, droid_scores, summarize_droid
from vjepa_ac.eval.report import fmt, markdown_table, write_json, write_text
from vjepa_ac.plan.actions import XYZ
from vjepa_ac.plan.config import PlannerSpec, SearchConfig
from vjepa_ac.plan.interface import Context
from vjepa_ac.plan.mpc import plan_actions
from vjepa_ac.plan.sampling import apply_bounds, initial_distribution, sample_candidates, score

log = logging.getLogger("vjepa_ac.eval")
RESULTS_JSON, RESULTS_MD = "offline.json", "offline.md"
_EPS = 1e-9  # m; below this an xyz displacement has no direction


@dataclass
class ActionScoreConfig:
    """The planning score: which steps are planned, and the baselines."""

    clips: int = 16  # held-out clips whose steps are planned (0: no action score)
    steps_per_clip: int = 0  # steps planned per clip, from its start; 0: all T-1
    random_samples: int = 64  # random candidates per step for the random baseline
    seed: int = 0  # seeds the planner and the random candidates (per clip and step)

    def __post_init__(self) -> None:
        if min(self.clips, self.steps_per_clip) < 0 or self.random_samples < 1:
            raise ConfigError("action_score.clips and steps_per_clip must be >= 0, random_samples >= 1")


@dataclass
class OfflineEvalConfig:
    """What ``vjepa-ac eval offline`` runs; overrides use these names (``clips.frames_per_clip=8``)."""

    out_dir: Path = Path("eval_offline")  # offline.json, offline.md
    dataset: DataConfig = field(default_factory=DataConfig)  # episodes and the held-out split
    clips: ClipConfig = field(default_factory=ClipConfig)  # frames per clip, rate, crop, resolution
    split: Literal["val", "train", "all"] = "val"  # which episodes of the split are scored
    max_clips: int = 256  # clips for teacher-forcing / rollout L1 (the first of the split's, epoch 0)
    batch_size: int = 8  # clips per predictor call
    num_workers: int = 0  # DataLoader processes decoding video
    rollout_steps: int = 2  # steps in the summary "rollout" number (the training loss's)
    scores: tuple[Literal["prediction", "action_score", "droid_score"], ...] = ("prediction", "action_score")
    action_score: ActionScoreConfig = field(default_factory=ActionScoreConfig)
    droid_score: DroidScoreConfig = field(default_factory=DroidScoreConfig)  # jepa-wms' protocol
    planner: str = "paper"  # cem, mppi, nevergrad, gradient, or a CEM preset (horizon is set to 1)
    planner_config: Path | None = None  # YAML of planner overrides (configs/plan/*.yaml)
    plan: dict[str, Any] = field(default_factory=dict)  # planner field overrides: plan.num_samples=400
    device: str = "auto"
    # frame decoder for pictures of action-score clips (docs/decoder.md): "auto" the model's if any, a
    # decoder.pt, or "none"; pictures: failures = clips where the plan was no closer to the recorded
    # action than the zero action (mean xyz L1), or all; written to out_dir/pictures/clip<i>.png
    decoder: str = "auto"
    pictures: Literal["none", "failures", "all"] = "failures"

    def __post_init__(self) -> None:
        if isinstance(self.scores, list):
            self.scores = tuple(self.scores)
        if not self.scores or len(set(self.scores)) != len(self.scores):
            raise ConfigError(f"scores must name distinct scores of prediction, action_score, droid_score; "
                              f"got {list(self.scores)}")
        if min(self.max_clips, self.batch_size, self.rollout_steps) < 1 or self.num_workers < 0:
            raise ConfigError("max_clips, batch_size and rollout_steps must be >= 1, num_workers >= 0")
        if self.rollout_steps > self.clips.frames_per_clip - 1:
            raise ConfigError(
                f"rollout_steps ({self.rollout_steps}) must be <= clips.frames_per_clip - 1 "
                f"({self.clips.frames_per_clip - 1})"
            )
        self.planner_cfg()

    @property
    def planner_spec(self) -> PlannerSpec:
        """``planner`` (kind), ``planner_config`` (file) and ``plan`` (overrides) as one spec."""
        return PlannerSpec(self.planner, self.planner_config, self.plan)

    def planner_cfg(self) -> SearchConfig:
        """``planner`` <- ``planner_config`` <- ``plan``, at horizon 1 (one step toward frame t+1)."""
        return self.planner_spec.resolve(horizon=1)


def run_defaults(source: str) -> dict:
    """``dataset`` / ``clips`` of the training run behind ``source`` (a ``step_*.pt`` checkpoint),
    or {} for anything else. The checkpoint is memory-mapped: its weights are not read."""
    path = Path(source)
    if not (path.is_file() and path.suffix == ".pt" and path.name.startswith("step_")):
        return {}
    data = torch.load(path, map_location="cpu", weights_only=True, mmap=True)["config"]["data"]
    return {"dataset": data["dataset"], "clips": data["clips"]}


def held_out_clips(cfg: OfflineEvalConfig) -> ClipDataset:
    """Clips of the ``cfg.split`` episodes (epoch-0 windows: the same clips every run)."""
    index = build_index(cfg.dataset, cfg.clips)
    if cfg.split == "all":
        episodes = index.episodes
    else:
        train, val = index.split(cfg.dataset.val_fraction, cfg.dataset.split_seed)
        episodes = (val if cfg.split == "val" else train).episodes
    if not episodes:
        raise ConfigError(
            f"no {cfg.split} episodes in {cfg.dataset.describe()} (dataset.val_fraction = "
            f"{cfg.dataset.val_fraction}); set dataset.val_fraction > 0 or split=all"
        )
    return ClipDataset(episodes, cfg.clips)


def prediction_scores(world_model, dataset: ClipDataset, cfg: OfflineEvalConfig) -> dict:
    """Teacher-forcing and rollout L1 per horizon over the first ``cfg.max_clips`` clips."""
    from vjepa_ac.models.encoder import FrameEncoder
    from vjepa_ac.train.datasets import val_batches
    from vjepa_ac.train.validate import validate

    batches = val_batches(
        dataset,
        max_clips=cfg.max_clips,
        micro_batch=cfg.batch_size,
        rank=0,
        world_size=1,
        num_workers=cfg.num_workers,
    )
    model = world_model.model
    return validate(
        model.predictor,
        batches,
        encoder=FrameEncoder(model.encoder),
        device=world_model.device,
        amp_dtype=None,
        rollout_steps=cfg.rollout_steps,
        horizons=cfg.clips.frames_per_clip - 1,
    )


def cosine(a: Tensor, b: Tensor) -> Tensor:
    """Cosine of ``a [..., 3]`` and ``b [..., 3]``; NaN where either has no direction."""
    na, nb = a.norm(dim=-1), b.norm(dim=-1)
    cos = (a * b).sum(-1) / (na * nb).clamp(min=_EPS * _EPS)
    return torch.where((na > _EPS) & (nb > _EPS), cos, torch.full_like(cos, float("nan")))


@torch.no_grad()
def score_step(
    world_model,
    z: Tensor,
    state: Tensor,
    z_next: Tensor,
    true_action: Tensor,
    planner_cfg: SearchConfig,
    random_samples: int,
    generator: torch.Generator,
) -> dict:
    """One step: plan from ``z [N, D]`` / ``state [7]`` toward ``z_next [N, D]``; compare with
    ``true_action [7]``. Returns per-step numbers (xyz L1 in m, cosines, energies)."""
    context = Context.single(z, state)
    plan = plan_actions(world_model, context, z_next, planner_cfg, generator)
    planned = plan.actions[0].float()  # [7]
    true = true_action.to(planned.device).float()
    mean, std = initial_distribution(planner_cfg, device=planned.device)
    rand = sample_candidates(mean, std, random_samples, planner_cfg, generator)[:, 0]  # [R, 7]
    candidates = torch.stack([planned, true, torch.zeros_like(true)])[:, None]  # [3, 1, 7]
    e_plan, e_true, e_zero = score(world_model, context, candidates, z_next, planner_cfg).tolist()
    t_xyz = true[XYZ]
    rand_l1 = (rand[:, XYZ] - t_xyz).abs().sum(-1)  # [R]
    return dict(
        true_xyz=t_xyz.tolist(),
        plan_xyz=planned[XYZ].tolist(),
        plan_action=planned.tolist(),
        plan_l1=float((planned[XYZ] - t_xyz).abs().sum()),
        zero_l1=float(t_xyz.abs().sum()),
        random_l1=float(rand_l1.mean()),
        plan_cos=float(cosine(planned[XYZ], t_xyz)),
        random_cos=float(cosine(rand[:, XYZ], t_xyz).nanmean()),
        energy_plan=e_plan,
        energy_true=e_true,
        energy_zero=e_zero,
        true_inside=bool(torch.allclose(apply_bounds(true, planner_cfg)[XYZ], t_xyz, atol=1e-6)),
    )


def action_scores(
    world_model, dataset: ClipDataset, cfg: OfflineEvalConfig, progress: bool = True
) -> list[dict]:
    """``score_step`` for the first ``steps_per_clip`` steps of the first ``action_score.clips`` clips."""
    from tqdm import tqdm

    a = cfg.action_score
    planner_cfg = cfg.planner_cfg()
    n_clips = min(a.clips, len(dataset))
    T = cfg.clips.frames_per_clip
    steps = min(a.steps_per_clip or T - 1, T - 1)
    device = world_model.device
    out = []
    with tqdm(total=n_clips * steps, desc="action score", unit="step", disable=not progress) as bar:
        for i in range(n_clips):
            item = dataset[i]
            z = world_model.encode(item["frames"])  # [T, N, D]
            for t in range(steps):
                g = torch.Generator(device=device).manual_seed(a.seed * 1_000_003 + i * 1009 + t)
                rec = score_step(
                    world_model,
                    z[t],
                    item["states"][t],
                    z[t + 1],
                    item["actions"][t],
                    planner_cfg,
                    a.random_samples,
                    g,
                )
                out.append(dict(clip=i, episode_id=item["episode_id"], step=t, **rec))
                bar.update(1)
    return out


def clip_pictures(model: str, served, dataset: ClipDataset, steps: list[dict], cfg: OfflineEvalConfig) -> list[str]:
    """Strips (``eval.pictures.clip_strip``) of the action-score clips ``cfg.pictures`` asks for,
    when a decoder fits the model; returns the PNG paths."""
    from vjepa_ac.eval.pictures import clip_strip
    from vjepa_ac.load import load_decoder_for
    from vjepa_ac.pictures import write_png

    found = None if cfg.pictures == "none" or not steps else load_decoder_for(model, served, cfg.decoder)
    if found is None:
        return []
    paths = []
    for i in sorted({s["clip"] for s in steps}):
        mine = [s for s in steps if s["clip"] == i]
        if cfg.pictures == "failures" and np.mean([s["plan_l1"] for s in mine]) < np.mean([s["zero_l1"] for s in mine]):
            continue
        item = dataset[i]
        strip = clip_strip(served.world_model, found[0], item["frames"], item["states"], item["actions"][: len(mine)],
                           torch.tensor([s["plan_action"] for s in mine]))
        paths.append(str(write_png(Path(cfg.out_dir) / "pictures" / f"clip{i:03d}.png", strip)))
    return paths


def _mean_std(values: list[float]) -> tuple[float, float]:
    v = np.array([x for x in values if not math.isnan(x)], dtype=np.float64)
    if v.size == 0:
        return float("nan"), float("nan")
    return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else 0.0


def summarize_actions(steps: list[dict]) -> dict:
    """Means (and stds) over steps, per scored policy, plus energy diagnostics."""
    if not steps:
        return {}
    out: dict[str, Any] = {"steps": len(steps)}
    for name in ("plan", "zero", "random"):
        l1, l1_std = _mean_std([s[f"{name}_l1"] for s in steps])
        cos, cos_std = _mean_std([s.get(f"{name}_cos", float("nan")) for s in steps])
        out[name] = dict(xyz_l1=l1, xyz_l1_std=l1_std, cosine=cos, cosine_std=cos_std)
    err = np.abs(
        np.array([s["plan_xyz"] for s in steps]) - np.array([s["true_xyz"] for s in steps])
    )  # [n, 3]
    out["plan"]["abs_error_per_axis"] = err.mean(0).tolist()
    out["true_xyz_l1"] = _mean_std([float(np.abs(s["true_xyz"]).sum()) for s in steps])[0]
    out["true_inside_bounds"] = float(np.mean([s["true_inside"] for s in steps]))
    for name in ("plan", "true", "zero"):
        out[f"energy_{name}"] = _mean_std([s[f"energy_{name}"] for s in steps])[0]
    # the search found something at least as good (to the model) as what the robot did
    out["plan_energy_le_true"] = float(np.mean([s["energy_plan"] <= s["energy_true"] + 1e-7 for s in steps]))
    return out


def markdown_report(results: dict) -> str:
    pred, act, droid = results.get("prediction"), results.get("action_score", {}), results.get("droid_score")
    lines = [
        "# Offline evaluation",
        "",
        f"- model: `{results['model']['model_id']}` ({results['model']['source']})",
        f"- episodes: {results['data']['episodes']} ({results['data']['split']}), "
        f"clips of {results['data']['frames_per_clip']} frames at {results['data']['fps']} fps",
        "",
    ]
    if pred:
        k = results["data"]["frames_per_clip"] - 1
        lines += [
            f"## Prediction L1 per horizon ({pred['clips']} clips)",
            "",
            markdown_table(
                ["horizon (steps)", *range(1, k + 1)],
                [
                    ["teacher forcing", *(fmt(pred[f"tf_h{h}"], 4) for h in range(1, k + 1))],
                    ["rollout", *(fmt(pred[f"rollout_h{h}"], 4) for h in range(1, k + 1))],
                ],
            ),
        ]
    if act:
        rows = [
            [
                name,
                f"{fmt(100 * act[key]['xyz_l1'], 2)} ± {fmt(100 * act[key]['xyz_l1_std'], 2)}",
                fmt(act[key]["cosine"], 3),
            ]
            for key, name in (
                ("plan", "planner (CEM, H=1)"),
                ("random", "random candidate"),
                ("zero", "zero action"),
            )
        ]
        lines += [
            f"## Action score ({act['steps']} steps)",
            "",
            "Planned toward the real next frame; compared with the recorded action's xyz.",
            "",
            markdown_table(["action", "xyz L1 error (cm)", "direction cosine"], rows),
            f"- recorded xyz L1 (cm): {fmt(100 * act['true_xyz_l1'], 2)}; inside the planner's bounds: "
            f"{100 * act['true_inside_bounds']:.0f}% of steps",
            f"- mean energy: plan {fmt(act['energy_plan'], 4)}, "
            f"recorded action {fmt(act['energy_true'], 4)}, "
            f"zero action {fmt(act['energy_zero'], 4)}; plan energy <= recorded action's at "
            f"{100 * act['plan_energy_le_true']:.0f}% of steps",
            "",
        ]
    if droid:
        published = ", ".join(f"{name} {value}" for name, value in droid["published"].items())
        lines += [
            f"## DROID action score, jepa-wms protocol ({droid['episodes']} episodes)",
            "",
            f"One plan of {droid['planner']['horizon']} actions ({droid['planner']['type']} "
            f"{droid['planner']['num_samples']} x {droid['planner']['iterations']}, {droid['planner']['energy']}) "
            f"toward the frame {droid['executed']} steps ahead; its summed displacement against the recorded one.",
            "",
            markdown_table(
                ["score", "xyz error (cm)", "rotation error (rad)", "gripper error", "plan energy"],
                [[f"{fmt(droid['score'], 1)} ± {fmt(droid['score_sem'], 1)}",
                  f"{fmt(100 * droid['xyz_error'], 2)} ± {fmt(100 * droid['xyz_error_std'], 2)}",
                  fmt(droid["orientation_error"], 3), fmt(droid["closure_error"], 3), fmt(droid["energy"], 4)]],
            ),
            f"- score = max(0, 800 x (0.1 m - mean xyz error)), 80 at no error; published: {published} "
            "(their episodes; see notes/plan.md for the differences)",
            "",
        ]
    return "\n".join(lines)


def run_offline_eval(
    model: str, config: str | None = None, overrides: list[str] | None = None, progress: bool = True
) -> dict:
    """Load ``model``, resolve the config (run defaults <- ``config`` <- ``overrides``), score, write."""
    from vjepa_ac.config import load_config
    from vjepa_ac.plan.world_model import LatentWorldModel
    from vjepa_ac.load import load_world_model

    probe = load_config(OfflineEvalConfig, config, overrides)  # fail on bad keys before loading weights
    served = load_world_model(model, device=probe.device)
    if not isinstance(served.world_model, LatentWorldModel):
        raise ConfigError(f"eval offline needs a V-JEPA world model (encoder + predictor), got {model!r}")
    cfg = load_config(
        OfflineEvalConfig, config, overrides, defaults=run_defaults(served.source)
    )
    if served.image_size is not None and cfg.clips.resolution != served.image_size:
        raise ConfigError(
            f"clips.resolution ({cfg.clips.resolution}) must equal the model's image size "
            f"({served.image_size})"
        )
    dataset = held_out_clips(cfg)
    wm = served.world_model
    results: dict[str, Any] = dict(
        model=dict(model_id=served.model_id, source=served.source),
        config=to_dict(cfg),
        planner=dict(type=type(cfg.planner_cfg()).__name__, **to_dict(cfg.planner_cfg())),
        data=dict(
            split=cfg.split,
            episodes=len(dataset.episodes),
            frames_per_clip=cfg.clips.frames_per_clip,
            fps=cfg.clips.fps,
        ),
    )
    if "prediction" in cfg.scores:
        results["prediction"] = prediction_scores(wm, dataset, cfg)
    if "action_score" in cfg.scores:
        steps = action_scores(wm, dataset, cfg, progress) if cfg.action_score.clips else []
        results["action_score"] = summarize_actions(steps)
        results["steps"] = steps
        results["pictures"] = clip_pictures(model, served, dataset, steps, cfg)
    if "droid_score" in cfg.scores:
        planner = cfg.droid_score.planner_cfg()
        episodes = droid_scores(wm, dataset, cfg.droid_score, progress)
        results["droid_score"] = dict(summarize_droid(episodes), executed=cfg.droid_score.executed(),
                                      planner=dict(type=type(planner).__name__, **to_dict(planner)))
        results["droid_episodes"] = episodes
    write_json(Path(cfg.out_dir) / RESULTS_JSON, results)
    write_text(Path(cfg.out_dir) / RESULTS_MD, markdown_report(results))
    return results
