"""``vjepa-ac eval sim``: a planner with a trained world model, closed loop on the sim tasks.

    vjepa-ac eval sim runs/sim                                  # paper CEM, 10 episodes per cell
    vjepa-ac eval sim runs/sim configs/eval_sim.yaml plan.num_samples=400 sim.episodes=5

``run_sim_eval(model, cfg)`` loads the model (``vjepa_ac.load.load_world_model``: a run folder,
a checkpoint, a release name, or ``tiny:`` for smoke tests), wraps ``plan.mpc.Planner`` as a
sim policy and runs it, then the random baseline within the planner's bounds, through
``sim.evaluate.evaluate_policy`` on the same seeds. Everything goes to ``cfg.out_dir``:

- ``results.json``: the resolved config, the model, each policy's settings, every episode and
  the summary rows (``sim.evaluate.summary_rows``); rewritten atomically after each episode
- ``results.md``: the table (task x object x lab, policies side by side)
- ``videos/<policy>/<task>-<object>-<lab>-seed<seed>.mp4`` (``sim.video``: failures by default)
- ``pictures/<policy>/<task>-<object>-<lab>-seed<seed>.png`` + ``.gif``: observed frames, the goal
  and the decoded prediction of each planned action (``eval.pictures``), when the model has a
  frame decoder (``decoder``: ``<run>/decoder/decoder.pt``, ``vjepa-ac decoder train``); failures
  by default (``pictures``). They never change a planning result.

A rerun with the same out_dir skips the episodes already in ``results.json`` (keyed by policy,
task, object, lab, seed), so a long CPU evaluation can be stopped and continued, or extended
with more episodes or tasks. It refuses to mix results of another model, planner setting,
image size or step limit under one policy name.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from vjepa_ac.config import ConfigError, to_dict
from vjepa_ac.eval.oracle import SimOracleModel
from vjepa_ac.eval.pictures import EpisodePictures
from vjepa_ac.eval.report import fmt, markdown_table, write_json, write_text
from vjepa_ac.plan.calibration import Calibration, load_calibration
from vjepa_ac.plan.config import MPCConfig, PlannerSpec, SearchConfig
from vjepa_ac.plan.mpc import OBS_IMAGE, OBS_STATE, Planner
from vjepa_ac.sim.evaluate import (
    ALL,
    DEFAULT_IMAGE_SIZE,
    EpisodeRecord,
    EvalResults,
    PolicyFactory,
    RandomPolicy,
    SimEvalConfig,
    evaluate_policy,
    summary_rows,
)
from vjepa_ac.sim.tasks import TASKS

log = logging.getLogger("vjepa_ac.eval")
RESULTS_JSON, RESULTS_MD = "results.json", "results.md"


@dataclass
class EvalSimConfig:
    """What ``vjepa-ac eval sim`` runs; ``key=value`` overrides use these names (``sim.episodes=5``)."""

    out_dir: Path = Path("eval_sim")  # results.json, results.md, videos/
    sim: SimEvalConfig = field(default_factory=SimEvalConfig)  # tasks, labs, episodes, seeds, videos
    name: str = "planner"  # the planner's name in the results (evaluate several planners into one out_dir)
    planner: str = "paper"  # cem, mppi, nevergrad, gradient, or a CEM preset: paper, notebook, jepa_wms_droid
    planner_config: Path | None = None  # YAML of planner overrides (configs/plan/*.yaml)
    plan: dict[str, Any] = field(default_factory=dict)  # planner field overrides: plan.num_samples=400
    # per-task planner overrides on top of `plan` (task -> fields), e.g. task_plan.reach.horizon=3;
    # the oracle gets them too; tasks not named plan with `plan` alone
    task_plan: dict[str, dict[str, Any]] = field(default_factory=dict)
    mpc: MPCConfig = field(default_factory=MPCConfig)  # warm start; its seed is replaced by the episode seed
    baseline: bool = True  # also run the random baseline (name "random") on the same episodes
    baseline_seed: int = 0
    # also run the oracle planner (name "oracle", eval/oracle.py): the same planner, energy and encoder,
    # each candidate scored by simulating it; an upper bound on what the learned predictor can reach
    oracle: bool = False
    oracle_plan: dict[str, Any] = field(default_factory=dict)  # planner overrides for the oracle only (budget)
    device: str = "auto"  # auto: cuda when available
    crop: str | None = None  # the world model's crop of camera frames; None: the training run's (else square)
    # frame decoder for pictures (docs/decoder.md): "auto" the model's (<run>/decoder/decoder.pt) if any,
    # a decoder.pt path, or "none"; pictures: which planner episodes get a strip PNG + animation
    decoder: str = "auto"
    pictures: Literal["none", "failures", "all"] = "failures"
    picture_format: Literal["gif", "mp4"] = "gif"
    # calibration.json of `vjepa-ac calibrate`: the planner's actions are turned into the robot's frame
    # (plan/calibration.py); None: executed as planned
    calibration: Path | None = None

    def __post_init__(self) -> None:
        if self.name == "random" and self.baseline:
            raise ConfigError("name 'random' is the baseline's; choose another name or baseline=false")
        if self.name == "oracle" and self.oracle:
            raise ConfigError("name 'oracle' is the oracle planner's; choose another name or oracle=false")
        for task, overrides in self.task_plan.items():
            if task not in TASKS:
                raise ConfigError(f"task_plan.{task}: not a task; tasks are {list(TASKS)}")
            if not isinstance(overrides, dict):
                raise ConfigError(f"task_plan.{task}: planner field overrides (a mapping), got {overrides!r}")
        for task in (None, *self.task_plan):  # unknown planner, file or plan.* key: fail before the model loads
            self.planner_cfg(task)
            self.oracle_cfg(task)

    def oracle_cfg(self, task: str | None = None) -> SearchConfig:
        """The oracle's planner config for ``task``: the planner's, with ``oracle_plan`` on top."""
        return self._resolve(task, self.oracle_plan)

    @property
    def planner_spec(self) -> PlannerSpec:
        """``planner`` (kind), ``planner_config`` (file) and ``plan`` (overrides) as one spec."""
        return PlannerSpec(self.planner, self.planner_config, self.plan)

    def planner_cfg(self, task: str | None = None) -> SearchConfig:
        """The planner's config for ``task`` (None: every task without ``task_plan`` overrides):
        ``planner`` defaults <- ``planner_config`` <- ``plan`` <- ``task_plan[task]``."""
        return self._resolve(task)

    def _resolve(self, task: str | None, last: dict[str, Any] | None = None) -> SearchConfig:
        """``plan`` <- ``task_plan[task]`` <- ``last`` over the planner's defaults and file; errors
        name ``task_plan.<task>`` when the task has its own overrides, else ``plan``."""
        overrides = {**self.plan, **self.task_plan.get(task, {}), **(last or {})}
        where = f"task_plan.{task}" if task in self.task_plan else "plan"
        return PlannerSpec(self.planner, self.planner_config, overrides).resolve(where)


class PlannerPolicy:
    """``plan.mpc.Planner`` as a sim policy: reads ``obs.image`` / ``obs.state``, reseeds per
    episode, and reports each plan's energy in the episode record."""

    def __init__(self, planner: Planner, *, pictures: EpisodePictures | None = None,
                 calibration: Calibration | None = None):
        self.planner = planner
        self.pictures = pictures  # records each step for pictures (after planning: never changes the plan)
        self.calibration = calibration  # planned (model-frame) actions -> executed ones
        self.energies: list[float] = []

    def reset(self, seed: int) -> None:
        self.planner.reset(seed)
        self.energies = []
        if self.pictures is not None:
            self.pictures.reset()

    def __call__(self, obs, goal):
        action = self.planner({OBS_IMAGE: obs.image, OBS_STATE: obs.state}, goal)
        self.energies.append(float(self.planner.last_plan.energy))
        if self.pictures is not None:
            self.pictures.observe(obs.image, obs.state, goal, action)
        return action if self.calibration is None else self.calibration.to_robot(action)

    def episode_info(self) -> dict:
        return {"energies": self.energies}


