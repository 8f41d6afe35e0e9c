"""``vjepa-ac calibrate``: measure a robot setup's action frame and save ``calibration.json``.

    vjepa-ac calibrate runs/sim sim.lab=eval_kitchen sim.camera_azimuth=30    # probe moves in the sim
    vjepa-ac calibrate runs/sim --episode /data/my_robot/episode_0003         # recorded moves

``run_calibration(model, cfg)``: gather frame pairs with known moves (``calibrate/probes.py``:
probe moves executed in the sim, or translations picked from recorded episodes), infer each
move with the world model (``plan/infer.py``: the horizon-1 plan toward the next frame), fit
``inferred ~= s R executed`` (``plan/calibration.py``) and write, into ``cfg.out``:

- the calibration (``calibration.json`` by default), which ``plan`` / ``serve`` / ``eval sim``
  take with ``--calibration`` / ``calibration=``;
- ``<stem>.probes.json`` beside it: the resolved config, each pair's executed, inferred and
  calibrated move, and the errors before and after calibration (in-sample and leave-one-out).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np

from vjepa_ac.atomic import atomic_write_json
from vjepa_ac.calibrate.probes import PROBE_MOVES, ProbePairs, episode_probe_pairs, sim_probe_pairs
from vjepa_ac.config import require, to_dict
from vjepa_ac.data.droid import DroidConfig
from vjepa_ac.data.lerobot import LeRobotConfig
from vjepa_ac.data.poses import XYZ
from vjepa_ac.plan.calibration import Calibration, CalibrationError, fit_calibration, move_errors
from vjepa_ac.plan.infer import infer_moves, infer_planner

log = logging.getLogger("vjepa_ac.calibrate")


@dataclass
class SimProbeConfig:
    """Probe moves in the sim (used when ``episode`` is not given)."""

    lab: str = "eval_kitchen"  # sim/labs.py; a held-out lab by default
    camera_azimuth: float = 0.0  # deg, ext1 turned around the workspace (sim/camera_turn.py)
    seeds: tuple[int, ...] = (0, 1)  # scenes whose start pose the probe moves begin from
    move_cm: float = 5.0  # cm, length of each probe move (the paper's ~5 cm)
    image_size: int = 0  # px; 0: the main job's collection size for a main-job model, else the model's
    camera_zoom: float | None = None  # ext1 zoom; None: the main job's collection zoom, else 1.0

    def __post_init__(self) -> None:
        self.seeds = tuple(self.seeds)
        require(self, "seeds", len(self.seeds) >= 1, "one or more scene seeds")
        require(self, "move_cm", 0.5 <= self.move_cm <= 10.0, "in [0.5, 10] cm (the sim clips moves at 10 cm)")
        require(self, "camera_azimuth", -180.0 <= self.camera_azimuth <= 180.0, "in [-180, 180] deg")
        require(self, "image_size", self.image_size >= 0, ">= 0")


@dataclass
class EpisodeProbeConfig:
    """Recorded moves (a real robot's): raw DROID episode folders or a LeRobot v3 dataset."""

    format: Literal["auto", "droid", "lerobot"] = "auto"  # auto: LeRobot when PATH/meta/info.json exists
    droid: DroidConfig = field(default_factory=DroidConfig)  # camera_views: the calibrated camera (first)
    lerobot: LeRobotConfig = field(default_factory=LeRobotConfig)  # camera_key, state_key, episodes
    max_pairs: int = 40  # frame pairs used, spread evenly over all candidates
    min_move_cm: float = 1.0  # cm: shorter recorded moves are skipped
    max_rot: float = 0.05  # rad: pairs rotating more (any axis) are skipped (moves are inferred in xyz)
    max_gripper: float = 0.05  # pairs whose gripper closure changes more are skipped

    def __post_init__(self) -> None:
        require(self, "max_pairs", self.max_pairs >= 3, ">= 3")
        require(self, "min_move_cm", self.min_move_cm > 0, "> 0")


@dataclass
class CalibrateConfig:
    """What ``vjepa-ac calibrate`` does; ``key=value`` overrides use these names (``sim.lab=...``)."""

    out: Path = Path("calibration.json")  # the calibration; <stem>.probes.json goes beside it
    fit: Literal["yaw", "rotation"] = "yaw"  # a turn about the base's z axis, or any 3-D rotation
    scale: bool = False  # also correct the length of moves (the fitted s); the estimate is kept either way
    episode: Path | None = None  # recorded episode folder(s) / LeRobot dataset; None: probe moves in the sim
    episodes: EpisodeProbeConfig = field(default_factory=EpisodeProbeConfig)
    sim: SimProbeConfig = field(default_factory=SimProbeConfig)
    infer: dict[str, Any] = field(default_factory=dict)  # planner overrides of the move inference (plan/infer.py)
    fps: float | None = None  # control rate of recorded pairs (1/fps s apart); None: the model's, else 4
    camera: str = ""  # name of the calibrated camera, stored in the file; "": ext1 (sim) / the episode's view
    seed: int = 0
    device: str = "auto"
    crop: str | None = None  # the world model's crop; None: the training run's (else square)

    def __post_init__(self) -> None:
        if self.fps is not None:
            require(self, "fps", 0 < self.fps <= 100, "in (0, 100] actions/s, or null")
        infer_planner(self.infer)  # an unknown or invalid infer.* key fails before the model loads


def _pairs(model: str, cfg: CalibrateConfig, image_size: int | None, fps: float | None) -> tuple[ProbePairs, dict]:
    """The frame pairs of ``cfg`` and what to record about where they came from."""
    if cfg.episode is not None:
        return _episode_pairs(cfg, fps or 4.0)
    from vjepa_ac.eval.sim import main_job_camera
    from vjepa_ac.sim.camera_turn import turned_ext1

    s = cfg.sim
    camera = main_job_camera(model)
    size = s.image_size or camera.get("image_size") or image_size or 128
    zoom = camera.get("ext1_zoom", 1.0) if s.camera_zoom is None else s.camera_zoom
    kwargs: dict[str, Any] = dict(image_size=size, ext1_zoom=zoom)
    if s.camera_azimuth:
        kwargs.update(turned_ext1(s.lab, s.camera_azimuth))
    pairs = sim_probe_pairs(s.lab, s.seeds, s.move_cm / 100, kwargs, PROBE_MOVES)
    return pairs, {"source": "sim", "lab": s.lab, "camera_azimuth": s.camera_azimuth, "image_size": size,
                   "camera_zoom": zoom}


def _episode_pairs(cfg: CalibrateConfig, fps: float) -> tuple[ProbePairs, dict]:
    path, e = Path(cfg.episode), cfg.episodes
    if not path.exists():
        raise FileNotFoundError(f"episode: {path} does not exist")
    fmt = e.format if e.format != "auto" else ("lerobot" if (path / "meta" / "info.json").is_file() else "droid")
    if fmt == "lerobot":
        from vjepa_ac.data.lerobot import read_dataset

        episodes, errors = read_dataset(replace(e.lerobot, root=path))
        camera = e.lerobot.camera_key
    else:
        from vjepa_ac.data.droid import discover_episodes, read_episode

        droid = replace(e.droid, root=path)
        folders = [path] if (path / "trajectory.h5").is_file() else discover_episodes(droid)
        episodes, errors = [], []
        for folder in folders:
            try:
                episodes.append(read_episode(folder, droid.camera_views[0], droid))
            except ValueError as err:
                errors.append(err)
        camera = droid.camera_views[0]
    for err in errors:
        log.warning("skipped: %s", err)
    if not episodes:
        raise ValueError(f"episode: no readable episode under {path} ({len(errors)} skipped)")
    pairs = episode_probe_pairs(episodes, fps, e.max_pairs, e.min_move_cm / 100, e.max_rot, e.max_gripper)
    return pairs, {"source": fmt, "path": str(path), "episodes": len(episodes), "camera": camera, "fps": fps}


def _leave_one_out(executed: np.ndarray, inferred: np.ndarray, cfg: CalibrateConfig) -> np.ndarray | None:
    """Each pair's inferred move calibrated by a fit to the other pairs ([K, 3]); None when a fit
    without one pair is degenerate (too few probes)."""
    out = np.zeros_like(inferred)
    for k in range(len(executed)):
        rest = np.arange(len(executed)) != k
        try:
            cal = fit_calibration(executed[rest], inferred[rest], cfg.fit, cfg.scale)
        except CalibrationError:
            return None
        out[k] = cal.to_robot(np.pad(inferred[k], (0, 4)))[XYZ]
    return out


def run_calibration(model: str, cfg: CalibrateConfig) -> dict[str, Any]:
    """Calibrate ``model``'s action frame for the camera of ``cfg`` (module doc). Returns the
    report written to ``<stem>.probes.json``; raises ``CalibrationError`` (a ``ValueError``) when
    the moves cannot determine a calibration."""
    from vjepa_ac.load import load_world_model

    loaded = load_world_model(model, device=cfg.device, crop=cfg.crop)
    fps = cfg.fps or loaded.fps
    pairs, where = _pairs(model, cfg, loaded.image_size, fps)
    log.info("inferring %d moves (%s)", len(pairs), where["source"])
    inferred = infer_moves(loaded.world_model, pairs.frames, pairs.states, pairs.next_frames,
                           infer_planner(cfg.infer), cfg.seed)  # [K, 7]
    executed_xyz, inferred_xyz = pairs.executed[:, XYZ], inferred[:, XYZ]
    camera = cfg.camera or ("ext1" if cfg.episode is None else str(where.get("camera") or "camera"))
    calibration = fit_calibration(
        executed_xyz, inferred_xyz, cfg.fit, cfg.scale, camera=camera, model_id=loaded.model_id,
        created=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), info={"probes": where},
    )
    calibrated = calibration.to_robot(np.pad(inferred_xyz, ((0, 0), (0, 4))))[:, XYZ]
    loo = _leave_one_out(executed_xyz, inferred_xyz, cfg)
    errors = {"before": move_errors(executed_xyz, inferred_xyz), "after": move_errors(executed_xyz, calibrated)}
    if loo is not None:
        errors["after_leave_one_out"] = move_errors(executed_xyz, loo)
    out = Path(cfg.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    calibration.save(out)
    report = {
        "calibration": calibration.to_dict(),
        "errors": errors,
        "pairs": [{"where": w, "executed": np.round(e, 5).tolist(), "inferred": np.round(i, 5).tolist(),
                   "calibrated": np.round(c, 5).tolist()}
                  for w, e, i, c in zip(pairs.where, executed_xyz, inferred_xyz, calibrated)],
        "model": {"model_id": loaded.model_id, "source": loaded.source},
        "config": to_dict(cfg),
    }
    atomic_write_json(probes_path(out), report)
    return report


def probes_path(out: Path) -> Path:
    """Where the report of calibration ``out`` goes: ``<stem>.probes.json`` beside it."""
    return Path(out).with_name(Path(out).stem + ".probes.json")


def describe(calibration: Calibration | dict) -> str:
    """One line about a calibration (the command's output)."""
    c = calibration if isinstance(calibration, dict) else calibration.to_dict()
    return (f"{c['fit']} {c['yaw_deg']:+.1f} deg, scale {c['scale']:.3f} (estimate {c['scale_estimate']:.3f}), "
            f"residual {100 * c['residual_m']:.2f} cm over {c['probes']} moves "
            f"(before: {100 * c['error_before_m']:.2f} cm)")

