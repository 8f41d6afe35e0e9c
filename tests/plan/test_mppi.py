"""MPPI: weights (as pytorch_mppi's tests) and convergence on the toy world model."""

import pytest
import torch

from plan_helpers import RecordingModel, context_at, gen
from vjepa_ac.plan.actions import GRIPPER_DIM, ROT, XYZ
from vjepa_ac.plan.config import MPPIConfig
from vjepa_ac.plan.mppi import mppi, mppi_weights


def test_weights_sum_to_one_and_favour_low_energy():
    e = torch.tensor([0.3, 0.1, 0.2, 0.5])
    for normalize in (True, False):
        w = mppi_weights(e, temperature=0.1, normalize=normalize)
        assert float(w.sum()) == pytest.approx(1.0)
        assert torch.equal(torch.argsort(w, descending=True), torch.argsort(e))
    # scale-free when normalised; a tiny temperature picks the argmin
    torch.testing.assert_close(mppi_weights(e * 10, 0.1), mppi_weights(e, 0.1))
    assert float(mppi_weights(e, 1e-4)[1]) == pytest.approx(1.0)
    # equal energies: uniform
    torch.testing.assert_close(mppi_weights(torch.ones(4), 0.1), torch.full((4,), 0.25))
    # one sample (num_samples=1): weight 1, not NaN
    torch.testing.assert_close(mppi_weights(torch.tensor([3.0]), 0.1), torch.ones(1))


def test_mppi_finds_a_reachable_optimum_within_bounds(toy, start):
    target = start.clone()
    target[XYZ] += torch.tensor([-0.02, 0.03, 0.015])
    target[GRIPPER_DIM] = 1.0
    rec = RecordingModel(toy)
    res = mppi(rec, context_at(toy, start), toy.embed(target), MPPIConfig(), gen(0))
    torch.testing.assert_close(res.actions[0, XYZ], target[XYZ] - start[XYZ], atol=1e-3, rtol=0)
    assert abs(float(res.actions[0, GRIPPER_DIM]) - 1.0) < 1e-2
    for batch in rec.batches:
        assert (batch[..., XYZ].abs().sum(-1) <= 0.075 + 1e-6).all()
        assert (batch[..., ROT] == 0).all()


def test_mppi_fixed_std_keeps_the_noise(toy, start):
    cfg = MPPIConfig(update_std=False, iterations=2, num_samples=64)
    res = mppi(toy, context_at(toy, start), toy.embed(start), cfg, gen(0))
    assert float(res.std[0, 0]) == pytest.approx(cfg.init_std_xyz)
    assert float(res.std[0, GRIPPER_DIM]) == pytest.approx(cfg.init_std_gripper)
    with pytest.raises(TypeError, match="MPPIConfig"):
        from vjepa_ac.plan.config import CEMConfig
        mppi(toy, context_at(toy, start), toy.embed(start), CEMConfig(), gen(0))


@pytest.mark.parametrize("energy", ["l1", "l2"])
@pytest.mark.parametrize("tokens", ["per_token", "pooled"])
def test_mppi_finds_the_optimum_with_every_energy(toy, start, energy, tokens):
    target = start.clone()
    target[XYZ] += torch.tensor([-0.02, 0.03, 0.015])
    cfg = MPPIConfig(num_samples=400, energy=energy, energy_tokens=tokens)
    res = mppi(toy, context_at(toy, start), toy.embed(target), cfg, gen(0))
    # L2 is flat (quadratic) at the optimum: the weighted mean settles less tightly than with L1
    torch.testing.assert_close(res.actions[0, XYZ], target[XYZ] - start[XYZ], atol=2.5e-3, rtol=0)
