import torch

from vjepa_ac.models.rope import apply_rope, axis_dim, complex_pairs, rope_table, rotate_pairs


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


def _plain_rope(x, cos, sin):
    """The definition, term by term: x * cos + rot(x) * sin with rot by unbind and stack."""
    x1, x2 = x.unflatten(-1, (-1, 2)).unbind(-1)
    return x * cos + torch.stack((-x2, x1), dim=-1).flatten(-2) * sin


def test_complex_rotation_gives_the_definitions_values_bit_for_bit():
    cos, sin = rope_table(64, torch.arange(18.0), torch.arange(18.0), torch.arange(18.0))
    qkv = torch.randn(3, 18, 3, 2, 64)  # [B, L, 3, heads, hd]: q/k/v views with odd-looking strides
    views = {
        "stacked q, k": torch.randn(2, 3, 2, 18, 64),
        "permuted key view": qkv.permute(2, 0, 3, 1, 4)[1],
        "float64": torch.randn(3, 2, 18, 64, dtype=torch.float64),
    }
    for name, x in views.items():
        assert complex_pairs(x) is not None, name
        c, s = cos.to(x.dtype), sin.to(x.dtype)
        assert torch.equal(apply_rope(x, cos, sin), _plain_rope(x, c, s)), name
        assert torch.equal(rotate_pairs(x), _plain_rope(x, torch.zeros_like(c), torch.ones_like(s))), name


def test_dtypes_and_strides_without_a_complex_view_take_the_pair_swap():
    cos, sin = rope_table(64, torch.arange(5.0), torch.arange(5.0), torch.arange(5.0))
    bf16 = torch.randn(2, 5, 64).bfloat16()
    odd_offset = torch.randn(2, 5, 65)[..., 1:]  # storage offset 1: no complex view
    for x in (bf16, odd_offset):
        assert complex_pairs(x) is None
        assert torch.equal(apply_rope(x, cos, sin), _plain_rope(x, cos.to(x.dtype), sin.to(x.dtype)))
        assert torch.equal(rotate_pairs(x), _plain_rope(x, torch.zeros_like(x), torch.ones_like(x)))


def test_rope_gradients_match_the_definitions():
    cos, sin = rope_table(64, torch.arange(4.0), torch.arange(4.0), torch.arange(4.0))
    x = torch.randn(2, 3, 4, 64, dtype=torch.float64, requires_grad=True)
    w = torch.randn(2, 3, 4, 64, dtype=torch.float64)
    (g,) = torch.autograd.grad((apply_rope(x, cos, sin) * w).sum(), x)
    (g_ref,) = torch.autograd.grad((_plain_rope(x, cos.double(), sin.double()) * w).sum(), x)
    torch.testing.assert_close(g, g_ref, rtol=0, atol=1e-12)