def random_baseline(planner_cfg: SearchConfig, seed: int = 0) -> RandomPolicy:
    """Random actions within ``planner_cfg``'s bounds (a gripper that is not searched stays put)."""
    gripper = planner_cfg.gripper_limit if "gripper" in planner_cfg.search else 0.0
    return RandomPolicy(seed, planner_cfg.xyz_radius, planner_cfg.xyz_bound, gripper)


def _differences(old: Any, new: Any, prefix: str = "") -> list[str]:
    """Dotted keys where two JSON-like values differ."""
    if isinstance(old, dict) and isinstance(new, dict):
        return [
            d
            for k in sorted(set(old) | set(new), key=str)
            for d in _differences(old.get(k), new.get(k), f"{prefix}.{k}" if prefix else str(k))
        ]
    return [] if old == new else [f"{prefix}: stored {old!r}, now {new!r}"]


def _check_compatible(stored: dict, current: dict) -> None:
    """Results of another model / planner setting / environment must not share a policy name."""
    problems = _differences(stored.get("env"), current["env"], "env")
    for name, settings in current["policies"].items():
        old = stored.get("policies", {}).get(name)
        if old is not None:
            problems += [f"policy {name!r} {d}" for d in _differences(old, settings)]
    if problems:
        raise ConfigError(
            f"the results file holds episodes run with other settings ({'; '.join(problems)}); "
            f"choose another out_dir, another name=, or delete the file"
        )


