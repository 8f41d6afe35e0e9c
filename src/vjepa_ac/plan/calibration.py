"""The action-frame calibration: the rotation (and scale) between the moves a world model infers
from a camera and the moves the robot executed, its fit, its file, and its use on planned actions.

A world model trained on DROID infers the xyz part of an action in a frame that turns with the
camera's angle around the robot's base (V-JEPA 2, arXiv 2506.09985, App. B.4: ~1.6 cm error on
~5 cm moves when the camera stands elsewhere). With executed moves ``m [K, 3]`` (robot base
frame, m) and the moves the model infers for them ``p [K, 3]`` (``vjepa-ac calibrate``), the fit
is the least-squares map

    p_k ~= s R m_k        R: robot -> model frame (rotation), s > 0: isotropic scale

(Kabsch 1976 / Umeyama 1991 without translation: moves are displacements, so no centring),
either a full 3-D rotation (``fit="rotation"``, needs moves spanning 3-D) or a yaw about the
base's z axis only (``fit="yaw"``, the default: the paper's effect is a turn about the vertical,
and two non-parallel horizontal moves determine it).

The planner keeps planning in the model's frame; the robot executes ``to_robot(a)``:
the xyz part becomes ``R^T a_xyz / s`` (the move the model would see as ``a_xyz``); rotation and
gripper pass unchanged. ``calibration.json`` (``save`` / ``load_calibration``) holds R, s, the
residual and where it came from; ``plan``, ``serve`` and ``eval sim`` take ``--calibration``.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from vjepa_ac.atomic import atomic_write_json
from vjepa_ac.plan.actions import ACTION_DIM, XYZ

FORMAT = "vjepa_ac.calibration/1"
FitKind = Literal["yaw", "rotation"]
FIT_KINDS: tuple[str, ...] = ("yaw", "rotation")
MIN_MOVE = 0.005  # m: executed moves shorter than this say nothing about a direction
_RANK_RATIO = 0.1  # smallest / largest singular value of the moves' spread a fit accepts
_SCALE_RANGE = (0.2, 5.0)  # a stored scale outside this is a broken fit, not a camera


class CalibrationError(ValueError):
    """Moves that cannot determine a calibration (too few, degenerate, not finite)."""


@dataclass(frozen=True)
class Calibration:
    """One robot setup's action-frame calibration (see the module doc).

    rotation: [3, 3] R, robot base frame -> the model's inferred frame (proper: det +1)
    scale: s, inferred length / executed length (1.0 when the scale is not applied)
    fit: "yaw" or "rotation"; yaw_deg: the rotation's angle about z (deg, for reading)
    residual_m: RMS of |p - s R m| over the probes (m); error_before_m: RMS of |p - m| (m)
    probes: moves used; camera / model_id / created: where and when it was measured
    """

    rotation: tuple[tuple[float, ...], ...]
    scale: float = 1.0
    fit: str = "yaw"
    yaw_deg: float = 0.0
    residual_m: float = 0.0
    error_before_m: float = 0.0
    scale_estimate: float = 1.0  # the fitted s, also when it is not applied (scale = 1)
    probes: int = 0
    camera: str = ""
    model_id: str = ""
    created: str = ""
    warnings: tuple[str, ...] = ()  # what makes the fit doubtful (a scale far from 1)
    info: dict[str, Any] = field(default_factory=dict)  # anything else worth keeping (source, lab, ...)

    @property
    def matrix(self) -> np.ndarray:
        return np.asarray(self.rotation, dtype=np.float64)  # [3, 3]

    def to_robot(self, actions: np.ndarray) -> np.ndarray:
        """Planned actions (model frame) -> what the robot executes: ``[..., 7]`` with xyz
        replaced by ``R^T xyz / s``; rotation and gripper unchanged. Returns a new float64 array."""
        a = np.array(actions, dtype=np.float64)  # copy
        if a.shape[-1] != ACTION_DIM:
            raise ValueError(f"Calibration.to_robot: actions must be [..., {ACTION_DIM}], got {a.shape}")
        a[..., XYZ] = a[..., XYZ] @ self.matrix / self.scale  # row vectors: x @ R == (R^T x^T)^T
        return a

    def to_model(self, actions: np.ndarray) -> np.ndarray:
        """The inverse of ``to_robot``: executed robot actions -> the model's frame (``s R xyz``)."""
        a = np.array(actions, dtype=np.float64)
        if a.shape[-1] != ACTION_DIM:
            raise ValueError(f"Calibration.to_model: actions must be [..., {ACTION_DIM}], got {a.shape}")
        a[..., XYZ] = self.scale * a[..., XYZ] @ self.matrix.T
        return a

    def summary(self) -> dict[str, Any]:
        """What results files and /metadata report about it."""
        return {"fit": self.fit, "yaw_deg": round(self.yaw_deg, 3), "scale": self.scale,
                "residual_m": self.residual_m, "probes": self.probes, "camera": self.camera,
                "model_id": self.model_id, "created": self.created}

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["rotation"] = [list(r) for r in self.rotation]
        d["warnings"] = list(self.warnings)
        return {"format": FORMAT, **d}

    def save(self, path: str | Path) -> Path:
        """Write ``path`` (JSON, atomically)."""
        return atomic_write_json(path, self.to_dict())


