import torch

from vjepa_ac.models.rope import apply_rope, axis_dim, rope_table, rotate_pairs


def test_axis_dim_matches_reference_formula():
    assert axis_dim(64) == 20  # ViT-L/g and the AC predictor
    assert axis_dim(32) == 10
    assert axis_dim(96) == 32


def test_released_tables_concatenate_angles_twice():
    pos = torch.tensor([3.0])
    cos, _ = rope_table(12, pos)  # d = 4 per axis: angles [a0, a1, a0, a1]
    a = 3.0 * torch.tensor([1.0, 1.0 / 10000 ** 0.5])
    torch.testing.assert_close(cos[0, :4], torch.cat([a, a]).cos())
    cos_i, _ = rope_table(12, pos, interleaved=True)
    torch.testing.assert_close(cos_i[0, :4], a.repeat_interleave(2).cos())


def test_unrotated_channels_pass_through_exactly():
    x = torch.randn(1, 1, 5, 64)
    cos, sin = rope_table(64, torch.arange(5.0), torch.arange(5.0), torch.arange(5.0))
    y = apply_rope(x, cos, sin)
    assert torch.equal(y[..., 60:], x[..., 60:])
    cos_t, sin_t = rope_table(64, torch.arange(5.0))  # time only (action/state tokens)
    assert torch.equal(apply_rope(x, cos_t, sin_t)[..., 20:], x[..., 20:])


def test_rotation_preserves_pair_norms_and_relative_positions():
    x = torch.randn(1, 1, 1, 64)
    q = x.expand(1, 1, 2, 64)
    cos, sin = rope_table(64, torch.tensor([2.0, 7.0]), interleaved=True)
    r = apply_rope(q, cos, sin)
    torch.testing.assert_close(r.norm(dim=-1), q.norm(dim=-1))
    assert torch.equal(rotate_pairs(torch.tensor([1.0, 2.0, 3.0, 4.0])), torch.tensor([-2.0, 1.0, -4.0, 3.0]))