class ResultsFile:
    """``results.json`` + ``results.md`` of one out_dir, rewritten atomically after each episode."""

    def __init__(self, out_dir: Path, header: dict):
        self.out_dir = Path(out_dir)
        self.path = self.out_dir / RESULTS_JSON
        self.header = header
        self.results = EvalResults()
        if self.path.is_file():
            stored = json.loads(self.path.read_text())
            _check_compatible(stored, header)
            self.header = {**header, "policies": {**stored.get("policies", {}), **header["policies"]}}
            self.results.episodes = [EpisodeRecord.from_dict(e) for e in stored["episodes"]]

    def add(self, record: EpisodeRecord) -> None:
        self.results.episodes.append(record)
        self.save()

    def save(self) -> None:
        episodes = self.results.episodes
        rows = summary_rows(episodes)
        write_json(self.path, {**self.header, "summary": rows, "episodes": [e.to_dict() for e in episodes]})
        write_text(self.out_dir / RESULTS_MD, markdown_report(self.header, rows))


def _success_cell(s: dict | None) -> str:
    if s is None:
        return "–"
    lo, hi = s["ci95"]
    return (
        f"{s['successes']}/{s['episodes']} = {100 * s['success_rate']:.0f}% [{100 * lo:.0f}, {100 * hi:.0f}]"
    )


def _distance_cell(s: dict | None) -> str:
    if s is None:
        return "–"
    return f"{100 * s['distance_mean']:.1f} ± {100 * s['distance_std']:.1f}"


def _describe_policy(settings: dict) -> str:
    if "planner_config" not in settings:
        return ", ".join(f"{k}={v}" for k, v in settings.items())
    p, mpc = settings["planner_config"], settings["mpc"]
    budget = f"{p['num_samples']} samples x {p['iterations']} iterations"
    return (
        f"{settings['kind']} ({settings['planner_type']}: {budget}, horizon {p['horizon']}, "
        f"{p['energy']} energy, "
        f"xyz {p['xyz_bound']} {p['xyz_radius']} m, search {'+'.join(p['search'])}, "
        f"warm start {mpc['warm_start']})"
        + (f", calibrated: {settings['calibration']['fit']} {settings['calibration']['yaw_deg']} deg, "
           f"scale {settings['calibration']['scale']}" if "calibration" in settings else "")
    )