def identity() -> Calibration:
    """No correction (R = I, s = 1)."""
    return Calibration(rotation=tuple(map(tuple, np.eye(3))), fit="yaw", info={"identity": True})


def _yaw_matrix(theta: float) -> np.ndarray:
    c, s = math.cos(theta), math.sin(theta)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def yaw_of(rotation: np.ndarray) -> float:
    """Angle (deg) of a rotation's turn about z, read from how it moves the x axis in the xy plane."""
    return math.degrees(math.atan2(rotation[1, 0], rotation[0, 0]))


def _checked_moves(executed: np.ndarray, inferred: np.ndarray, fit: str) -> tuple[np.ndarray, np.ndarray]:
    m, p = np.asarray(executed, dtype=np.float64), np.asarray(inferred, dtype=np.float64)
    if m.ndim != 2 or m.shape[1] != 3 or p.shape != m.shape:
        raise CalibrationError(f"executed and inferred moves must both be [K, 3], got {m.shape} and {p.shape}")
    if not (np.isfinite(m).all() and np.isfinite(p).all()):
        raise CalibrationError("executed or inferred moves are not finite")
    if fit not in FIT_KINDS:
        raise CalibrationError(f"fit must be one of {list(FIT_KINDS)}, got {fit!r}")
    keep = np.linalg.norm(m, axis=1) >= MIN_MOVE
    m, p = m[keep], p[keep]
    span = m[:, :2] if fit == "yaw" else m  # yaw: only the horizontal parts tell the angle
    need = 2 if fit == "yaw" else 3
    sv = np.linalg.svd(span, compute_uv=False) if len(m) else np.zeros(0)
    if len(m) < need or sv[0] < MIN_MOVE or sv[need - 1] < _RANK_RATIO * sv[0]:
        what = "two non-parallel horizontal moves" if fit == "yaw" else "moves along three independent directions"
        raise CalibrationError(f"a {fit} fit needs {what} of at least {100 * MIN_MOVE:.1f} cm; got {len(m)} "
                               f"usable moves whose spread has singular values {np.round(sv, 4).tolist()}")
    if np.linalg.norm(p, axis=1).max() < MIN_MOVE:
        raise CalibrationError(f"every inferred move is shorter than {100 * MIN_MOVE:.1f} cm: the model does not "
                               "see the probe moves (wrong camera, crop or model?)")
    return m, p


def fit_calibration(executed: np.ndarray, inferred: np.ndarray, fit: FitKind = "yaw", with_scale: bool = False,
                    **meta: Any) -> Calibration:
    """Least-squares ``inferred ~= s R executed`` (module doc) from ``executed [K, 3]`` and
    ``inferred [K, 3]`` xyz moves (m). Moves shorter than ``MIN_MOVE`` are dropped.

    fit: ``"yaw"`` (R a turn about z; the z parts enter only the scale) or ``"rotation"``
        (any proper rotation: Kabsch's SVD with the reflection fix, det R = +1)
    with_scale: apply the fitted s (else s = 1; the estimate is kept in ``scale_estimate``)
    meta: further ``Calibration`` fields (camera, model_id, created, info)
    Raises ``CalibrationError`` for too few or degenerate moves (all parallel, all too short,
    inferred moves all ~0) or, with ``with_scale``, a fitted scale outside ``_SCALE_RANGE`` (without
    it, such a scale is only recorded in ``warnings``).
    """
    m, p = _checked_moves(executed, inferred, fit)
    if fit == "yaw":
        # argmin_theta sum |p_xy - Rz(theta) m_xy|^2: theta = atan2(sum m x p (z comp.), sum m . p)
        cross = float(np.sum(m[:, 0] * p[:, 1] - m[:, 1] * p[:, 0]))
        dot = float(np.sum(m[:, 0] * p[:, 0] + m[:, 1] * p[:, 1]))
        rotation = _yaw_matrix(math.atan2(cross, dot))
    else:
        # Kabsch: H = sum m_k p_k^T = U S V^T, R = V diag(1, 1, det(V U^T)) U^T
        u, _, vt = np.linalg.svd(m.T @ p)
        d = np.sign(np.linalg.det(vt.T @ u.T)) or 1.0
        rotation = vt.T @ np.diag([1.0, 1.0, d]) @ u.T
    rotated = m @ rotation.T  # [K, 3] R m_k
    s = float(np.sum(rotated * p) / np.sum(m * m))  # Umeyama's scale for a fixed R
    warnings = list(meta.pop("warnings", []))
    if not _SCALE_RANGE[0] <= s <= _SCALE_RANGE[1]:
        message = (f"the fitted scale {s:.3f} (inferred / executed length) is outside {_SCALE_RANGE}: the inferred "
                   "moves hardly follow the executed ones (an untrained model, another camera or crop?)")
        if with_scale:
            raise CalibrationError(message)
        warnings.append(message)
    applied = s if with_scale else 1.0
    residual = float(np.sqrt(np.mean(np.sum((p - applied * rotated) ** 2, axis=1))))
    before = float(np.sqrt(np.mean(np.sum((p - m) ** 2, axis=1))))
    return Calibration(rotation=tuple(map(tuple, rotation.tolist())), scale=applied, fit=fit,
                       yaw_deg=yaw_of(rotation), residual_m=residual, error_before_m=before, scale_estimate=s,
                       probes=len(m), warnings=tuple(warnings), **meta)


