import pytest
import torch

from vjepa_ac.plan.actions import (
    ACTION_DIM, GRIPPER_DIM, ROT, XYZ, group_mask, project_l1_ball, rescale_to_l1_ball,
)


def test_layout_names_cover_the_action_once():
    dims = list(range(ACTION_DIM))[XYZ] + list(range(ACTION_DIM))[ROT] + [GRIPPER_DIM]
    assert dims == list(range(ACTION_DIM))
    assert group_mask(("xyz", "gripper")).tolist() == [True] * 3 + [False] * 3 + [True]
    with pytest.raises(ValueError, match="unknown action group"):
        group_mask(("yaw",))


@pytest.mark.parametrize("x, expected", [
    ((1.0, 0.0, 0.0), (0.075, 0.0, 0.0)),
    ((1.0, -1.0, 0.0), (0.0375, -0.0375, 0.0)),
    ((0.1, 0.01, 0.0), (0.075, 0.0, 0.0)),  # small coordinate falls below the threshold
    ((0.02, -0.03, 0.01), (0.02, -0.03, 0.01)),  # inside: unchanged
])
def test_l1_projection_known_points(x, expected):
    p = project_l1_ball(torch.tensor([x], dtype=torch.float64), 0.075)
    torch.testing.assert_close(p, torch.tensor([expected], dtype=torch.float64))


def test_l1_projection_is_the_closest_point_of_the_ball():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(200, 3, generator=g, dtype=torch.float64) * 0.1  # [200, 3]
    r = 0.075
    p = project_l1_ball(x, r)
    norms = p.abs().sum(-1)
    assert (norms <= r + 1e-12).all()
    outside = x.abs().sum(-1) > r
    torch.testing.assert_close(norms[outside], torch.full_like(norms[outside], r))
    torch.testing.assert_close(p[~outside], x[~outside])
    # no feasible point is closer: compare with many random points of the ball
    q = torch.randn(5000, 3, generator=g, dtype=torch.float64)
    q = q / q.abs().sum(-1, keepdim=True) * r * torch.rand(5000, 1, generator=g, dtype=torch.float64)
    d_p = (x - p).norm(dim=-1)  # [200]
    d_q = torch.cdist(x, q).min(dim=1).values  # [200]
    assert (d_p <= d_q + 1e-12).all()
    # idempotent, and batched over leading dims
    torch.testing.assert_close(project_l1_ball(p, r), p)
    torch.testing.assert_close(project_l1_ball(x.reshape(20, 10, 3), r), p.reshape(20, 10, 3))


def test_l1_rescale_keeps_direction():
    x = torch.tensor([[0.3, -0.1, 0.2], [0.01, 0.0, 0.02]])
    y = rescale_to_l1_ball(x, 0.075)
    torch.testing.assert_close(y[0], x[0] * 0.075 / 0.6)
    torch.testing.assert_close(y[1], x[1])