def markdown_report(header: dict, rows: list[dict]) -> str:
    """The results table: one row per (task, object, lab), policies side by side."""
    policies = list(dict.fromkeys(p for r in rows for p in r["policies"]))
    head = ["task", "object", "lab"]
    head += [f"{p} success [95% CI]" for p in policies]
    head += [f"{p} final distance (cm)" for p in policies]
    head += [f"{p} s/action (median)" for p in policies]
    table = []
    for r in rows:
        stats = [r["policies"].get(p) for p in policies]
        pooled = ALL in (r["task"], r["lab"])
        cells = [
            f"**{r['task']}**" if pooled else r["task"],
            r["object"] or "-",  # reach is about no object
            f"**{r['lab']}**" if pooled else r["lab"],
        ]
        cells += [_success_cell(s) for s in stats]
        cells += [_distance_cell(s) for s in stats]
        cells += [fmt(None if s is None else s["action_time_median"], 3) for s in stats]
        table.append(cells)
    model, env = header.get("model", {}), header.get("env", {})
    lines = [
        "# Sim evaluation",
        "",
        f"- model: `{model.get('model_id')}` ({model.get('source')})",
        f"- camera: {env.get('image_size')} px, zoom {env.get('camera_zoom', 1.0)}, "
        f"turned {env.get('camera_azimuth', 0.0)} deg around the workspace; "
        f"step limits: {env.get('max_steps') or 'task defaults'}",
    ]
    lines += [
        f"- {name}: {_describe_policy(settings)}" for name, settings in header.get("policies", {}).items()
    ]
    lines += [
        "",
        "Success: successes/episodes = rate [Wilson 95% interval]. Final distance: end effector to the goal "
        "point (reach tasks) or to where the expert closed the gripper (grasp), or object to its goal "
        "position (pick-and-place), mean ± std over "
        "episodes. s/action: time inside the policy call (encoding + planning).",
        "",
        markdown_table(head, table),
    ]
    return "\n".join(lines)


def main_job_camera(model: str | Path) -> dict[str, Any]:
    """The camera a model's training data was collected with (``image_size`` px, ``ext1_zoom``):
    from ``pipeline.yaml`` when ``model`` is a main job's work_dir or its ``train`` run, else,
    for a training run folder whose ``config.yaml`` names a DROID root written by ``vjepa-ac sim
    collect`` (a run fine-tuned on new sim episodes, notes/finetune.md), from that root's
    ``summary.json``; ``{}`` for any other model. Evaluating with the same framing as training
    matters: the zoom changes every frame."""
    import yaml

    def camera(sim: dict) -> dict[str, Any]:
        return {k: sim[k] for k in ("image_size", "ext1_zoom") if sim.get(k) is not None}

    path = Path(str(model))
    if not path.is_dir():
        return {}
    for folder in (path, path.parent):
        saved = folder / "pipeline.yaml"
        if saved.is_file():
            return camera(((yaml.safe_load(saved.read_text()) or {}).get("collect") or {}).get("sim") or {})
    run_config = path / "config.yaml"
    if run_config.is_file():
        dataset = ((yaml.safe_load(run_config.read_text()) or {}).get("data") or {}).get("dataset") or {}
        root = (dataset.get("droid") or {}).get("root") if dataset.get("format") == "droid" else None
        # a relative root is read from the cwd, as training read it
        summary = Path(str(root)) / "summary.json" if root else None
        if summary is not None and summary.is_file():
            return camera((json.loads(summary.read_text()).get("config") or {}).get("sim") or {})
    return {}


