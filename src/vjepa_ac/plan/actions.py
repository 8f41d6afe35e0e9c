"""The 7-D end-effector action layout, named once, and the feasible-set maps planners use.

An action is ``[dx, dy, dz, droll, dpitch, dyaw, dgripper]``: an xyz displacement in metres,
the extrinsic "xyz" Euler angles (radians) of the relative rotation ``R_{t+1} R_t^T``, and a
change of gripper closure (state 0 open .. 1 closed). States use the same layout with absolute
values (REFERENCE.md section 6). Planner code indexes actions only through the names below.
"""

from __future__ import annotations

import torch
from torch import Tensor

# the layout is defined once, with the pose math: XYZ, ROT, GRIPPER are slices, GRIPPER_DIM an index
from vjepa_ac.data.poses import ACTION_DIM, GRIPPER, GRIPPER_DIM, ROT, XYZ  # noqa: F401

# Names a config uses to choose searched groups, and the dims each covers.
GROUPS: dict[str, slice] = {"xyz": XYZ, "rot": ROT, "gripper": GRIPPER}


def group_mask(groups: tuple[str, ...] | list[str], device: torch.device | str | None = None) -> Tensor:
    """Boolean ``[ACTION_DIM]`` mask, True on the dims of the named groups."""
    mask = torch.zeros(ACTION_DIM, dtype=torch.bool, device=device)
    for name in groups:
        if name not in GROUPS:
            raise ValueError(f"unknown action group {name!r}; valid: {sorted(GROUPS)}")
        mask[GROUPS[name]] = True
    return mask


def project_l1_ball(x: Tensor, radius: float) -> Tensor:
    """Euclidean projection of each row of ``x [..., k]`` onto ``{v : |v|_1 <= radius}``.

    Exact: the closest point of the ball (Duchi et al. 2008, sort-based, O(k log k)). Points
    inside are returned unchanged; points outside land on the ball's surface, where
    coordinates smaller than a shared threshold ``theta`` become 0 (faces, edges, vertices).
    """
    if radius <= 0:
        raise ValueError(f"radius must be > 0, got {radius}")
    a = x.abs()
    k = x.shape[-1]
    u, _ = torch.sort(a, dim=-1, descending=True)  # [..., k]
    css = u.cumsum(dim=-1) - radius  # [..., k]
    j = torch.arange(1, k + 1, device=x.device, dtype=x.dtype)  # [k]
    # rho = number of coordinates kept: the largest j with u_j > css_j / j
    cond = u * j > css  # [..., k]
    rho = torch.where(cond, j, torch.ones_like(j)).amax(dim=-1, keepdim=True).to(torch.int64)  # [..., 1]
    theta = css.gather(-1, rho - 1) / rho.to(x.dtype)  # [..., 1]
    projected = torch.sign(x) * (a - theta).clamp(min=0)
    outside = a.sum(dim=-1, keepdim=True) > radius  # [..., 1]
    return torch.where(outside, projected, x)


def rescale_to_l1_ball(x: Tensor, radius: float) -> Tensor:
    """Shrink each row of ``x [..., k]`` whose L1 norm exceeds ``radius`` onto the surface.

    Keeps the direction of the displacement (not the closest point of the ball).
    """
    if radius <= 0:
        raise ValueError(f"radius must be > 0, got {radius}")
    norm = x.abs().sum(dim=-1, keepdim=True)  # [..., 1]
    scale = (radius / norm.clamp(min=torch.finfo(x.dtype).tiny)).clamp(max=1.0)
    return x * scale