def move_errors(executed: np.ndarray, inferred: np.ndarray) -> dict[str, float]:
    """How far ``inferred [K, 3]`` moves are from ``executed [K, 3]`` ones: mean |p - m| (cm) and
    mean angle between them (deg, over moves of both at least ``MIN_MOVE``)."""
    m, p = np.asarray(executed, dtype=np.float64), np.asarray(inferred, dtype=np.float64)
    err = np.linalg.norm(p - m, axis=1)
    nm, np_ = np.linalg.norm(m, axis=1), np.linalg.norm(p, axis=1)
    ok = (nm >= MIN_MOVE) & (np_ >= MIN_MOVE)
    cos = np.sum(m[ok] * p[ok], axis=1) / (nm[ok] * np_[ok])
    angle = np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))
    return {"error_cm": float(100 * err.mean()), "angle_deg": float(angle.mean()) if ok.any() else float("nan"),
            "executed_cm": float(100 * nm.mean()), "inferred_cm": float(100 * np_.mean())}


def _field(d: dict, key: str, path: Path) -> Any:
    if key not in d:
        raise ValueError(f"{path}: calibration field {key!r} is missing")
    return d[key]


def load_calibration(path: str | Path) -> Calibration:
    """Read a ``calibration.json``; errors name the file and the field (a missing file: OSError)."""
    path = Path(path)
    try:
        d = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not a calibration file (invalid JSON: {e})") from e
    if not isinstance(d, dict) or d.get("format") != FORMAT:
        got = d.get("format") if isinstance(d, dict) else type(d).__name__
        raise ValueError(f"{path}: field 'format' must be {FORMAT!r} (a file of vjepa-ac calibrate), got {got!r}")
    r = np.asarray(_field(d, "rotation", path), dtype=object)
    try:
        r = r.astype(np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{path}: field 'rotation' must be a 3x3 matrix of numbers") from None
    if r.shape != (3, 3) or not np.isfinite(r).all():
        raise ValueError(f"{path}: field 'rotation' must be a finite 3x3 matrix, got shape {r.shape}")
    if np.abs(r @ r.T - np.eye(3)).max() > 1e-4 or np.linalg.det(r) < 0:
        raise ValueError(f"{path}: field 'rotation' is not a proper rotation (R R^T = I, det +1)")
    scale = _field(d, "scale", path)
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not _SCALE_RANGE[0] <= scale <= _SCALE_RANGE[1]:
        raise ValueError(f"{path}: field 'scale' must be a number in {list(_SCALE_RANGE)}, got {scale!r}")
    if d.get("fit", "yaw") not in FIT_KINDS:
        raise ValueError(f"{path}: field 'fit' must be one of {list(FIT_KINDS)}, got {d.get('fit')!r}")
    known = set(Calibration.__dataclass_fields__)
    unknown = sorted(set(d) - known - {"format"})
    if unknown:
        raise ValueError(f"{path}: unknown calibration field(s) {unknown}")
    fields = {k: v for k, v in d.items() if k in known}
    fields["rotation"] = tuple(map(tuple, r.tolist()))
    fields["scale"] = float(scale)
    fields["warnings"] = tuple(fields.get("warnings") or ())
    try:
        return Calibration(**fields)
    except TypeError as e:
        raise ValueError(f"{path}: {e}") from e
