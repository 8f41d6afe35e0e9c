"""The gradient planner (projected Adam) against the analytic toy world model."""

import pytest
import torch

from plan_helpers import RecordingModel, context_at, gen, target_from
from vjepa_ac.plan.actions import GRIPPER_DIM, ROT, XYZ
from vjepa_ac.plan.config import GradientConfig, PlannerSpec
from vjepa_ac.plan.gradient import gradient_plan
from vjepa_ac.plan.mpc import plan_actions



@pytest.mark.parametrize("energy", ["l1", "l2"])
@pytest.mark.parametrize("tokens", ["per_token", "pooled"])
def test_gradient_finds_a_reachable_optimum(toy, start, energy, tokens):
    """Target inside the L1 ball, gripper unchanged: Adam from zero lands within 1.5 mm."""
    target = target_from(start, (0.03, -0.02, 0.01))
    cfg = GradientConfig(energy=energy, energy_tokens=tokens, lr=0.002, iterations=300)
    res = gradient_plan(toy, context_at(toy, start), toy.embed(target), cfg, gen(0))
    assert res.actions.shape == (1, 7) and res.iter_best_energy.shape == (300,)
    torch.testing.assert_close(res.actions[0, XYZ], target[XYZ] - start[XYZ], atol=1.5e-3, rtol=0)
    assert res.energy < 0.05 * float(res.iter_best_energy[0])


def test_random_restarts_escape_the_local_minimum_of_a_gripper_goal(toy, start):
    """Closing the gripper is a non-convex goal on the toy: one sequence from zero stalls, four
    random restarts reach the target (the best restart is returned)."""
    target = target_from(start, (0.03, -0.02, 0.01), gripper=1.0)
    ctx, goal = context_at(toy, start), toy.embed(target)
    single = gradient_plan(toy, ctx, goal, GradientConfig(), gen(0))
    multi = gradient_plan(toy, ctx, goal, GradientConfig(num_samples=4, init="random", iterations=200), gen(0))
    assert multi.energy < 0.1 * single.energy
    torch.testing.assert_close(multi.actions[0, XYZ], target[XYZ] - start[XYZ], atol=2e-3, rtol=0)
    assert multi.actions[0, GRIPPER_DIM] > 0.95


def test_every_iterate_stays_in_bounds_and_unsearched_dims_stay_zero(toy, start):
    """A far target: the plan sits on the L1 sphere, rotation is never moved."""
    target = target_from(start, (0.3, 0.3, -0.3), gripper=1.0)
    cfg = GradientConfig(num_samples=3, init="random", iterations=30, action_noise=0.01, horizon=2)
    rec = RecordingModel(toy)
    res = gradient_plan(toy, context_at(toy, start), toy.embed(target), cfg, gen(0))
    for batch in [res.actions[None], res.best_actions[None]]:
        assert (batch[..., XYZ].abs().sum(-1) <= cfg.xyz_radius + 1e-6).all()
        assert (batch[..., ROT] == 0).all()
        assert (batch[..., GRIPPER_DIM].abs() <= cfg.gripper_limit + 1e-7).all()
    assert float(res.actions[0, XYZ].abs().sum()) == pytest.approx(0.075, abs=1e-3)
    assert not rec.batches  # the recording wrapper was not used (no rollout_differentiable)


def test_deterministic_for_a_seed_and_dispatched_by_plan_actions(toy, start):
    target = target_from(start, (0.02, 0.02, 0.0))
    cfg = PlannerSpec("gradient", overrides={"num_samples": 2, "init": "random", "iterations": 20}).resolve()
    args = (toy, context_at(toy, start), toy.embed(target), cfg)
    a, b, c = plan_actions(*args, gen(3)), plan_actions(*args, gen(3)), plan_actions(*args, gen(4))
    assert isinstance(cfg, GradientConfig) and torch.equal(a.actions, b.actions)
    assert not torch.equal(a.actions, c.actions)


def test_gradients_flow_under_no_grad(toy, start):
    """The server and eval offline plan under torch.no_grad: the planner switches autograd on."""
    target = target_from(start, (0.02, 0.0, 0.0))
    with torch.no_grad():
        res = gradient_plan(toy, context_at(toy, start), toy.embed(target), GradientConfig(), gen(0))
    assert res.energy < 0.2 * float(res.iter_best_energy[0])


def test_needs_a_differentiable_world_model(toy, start):
    with pytest.raises(TypeError, match="rollout_differentiable"):
        gradient_plan(RecordingModel(toy), context_at(toy, start), toy.embed(start), GradientConfig(), gen(0))


def test_config_errors_name_the_field():
    with pytest.raises(ValueError, match="GradientConfig.lr"):
        GradientConfig(lr=0)
    with pytest.raises(ValueError, match="GradientConfig.betas"):
        GradientConfig(betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="GradientConfig.action_noise"):
        GradientConfig(action_noise=-1)
