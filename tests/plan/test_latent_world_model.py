"""The planners' adapter over the real encoder + predictor."""

import numpy as np
import torch

from vjepa_ac.data.poses import apply_actions
from vjepa_ac.models.encoder import EncoderConfig, VisionTransformer
from vjepa_ac.models.predictor import ACPredictor, PredictorConfig, normalize_reps
from vjepa_ac.plan import Context
from vjepa_ac.plan.config import CEMConfig
from vjepa_ac.plan.interface import WorldModel as WorldModelProtocol
from vjepa_ac.plan.mpc import Planner
from vjepa_ac.plan.world_model import LatentWorldModel


def _wm():
    torch.manual_seed(0)
    enc = VisionTransformer(EncoderConfig(img_size=64, embed_dim=48, depth=2, num_heads=2))
    pred = ACPredictor(PredictorConfig(img_size=(64, 64), embed_dim=48, width=64, depth=2, num_heads=2))
    return LatentWorldModel(enc, pred)


def test_adapter_satisfies_the_planner_protocol_and_shapes():
    wm = _wm()
    assert isinstance(wm, WorldModelProtocol)
    img = torch.randint(0, 255, (2, 96, 128, 3), dtype=torch.uint8)
    z = wm.encode(img)
    assert z.shape == (2, 16, 48)
    torch.testing.assert_close(z, normalize_reps(z))
    torch.testing.assert_close(wm.encode(img.permute(0, 3, 1, 2)), z)
    ctx = Context.single(z[0], torch.tensor([0.5, 0.0, 0.3, 3.1, 0.0, 0.0, 0.2]))
    out = wm.rollout(ctx, torch.zeros(5, 2, 7))
    assert out.shape == (5, 2, 16, 48)


def test_rollout_advances_the_pose_with_apply_actions():
    wm = _wm()
    seen = []
    pred = wm.model.predictor
    orig = pred.forward

    def spy(z, actions, states, *a, **k):
        seen.append(states.clone())
        return orig(z, actions, states, *a, **k)

    pred.forward = spy
    s0 = torch.tensor([0.5, 0.0, 0.3, 3.1, 0.1, -0.2, 0.2])
    acts = torch.tensor([[[0.01, 0.02, -0.03, 0.1, 0.0, 0.05, 0.3], [0.0, 0.01, 0.0, 0.0, 0.0, 0.0, -0.1]]])
    wm.rollout(Context.single(torch.zeros(16, 48), s0), acts)
    torch.testing.assert_close(seen[1][:, 0], apply_actions(s0[None], acts[:, 0]))


def test_planner_runs_end_to_end_on_images():
    wm = _wm()
    cfg = CEMConfig(num_samples=16, iterations=2, num_elites=4, horizon=1)
    policy = Planner(wm, cfg)
    rng = np.random.default_rng(0)
    obs = {"image": rng.integers(0, 255, (64, 64, 3), dtype=np.uint8), "state": np.zeros(7)}
    action = policy(obs, rng.integers(0, 255, (64, 64, 3), dtype=np.uint8))
    assert action.shape == (7,) and np.all(action[3:6] == 0)
    assert np.abs(action[:3]).sum() <= 0.075 + 1e-6


def test_differentiable_rollout_reaches_the_actions_and_the_gradient_planner_runs():
    """Gradients of the energy flow through the predictor and the pose advance to the actions;
    ``rollout`` itself records nothing; the gradient planner plans on the real model."""
    from vjepa_ac.plan.config import GradientConfig
    from vjepa_ac.plan.gradient import gradient_plan
    from vjepa_ac.plan.interface import DifferentiableRolloutModel

    wm = _wm()
    assert isinstance(wm, DifferentiableRolloutModel)
    img = torch.randint(0, 255, (2, 64, 64, 3), dtype=torch.uint8)
    z = wm.encode(img)
    ctx = Context.single(z[0], torch.tensor([0.5, 0.0, 0.3, 3.1, 0.0, 0.0, 0.2]))
    actions = (0.01 * torch.randn(3, 2, 7)).requires_grad_(True)
    out = wm.rollout_differentiable(ctx, actions)
    (g,) = torch.autograd.grad((out[:, -1] - z[1]).abs().mean(), actions)
    assert g.shape == (3, 2, 7) and g[:, 0].abs().sum() > 0 and g[:, 1].abs().sum() > 0
    torch.testing.assert_close(out.detach(), wm.rollout(ctx, actions.detach()))
    assert not wm.rollout(ctx, actions).requires_grad
    res = gradient_plan(wm, ctx, z[1], GradientConfig(iterations=5, lr=0.01), torch.Generator().manual_seed(0))
    assert res.actions.shape == (1, 7) and res.energy <= float(res.iter_best_energy[0]) + 1e-6


def test_bf16_scoring_runs_under_autocast_and_the_plan_is_rescored_in_fp32():
    """``precision='bf16'``: candidate energies come from bfloat16 rollouts (close to, not equal
    to fp32's), while the returned plan's energy is its fp32 energy."""
    import pytest

    from vjepa_ac.plan.cem import cem
    from vjepa_ac.plan.config import GradientConfig
    from vjepa_ac.plan.sampling import score

    wm = _wm()
    g = torch.Generator().manual_seed(0)
    z0, goal = normalize_reps(torch.randn(2, 16, 48, generator=g))
    ctx = Context.single(z0, torch.tensor([0.5, 0.0, 0.3, 3.1, 0.0, 0.0, 0.2]))
    cfg = CEMConfig(num_samples=32, iterations=2, num_elites=4, horizon=2, precision="bf16")
    acts = torch.randn(32, 2, 7, generator=g) * 0.03
    e32 = score(wm, ctx, acts, goal, cfg, precision="fp32")
    e16 = score(wm, ctx, acts, goal, cfg)
    assert e16.dtype == torch.float32 and not torch.equal(e16, e32)
    torch.testing.assert_close(e16, e32, rtol=0.05, atol=0)
    res = cem(wm, ctx, goal, cfg, torch.Generator().manual_seed(1))
    assert res.energy == float(score(wm, ctx, res.actions[None], goal, cfg, precision="fp32")[0])
    with pytest.raises(ValueError, match="precision"):
        CEMConfig(precision="fp16")
    with pytest.raises(ValueError, match="GradientConfig.precision"):
        GradientConfig(precision="bf16")
