"""Turning a lab's ext1 camera around the workspace, for labs whose camera stands at other angles
around the robot's base than any training lab's (the action-frame calibration, issue 15).

The camera keeps its height, its distance from the point it looks at and that point; only its
azimuth changes: ``pos`` turns by ``degrees`` about the vertical line through ``target``
(counter-clockwise seen from above, so positive degrees move ext1, which stands at the robot's
left, +y, toward and past the robot's side and back). Its view direction turns by the same
angle about the base's z axis, which is what the inferred action frame follows (V-JEPA 2,
App. B.4). The results go into ``SimConfig.ext1_pos`` / ``ext1_target``.
"""

from __future__ import annotations

import math

from vjepa_ac.sim.labs import LabSpec, get_lab


def ext1_azimuth(lab: LabSpec | str) -> float:
    """Azimuth (deg) of ext1 seen from the point it looks at: 0 in front of the robot (+x), 90 at its left."""
    lab = get_lab(lab) if isinstance(lab, str) else lab
    (x, y, _), (tx, ty, _) = lab.ext1.pos, lab.ext1.target
    return math.degrees(math.atan2(y - ty, x - tx))


def turned_ext1(lab: LabSpec | str, degrees: float) -> dict[str, tuple[float, float, float]]:
    """``{"ext1_pos": ..., "ext1_target": ...}`` (m, SimConfig overrides): ``lab``'s ext1 turned by
    ``degrees`` about the vertical through its target (the module doc)."""
    lab = get_lab(lab) if isinstance(lab, str) else lab
    (x, y, z), target = lab.ext1.pos, lab.ext1.target
    tx, ty, _ = target
    c, s = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    dx, dy = x - tx, y - ty
    pos = (tx + c * dx - s * dy, ty + s * dx + c * dy, z)
    return {"ext1_pos": tuple(round(v, 6) for v in pos), "ext1_target": tuple(float(v) for v in target)}
