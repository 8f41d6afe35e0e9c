"""The NeverGrad planner (NGOpt by default) against the analytic toy world model."""

import builtins

import pytest
import torch

from plan_helpers import RecordingModel, context_at, gen, target_from
from vjepa_ac.plan.actions import GRIPPER_DIM, ROT, XYZ
from vjepa_ac.plan.config import NeverGradConfig, PlannerSpec
from vjepa_ac.plan.energy import l1_energy
from vjepa_ac.plan.mpc import plan_actions
from vjepa_ac.plan.nevergrad_planner import import_nevergrad, nevergrad_plan

pytest.importorskip("nevergrad")



@pytest.mark.parametrize("energy", ["l1", "l2"])
@pytest.mark.parametrize("tokens", ["per_token", "pooled"])
def test_ngopt_finds_a_reachable_optimum(toy, start, energy, tokens):
    """Target inside the ball: NGOpt's recommendation lands within 1.5 cm and closes the gripper."""
    target = target_from(start, (0.03, -0.02, 0.01), 1.0)
    cfg = NeverGradConfig(num_samples=200, iterations=10, energy=energy, energy_tokens=tokens)
    ctx, goal = context_at(toy, start), toy.embed(target)
    res = nevergrad_plan(toy, ctx, goal, cfg, gen(0))
    assert res.actions.shape == (1, 7) and res.iter_best_energy.shape == (10,)
    torch.testing.assert_close(res.actions[0, XYZ], target[XYZ] - start[XYZ], atol=1.5e-2, rtol=0)
    assert res.actions[0, GRIPPER_DIM] > 0.9
    zero = l1_energy(toy.rollout(ctx, torch.zeros(1, 1, 7))[:, -1], goal)
    assert res.energy < 0.2 * float(zero) if energy == "l1" else res.energy < float(res.iter_best_energy[0])


def test_select_best_is_the_best_scored_candidate(toy, start):
    target = target_from(start, (0.02, 0.01, 0.0), 0.0)
    cfg = NeverGradConfig(num_samples=50, iterations=4, select="best")
    res = nevergrad_plan(toy, context_at(toy, start), toy.embed(target), cfg, gen(0))
    torch.testing.assert_close(res.actions, res.best_actions)
    assert res.energy == pytest.approx(res.best_energy, abs=1e-6)
    assert res.best_energy == pytest.approx(float(res.iter_best_energy.min()), abs=1e-7)


def test_every_candidate_respects_bounds_and_the_budget(toy, start):
    target = target_from(start, (0.3, 0.3, -0.3), 1.0)
    cfg = NeverGradConfig(num_samples=40, iterations=3, horizon=2)
    rec = RecordingModel(toy)
    res = nevergrad_plan(rec, context_at(toy, start), toy.embed(target), cfg, gen(0))
    assert [b.shape[0] for b in rec.batches] == [40, 40, 40, 1]  # S per iteration + the re-scored plan
    for batch in rec.batches + [res.actions[None]]:
        assert (batch[..., XYZ].abs().sum(-1) <= cfg.xyz_radius + 1e-6).all()
        assert (batch[..., ROT] == 0).all()
        assert (batch[..., GRIPPER_DIM].abs() <= cfg.gripper_limit + 1e-7).all()


def test_deterministic_for_a_seed_and_dispatched_by_plan_actions(toy, start):
    target = target_from(start, (0.05, 0.0, 0.0), 0.0)
    cfg = PlannerSpec("nevergrad", overrides={"num_samples": 30, "iterations": 3}).resolve()
    args = (toy, context_at(toy, start), toy.embed(target), cfg)
    a, b, c = plan_actions(*args, gen(1)), plan_actions(*args, gen(1)), plan_actions(*args, gen(2))
    assert isinstance(cfg, NeverGradConfig) and torch.equal(a.actions, b.actions)
    assert not torch.equal(a.actions, c.actions)


def test_warm_start_is_the_optimisers_starting_point(toy, start):
    target = target_from(start, (0.04, 0.0, 0.0), 0.0)
    init = torch.zeros(1, 7)
    init[0, 0] = 0.04
    cfg = NeverGradConfig(num_samples=10, iterations=1, select="best")
    ctx, goal = context_at(toy, start), toy.embed(target)
    warm = nevergrad_plan(toy, ctx, goal, cfg, gen(0), init_mean=init)
    cold = nevergrad_plan(toy, ctx, goal, cfg, gen(0))
    assert warm.best_energy < 0.5 * cold.best_energy  # NGOpt samples around its starting point


def test_unknown_optimizer_and_missing_library_errors_name_them(toy, start, monkeypatch):
    with pytest.raises(ValueError, match="NeverGradConfig.optimizer"):
        nevergrad_plan(toy, context_at(toy, start), toy.embed(start), NeverGradConfig(optimizer="NoSuch"), gen(0))
    real_import = builtins.__import__

    def no_nevergrad(name, *args, **kwargs):
        if name == "nevergrad":
            raise ImportError("No module named 'nevergrad'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_nevergrad)
    with pytest.raises(ImportError, match=r"vjepa-ac\[nevergrad\]"):
        import_nevergrad()


def test_ngopt_delegating_to_metamodel_is_replaced_by_diagonal_cma():
    """At the planners' budgets NGOpt (nevergrad 1.0.x) picks MetaModel; as jepa-wms, we run
    DiagonalCMA instead."""
    import numpy as np

    from vjepa_ac.plan.nevergrad_planner import build_optimizer

    opt = build_optimizer(NeverGradConfig(num_samples=300, iterations=15, horizon=3), np.zeros((3, 7)),
                          np.full(7, 0.1), seed=0)
    assert opt.name == "DiagonalCMA" and opt.budget == 4500 and opt.num_workers == 300
