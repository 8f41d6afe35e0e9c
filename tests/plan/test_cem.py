"""CEM against the analytic toy world model (known optimum = the target state)."""

import pytest
import torch

from plan_helpers import RecordingModel, context_at, gen, target_from
from vjepa_ac.plan.actions import GRIPPER_DIM, ROT, XYZ
from vjepa_ac.plan.cem import cem
from vjepa_ac.plan.config import CEMConfig, cem_preset
from vjepa_ac.plan.energy import l1_energy



@pytest.mark.parametrize("seed", [0, 1, 2])
def test_paper_cem_finds_a_reachable_optimum(toy, start, seed):
    """Target inside the L1 ball: one action reaches it; CEM finds it to < 1 mm."""
    target = target_from(start, (0.03, -0.02, 0.01), 1.0)
    res = cem(toy, context_at(toy, start), toy.embed(target), CEMConfig(), gen(seed))
    assert res.actions.shape == (1, 7)
    torch.testing.assert_close(res.actions[0, XYZ], target[XYZ] - start[XYZ], atol=1e-3, rtol=0)
    assert abs(float(res.actions[0, GRIPPER_DIM]) - 1.0) < 1e-2
    assert res.energy < 1e-3 < float(res.iter_best_energy[0])
    assert res.iter_best_energy.shape == res.iter_fit_energy.shape == (10,)


def test_cem_matches_brute_force_on_the_ball_surface_for_a_far_target(toy, start):
    """Target 30 cm away, out of reach: the action lies on the L1 sphere, closes the distance,
    and its energy is as low as the best of 20k points spread over the ball."""
    target = target_from(start, (0.2, -0.15, 0.1), 0.0)
    ctx, goal = context_at(toy, start), toy.embed(target)
    res = cem(toy, ctx, goal, CEMConfig(), gen(0))
    a = res.actions[0]
    assert float(a[XYZ].abs().sum()) == pytest.approx(0.075, abs=1e-4)
    before = float((target[XYZ] - start[XYZ]).norm())
    after = float((target[XYZ] - start[XYZ] - a[XYZ]).norm())
    assert after < before - 0.02
    g = torch.Generator().manual_seed(1)
    direction = torch.randn(20000, 3, generator=g)
    on_sphere = direction / direction.abs().sum(-1, keepdim=True) * 0.075  # [20000, 3], |.|_1 = 0.075
    radius = torch.ones(20000, 1)
    radius[10000:] = torch.rand(10000, 1, generator=g)  # half on the surface, half inside
    grid = torch.zeros(20000, 1, 7)
    grid[:, 0, XYZ] = on_sphere * radius
    brute = l1_energy(toy.rollout(ctx, grid)[:, -1], goal).min()
    assert res.energy <= float(brute) + 1e-5


@pytest.mark.parametrize("cfg", [
    CEMConfig(num_samples=200, iterations=3),
    CEMConfig(num_samples=200, iterations=3, l1_method="rescale", horizon=2),
    cem_preset("notebook", num_samples=200, iterations=3),
])
def test_every_candidate_respects_bounds_and_rotation_stays_zero(toy, start, cfg):
    target = target_from(start, (0.3, 0.3, -0.3), 1.0)
    rec = RecordingModel(toy)
    res = cem(rec, context_at(toy, start), toy.embed(target), cfg, gen(0))
    assert len(rec.batches) == cfg.iterations + 1  # + the re-scored plan
    for batch in rec.batches + [res.actions[None], res.mean[None]]:
        xyz = batch[..., XYZ]
        if cfg.xyz_bound == "l1_ball":
            assert (xyz.abs().sum(-1) <= cfg.xyz_radius + 1e-6).all()
        else:
            assert (xyz.abs() <= cfg.xyz_radius + 1e-7).all()
        assert (batch[..., ROT] == 0).all()
        assert (batch[..., GRIPPER_DIM].abs() <= cfg.gripper_limit + 1e-7).all()
    assert (res.std[:, ROT] == 0).all()


def test_deterministic_for_a_seed_and_seed_dependent(toy, start):
    target = target_from(start, (0.05, 0.05, 0.0), 1.0)
    cfg = CEMConfig(num_samples=100, iterations=3)
    args = (toy, context_at(toy, start), toy.embed(target), cfg)
    a, b, c = cem(*args, gen(7)), cem(*args, gen(7)), cem(*args, gen(8))
    assert torch.equal(a.actions, b.actions) and a.energy == b.energy
    assert torch.equal(a.iter_best_energy, b.iter_best_energy)
    assert not torch.equal(a.actions, c.actions)


def test_chunked_scoring_equals_unchunked(toy, start):
    target = target_from(start, (0.05, -0.01, 0.02), 0.5)
    ctx, goal = context_at(toy, start), toy.embed(target)
    whole = cem(toy, ctx, goal, CEMConfig(num_samples=100, iterations=4, horizon=2), gen(3))
    rec = RecordingModel(toy)
    chunked = cem(rec, ctx, goal, CEMConfig(num_samples=100, iterations=4, horizon=2, chunk_size=33), gen(3))
    assert max(b.shape[0] for b in rec.batches) == 33
    assert len(rec.batches) == 4 * 4 + 1  # ceil(100 / 33) calls per iteration, + the final score
    torch.testing.assert_close(chunked.actions, whole.actions, atol=1e-6, rtol=0)
    torch.testing.assert_close(chunked.iter_best_energy, whole.iter_best_energy, atol=1e-6, rtol=0)