def run_sim_eval(model: str, cfg: EvalSimConfig) -> dict:
    """Evaluate the planner (and the random baseline) with ``model`` into ``cfg.out_dir``.
    Returns the contents of ``results.json``."""
    from vjepa_ac.load import load_world_model

    planner_cfg = cfg.planner_cfg()
    calibration = None if cfg.calibration is None else load_calibration(cfg.calibration)
    served = load_world_model(model, device=cfg.device, crop=cfg.crop)
    camera = main_job_camera(model)
    sim_cfg = replace(
        cfg.sim,
        image_size=cfg.sim.image_size or camera.get("image_size") or served.image_size or DEFAULT_IMAGE_SIZE,
        camera_zoom=camera.get("ext1_zoom", 1.0) if cfg.sim.camera_zoom is None else cfg.sim.camera_zoom,
        video_dir=cfg.sim.video_dir or Path(cfg.out_dir) / "videos",
    )
    pictures = _episode_pictures(model, served, cfg)
    tasks_planned = [t for t in cfg.task_plan if t in sim_cfg.tasks]  # with their own planner settings
    if tasks_planned:
        planner_policy = PolicyFactory(lambda task: PlannerPolicy(
            Planner(served.world_model, cfg.planner_cfg(task.cfg.name), cfg.mpc),
            pictures=pictures, calibration=calibration))
    else:
        planner_policy = PlannerPolicy(Planner(served.world_model, planner_cfg, cfg.mpc),
                                       pictures=pictures, calibration=calibration)
    policies: dict[str, tuple[Any, dict]] = {
        cfg.name: (
            planner_policy,
            dict(
                kind=cfg.planner,
                model_id=served.model_id,
                planner_type=type(planner_cfg).__name__,
                planner_config=to_dict(planner_cfg),
                **_task_planner_configs(cfg.planner_cfg, tasks_planned),
                mpc=to_dict(cfg.mpc),
                **({} if calibration is None else {"calibration": calibration.summary()}),
            ),
        ),
    }
    if cfg.oracle:
        oracle_cfg = cfg.oracle_cfg()
        policies["oracle"] = (
            PolicyFactory(lambda task: PlannerPolicy(Planner(SimOracleModel(task, served.world_model),
                                                             cfg.oracle_cfg(task.cfg.name), cfg.mpc))),
            dict(kind="oracle", model_id=served.model_id, planner_type=type(oracle_cfg).__name__,
                 planner_config=to_dict(oracle_cfg), **_task_planner_configs(cfg.oracle_cfg, tasks_planned),
                 mpc=to_dict(cfg.mpc)),
        )
    if cfg.baseline:
        baseline = random_baseline(planner_cfg, cfg.baseline_seed)
        policies["random"] = (baseline, baseline.settings())
    header = dict(
        version=1,
        model=dict(
            model_id=served.model_id, source=served.source, image_size=served.image_size
        ),
        env=dict(image_size=sim_cfg.image_size, camera_zoom=sim_cfg.camera_zoom,
                 max_steps=dict(sorted(sim_cfg.max_steps.items())),
                 **({"camera_azimuth": sim_cfg.camera_azimuth} if sim_cfg.camera_azimuth else {})),
        policies={name: settings for name, (_, settings) in policies.items()},
        config=to_dict(replace(cfg, sim=sim_cfg)),
    )
    store = ResultsFile(cfg.out_dir, header)
    for name, (policy, _) in policies.items():
        done = store.results.keys()
        wanted = sim_cfg.episode_keys(name)
        todo = sum(k not in done for k in wanted)
        log.info("%s: %d episodes to run, %d already in %s", name, todo, len(wanted) - todo, store.path)
        on_episode = store.add
        if name == cfg.name and pictures is not None:
            on_episode = _saving_pictures(pictures, cfg, store.add)
        evaluate_policy(policy, sim_cfg, name=name, skip=done, on_episode=on_episode)
    store.save()  # also when nothing was left to run (refreshes the table)
    return json.loads(store.path.read_text())


def _task_planner_configs(resolve, tasks: list[str]) -> dict:
    """``{"task_planner_config": {task: config}}`` for tasks planned with their own settings (the
    results file refuses to mix them with another setting), else nothing (older files stay valid)."""
    return {"task_planner_config": {t: to_dict(resolve(t)) for t in tasks}} if tasks else {}


def _episode_pictures(model: str, served, cfg: EvalSimConfig) -> EpisodePictures | None:
    """The planner's picture recorder, when pictures are asked for and a decoder fits the model."""
    from vjepa_ac.load import load_decoder_for

    if cfg.pictures == "none":
        return None
    found = load_decoder_for(model, served, cfg.decoder)
    if found is None:
        log.info("no frame decoder for %s: no pictures (vjepa-ac decoder train; docs/decoder.md)", model)
        return None
    log.info("pictures of %s episodes with the decoder %s", cfg.pictures, found[1]["path"])
    return EpisodePictures(served.world_model, found[0], fmt=cfg.picture_format)


def _saving_pictures(pictures: EpisodePictures, cfg: EvalSimConfig, then):
    """``on_episode`` that writes the episode's pictures (failures, or all) before ``then(record)``;
    their paths go to ``record.info["pictures"]``."""

    def on_episode(rec: EpisodeRecord) -> None:
        if cfg.pictures == "all" or not rec.success:
            stem = Path(cfg.out_dir) / "pictures" / rec.policy / f"{rec.task}-{rec.object}-{rec.lab}-seed{rec.seed:04d}"
            rec.info["pictures"] = pictures.save(stem)
        then(rec)

    return on_episode
