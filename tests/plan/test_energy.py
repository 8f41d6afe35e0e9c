import pytest
import torch

from vjepa_ac.plan.energy import goal_steps, l1_energy, l2_energy, trajectory_energy

S, H, N, D = 5, 3, 4, 8


def test_l1_l2_values_and_shapes():
    goal = torch.zeros(N, D)
    z = torch.full((S, N, D), 2.0)
    z[1] = -1.0
    torch.testing.assert_close(l1_energy(z, goal), torch.tensor([2.0, 1.0, 2.0, 2.0, 2.0]))
    torch.testing.assert_close(l2_energy(z, goal), torch.tensor([4.0, 1.0, 4.0, 4.0, 4.0]))
    # extra leading axes are averaged too: [S, H, N, D] -> [S]
    zh = torch.randn(S, H, N, D)
    assert l1_energy(zh, goal).shape == (S,)
    torch.testing.assert_close(l1_energy(zh, goal), zh.abs().mean(dim=(1, 2, 3)))
    # bf16 inputs are scored in float32
    assert l1_energy(z.bfloat16(), goal.bfloat16()).dtype == torch.float32


def test_energy_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="z_goal"):
        l1_energy(torch.zeros(S, N, D), torch.zeros(N, D + 1))
    with pytest.raises(ValueError, match="z_goal"):
        l2_energy(torch.zeros(S, N, D), torch.zeros(1, N, D))


def test_trajectory_energy_single_goal_uses_the_horizon_step():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(S, H, N, D, generator=g)
    goal = torch.randn(N, D, generator=g)
    torch.testing.assert_close(trajectory_energy(z, goal), l1_energy(z[:, -1], goal))
    torch.testing.assert_close(trajectory_energy(z, goal, "l2"), l2_energy(z[:, -1], goal))


def test_trajectory_energy_sums_intermediate_goals_on_the_last_steps():
    g = torch.Generator().manual_seed(1)
    z = torch.randn(S, H, N, D, generator=g)
    goals = [torch.randn(N, D, generator=g) for _ in range(2)]
    expected = l1_energy(z[:, 1], goals[0]) + l1_energy(z[:, 2], goals[1])
    torch.testing.assert_close(trajectory_energy(z, goals), expected)
    assert goal_steps(3, 3) == [0, 1, 2]
    with pytest.raises(ValueError, match="horizon"):
        trajectory_energy(z, [goals[0]] * (H + 1))


def test_trajectory_energy_every_step_sums_all_steps_for_one_goal():
    g = torch.Generator().manual_seed(2)
    z = torch.randn(S, H, N, D, generator=g)
    goal = torch.randn(N, D, generator=g)
    expected = sum(l1_energy(z[:, h], goal) for h in range(H))
    torch.testing.assert_close(trajectory_energy(z, goal, every_step=True), expected)
    with pytest.raises(ValueError, match="every_step"):
        trajectory_energy(z, [goal, goal], every_step=True)


def test_pooled_energy_compares_token_means():
    from vjepa_ac.plan.energy import energy_fn, pool_tokens

    goal = torch.zeros(N, D)
    z = torch.randn(S, H, N, D)
    # tokens that differ but share a mean are equal to the goal when pooled, not per token
    swapped = torch.zeros(S, N, D)
    swapped[:, 0], swapped[:, 1] = 1.0, -1.0
    assert (energy_fn("l1", "pooled")(swapped, goal) == 0).all()
    assert (energy_fn("l1", "per_token")(swapped, goal) > 0).all()
    torch.testing.assert_close(energy_fn("l2", "pooled")(z, goal), pool_tokens(z).square().mean(dim=(1, 2, 3)))
    e = trajectory_energy(z, goal, "l2", tokens="pooled")
    torch.testing.assert_close(e, z[:, -1].mean(1).square().mean(-1))
    with pytest.raises(ValueError, match="energy_tokens"):
        energy_fn("l1", "mean")
    with pytest.raises(ValueError, match="energy must be"):
        energy_fn("l3")


def test_energies_are_differentiable():
    z = torch.randn(S, H, N, D, requires_grad=True)
    for tokens in ("per_token", "pooled"):
        for energy in ("l1", "l2"):
            (g,) = torch.autograd.grad(trajectory_energy(z, torch.zeros(N, D), energy, tokens=tokens).sum(), z)
            assert g[:, :-1].abs().sum() == 0 and g[:, -1].abs().sum() > 0  # only the horizon step is scored