def test_intermediate_goals_shape_a_two_step_plan(toy, start):
    mid = target_from(start, (0.04, 0.0, 0.0), 0.0)
    end = target_from(start, (0.04, 0.04, 0.0), 1.0)
    cfg = CEMConfig(horizon=2, num_samples=400)
    res = cem(toy, context_at(toy, start), [toy.embed(mid), toy.embed(end)], cfg, gen(0))
    torch.testing.assert_close(res.actions[0, XYZ], torch.tensor([0.04, 0.0, 0.0]), atol=2e-3, rtol=0)
    torch.testing.assert_close(res.actions[1, XYZ], torch.tensor([0.0, 0.04, 0.0]), atol=2e-3, rtol=0)


def test_notebook_variant_converges_over_two_steps_and_rounds_the_gripper(toy, start):
    target = target_from(start, (0.06, -0.04, 0.02), 0.0)  # two box-bounded steps away
    res = cem(toy, context_at(toy, start), toy.embed(target), cem_preset("notebook"), gen(0))
    torch.testing.assert_close(res.actions[:, XYZ].sum(0), target[XYZ] - start[XYZ], atol=5e-3, rtol=0)
    # gripper stays open: any change below 0.25 is rounded to exactly 0
    g = res.actions[:, GRIPPER_DIM]
    assert ((g == 0) | (g.abs() >= 0.25)).all()


def test_select_best_returns_the_best_candidate_and_init_mean_is_used(toy, start):
    target = target_from(start, (0.02, 0.02, 0.02), 1.0)
    ctx, goal = context_at(toy, start), toy.embed(target)
    best = cem(toy, ctx, goal, CEMConfig(select="best", num_samples=200, iterations=3), gen(0))
    torch.testing.assert_close(best.actions, best.best_actions)
    assert best.energy == pytest.approx(best.best_energy, abs=1e-6)
    # a warm start at the optimum with a tiny std stays there
    init = torch.zeros(1, 7)
    init[0, XYZ] = target[XYZ] - start[XYZ]
    init[0, GRIPPER_DIM] = 1.0
    cfg = CEMConfig(num_samples=50, iterations=1, init_std_xyz=1e-4, init_std_gripper=1e-4)
    warm = cem(toy, ctx, goal, cfg, gen(0), init_mean=init)
    torch.testing.assert_close(warm.actions, init, atol=2e-4, rtol=0)
    with pytest.raises(ValueError, match="init_mean"):
        cem(toy, ctx, goal, cfg, gen(0), init_mean=torch.zeros(2, 7))


def test_non_finite_energies_raise(toy, start):
    class NaNModel:
        def rollout(self, context, actions):
            z = toy.rollout(context, actions)
            z[0] = float("nan")
            return z

    with pytest.raises(FloatingPointError, match="not finite"):
        cem(NaNModel(), context_at(toy, start), toy.embed(start), CEMConfig(num_samples=20), gen(0))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cem_on_cuda():
    from vjepa_ac.plan.toy import ToyWorldModel

    toy = ToyWorldModel(device="cuda")
    start = torch.tensor([0.4, 0.0, 0.3, 0.0, 0.0, 0.0, 0.0], device="cuda")
    target = target_from(start.cpu(), (0.03, -0.02, 0.01), 1.0).cuda()
    res = cem(toy, context_at(toy, start), toy.embed(target), CEMConfig(chunk_size=300), gen(0, "cuda"))
    assert res.actions.device.type == "cuda"
    torch.testing.assert_close(res.actions[0, XYZ], target[XYZ] - start[XYZ], atol=1e-3, rtol=0)


@pytest.mark.parametrize("energy", ["l1", "l2"])
@pytest.mark.parametrize("tokens", ["per_token", "pooled"])
def test_cem_finds_the_optimum_with_every_energy(toy, start, energy, tokens):
    target = target_from(start, (0.03, -0.02, 0.01), 1.0)
    cfg = CEMConfig(num_samples=400, energy=energy, energy_tokens=tokens)
    res = cem(toy, context_at(toy, start), toy.embed(target), cfg, gen(0))
    torch.testing.assert_close(res.actions[0, XYZ], target[XYZ] - start[XYZ], atol=1.5e-3, rtol=0)
    assert abs(float(res.actions[0, GRIPPER_DIM]) - 1.0) < 2e-2


def test_jepa_wms_droid_preset_searches_all_dims_in_its_box_and_keeps_the_mean(toy, start):
    """jepa-wms' DROID CEM: 7 dims in per-dim clips (0.1 / 0.75), candidate 0 = the mean, L2;
    three actions reach a target 12 cm away (beyond one 0.1 m step per axis)."""
    target = start.clone()
    target[XYZ] += torch.tensor([0.12, -0.06, 0.03])
    target[3] = 0.05  # roll
    cfg = cem_preset("jepa_wms_droid", num_samples=300, iterations=15)
    rec = RecordingModel(toy)
    res = cem(rec, context_at(toy, start), toy.embed(target), cfg, gen(0))
    assert res.actions.shape == (3, 7) and cfg.energy == "l2" and cfg.include_mean
    torch.testing.assert_close(res.actions[:, XYZ].sum(0), target[XYZ] - start[XYZ], atol=6e-3, rtol=0)
    assert abs(float(res.actions[:, 3].sum()) - 0.05) < 0.02
    for batch in rec.batches:
        assert (batch[..., :6].abs() <= 0.1 + 1e-7).all() and (batch[..., GRIPPER_DIM].abs() <= 0.75 + 1e-7).all()
    # every iteration after the first scores the previous mean as its candidate 0
    assert all(not torch.equal(b[0], rec.batches[1][1]) for b in rec.batches[1:-1])
    assert torch.equal(rec.batches[0][0], torch.zeros(3, 7))
