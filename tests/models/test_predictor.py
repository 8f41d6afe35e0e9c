"""AC predictor behaviour: block causality, the incremental step API, presets, RoPE options."""

import dataclasses

import pytest
import torch

from vjepa_ac.models.predictor import ACPredictor, PredictorConfig

CFG = PredictorConfig(img_size=(64, 64), embed_dim=48, width=64, depth=2, num_heads=2)
N = CFG.tokens_per_frame


def _inputs(cfg=CFG, B=2, T=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(B, T * cfg.tokens_per_frame, cfg.embed_dim, generator=g)
    return z, torch.randn(B, T, 7, generator=g), torch.randn(B, T, 7, generator=g), torch.randn(B, T, 6, generator=g)


def _model(cfg=CFG):
    torch.manual_seed(0)
    return ACPredictor(cfg).eval()


@pytest.mark.parametrize("t", [0, 1, 2])
def test_future_frames_do_not_change_the_past(t):
    model = _model()
    z, a, s, _ = _inputs()
    z2, a2, s2 = z.clone(), a.clone(), s.clone()
    z2[:, (t + 1) * N :] += 5.0
    a2[:, t + 1 :] -= 3.0
    s2[:, t + 1 :] += 1.0
    with torch.no_grad():
        out, out2 = model(z, a, s), model(z2, a2, s2)
    torch.testing.assert_close(out[:, : (t + 1) * N], out2[:, : (t + 1) * N], atol=1e-6, rtol=0)
    assert not torch.allclose(out[:, (t + 1) * N :], out2[:, (t + 1) * N :])


def test_non_causal_predictor_sees_the_future():
    model = _model(dataclasses.replace(CFG, block_causal=False))
    z, a, s, _ = _inputs()
    z2 = z.clone()
    z2[:, -N:] += 5.0
    with torch.no_grad():
        assert not torch.allclose(model(z, a, s)[:, :N], model(z2, a, s)[:, :N])


@pytest.mark.parametrize("use_extrinsics", [False, True])
def test_step_api_equals_full_forward(use_extrinsics):
    cfg = dataclasses.replace(CFG, use_extrinsics=use_extrinsics)
    model = _model(cfg)
    z, a, s, e = _inputs(cfg)
    e = e if use_extrinsics else None
    with torch.no_grad():
        full = model(z, a, s, e)
        cache, outs = None, []
        for t in range(4):
            out, cache = model.step(z[:, t * N : (t + 1) * N], a[:, t], s[:, t], cache, None if e is None else e[:, t])
            outs.append(out)
    assert cache.steps == 4
    torch.testing.assert_close(torch.cat(outs, 1), full, atol=1e-5, rtol=0)


def test_multi_step_forward_after_a_cache_equals_full_forward():
    model = _model()
    z, a, s, _ = _inputs()
    with torch.no_grad():
        full = model(z, a, s)
        _, cache = model(z[:, : 2 * N], a[:, :2], s[:, :2], return_cache=True)
        rest = model(z[:, 2 * N :], a[:, 2:], s[:, 2:], cache=cache)
    torch.testing.assert_close(rest, full[:, 2 * N :], atol=1e-5, rtol=0)


def test_cache_expand_and_truncate():
    model = _model()
    z, a, s, _ = _inputs(B=1)
    with torch.no_grad():
        full = model(z, a, s)
        _, cache = model(z, a, s, return_cache=True)
        c2 = cache.truncate(2).expand(3)
        out, _ = model.step(z[:, 2 * N : 3 * N].expand(3, -1, -1), a[:, 2].expand(3, -1), s[:, 2].expand(3, -1), c2)
    for i in range(3):
        torch.testing.assert_close(out[i], full[0, 2 * N : 3 * N], atol=1e-5, rtol=0)


def test_rectangular_frames_rescale_width_positions():
    """A 4 x 2 token grid (64 x 32 px): the released predictor scales width positions by
    grid height / grid width = 2, so columns sit at 0 and 2 (rows at 0..3), not at 0 and 1."""
    from vjepa_ac.models.rope import rope_table

    cfg = dataclasses.replace(CFG, img_size=(64, 32))
    model = _model(cfg)
    z, a, s, _ = _inputs(cfg)
    with torch.no_grad():
        assert model(z, a, s).shape == z.shape
    cos, sin = model._rope(0, 1, torch.device("cpu"))  # [c + N, head_dim] for one step
    c, n, hd = cfg.cond_tokens, cfg.tokens_per_frame, cfg.width // cfg.num_heads
    assert n == 8
    rows = torch.tensor([0, 0, 1, 1, 2, 2, 3, 3], dtype=torch.float32)
    cols = torch.tensor([0, 2, 0, 2, 0, 2, 0, 2], dtype=torch.float32)  # rescaled: 0, 1 -> 0, 2
    want_cos, want_sin = rope_table(hd, torch.zeros(n), rows, cols)
    torch.testing.assert_close(cos[c:], want_cos, rtol=0, atol=1e-6)
    torch.testing.assert_close(sin[c:], want_sin, rtol=0, atol=1e-6)
    unscaled_cos, _ = rope_table(hd, torch.zeros(n), rows, cols / 2)
    assert not torch.allclose(cos[c:], unscaled_cos)


def test_shape_errors_name_the_problem():
    model = _model()
    z, a, s, _ = _inputs()
    with pytest.raises(ValueError, match="actions and states"):
        model(z, a[:, :3], s)
    with pytest.raises(ValueError, match="tokens per frame"):
        model(z[:, :-1], a, s)
    with pytest.raises(ValueError, match="extrinsics"):
        _model(dataclasses.replace(CFG, use_extrinsics=True))(z, a, s)


def test_paper_preset_has_about_300m_parameters():
    model = ACPredictor(PredictorConfig.preset("paper"), device="meta")
    n = sum(p.numel() for p in model.parameters())
    assert 290e6 < n < 320e6, n


def test_corrected_rope_differs_from_released():
    z, a, s, _ = _inputs()
    m1 = _model()
    m2 = _model(dataclasses.replace(CFG, rope_interleaved=True))
    m2.load_state_dict(m1.state_dict())
    with torch.no_grad():
        assert not torch.allclose(m1(z, a, s), m2(z, a, s))


def test_activation_checkpointing_gives_same_gradients():
    z, a, s, _ = _inputs()
    m1 = _model().train()
    m2 = _model(dataclasses.replace(CFG, activation_checkpointing=True)).train()
    m2.load_state_dict(m1.state_dict())
    m1(z, a, s).square().mean().backward()
    m2(z, a, s).square().mean().backward()
    for p1, p2 in zip(m1.parameters(), m2.parameters()):
        torch.testing.assert_close(p1.grad, p2.grad, atol=1e-6, rtol=1e-5)


def test_init_rescales_residual_projections():
    torch.manual_seed(0)
    model = ACPredictor(dataclasses.replace(CFG, depth=4, width=256, num_heads=4))
    stds = [blk.mlp.fc2.weight.std().item() for blk in model.predictor_blocks]
    for i, std in enumerate(stds, start=1):
        assert abs(std - 0.02 / (2 * i) ** 0.5) < 0.15 * 0.02 / (2 * i) ** 0.5
    assert model.predictor_embed.bias.abs().max() == 0


@pytest.mark.slow
def test_flex_attention_matches_sdpa():
    z, a, s, _ = _inputs()
    m1 = _model()
    m2 = _model(dataclasses.replace(CFG, attention="flex"))
    m2.load_state_dict(m1.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(m1(z, a, s), m2(z, a, s), atol=1e-5, rtol=0)


def test_block_queries_compute_only_the_asked_tokens():
    """The predictor's last block runs its attention output and MLP for the patch tokens only;
    their outputs and every token's keys/values equal the whole block's, and a FlexAttention
    block mask is refused."""
    from vjepa_ac.models.blocks import Block
    from vjepa_ac.models.rope import rope_table

    torch.manual_seed(0)
    blk = Block(64, 2, 4.0).eval()
    x = torch.randn(3, 12, 64)
    cos, sin = rope_table(32, torch.arange(12.0))
    mask = torch.arange(12)[:, None] // 6 >= torch.arange(12)[None] // 6  # two steps of 6 tokens
    past = (torch.randn(3, 2, 6, 32), torch.randn(3, 2, 6, 32))
    queries = torch.tensor([2, 3, 4, 5, 8, 9, 10, 11])
    full_mask = torch.cat([torch.ones(12, 6, dtype=torch.bool), mask], dim=1)
    with torch.no_grad():
        y, (k, v) = blk(x, cos, sin, attn_mask=full_mask, past_kv=past)
        y_q, (k_q, v_q) = blk(x, cos, sin, attn_mask=full_mask, past_kv=past, queries=queries)
    assert y_q.shape == (3, 8, 64)
    torch.testing.assert_close(y_q, y[:, queries], atol=1e-6, rtol=1e-6)
    assert torch.equal(k_q, k) and torch.equal(v_q, v)
    with pytest.raises(ValueError, match="block mask"):
        blk(x, cos, sin, block_mask=object(), queries=queries)


def test_training_gradients_ignore_the_last_blocks_condition_outputs():
    """Skipping the last block's action/state outputs changes no gradient: the same step with the
    last block run whole (its condition tokens' outputs dropped after) gives the same grads."""
    from vjepa_ac.models import blocks
    from vjepa_ac.train.losses import world_model_losses

    z, a, s, _ = _inputs(B=3, T=4)
    model = _model().train()
    whole = blocks.Block.forward

    def run(forward):
        blocks.Block.forward = forward
        try:
            tf, ro = world_model_losses(model, z, a[:, :3], s, rollout_steps=2)
            (tf + ro).backward()
        finally:
            blocks.Block.forward = whole
        grads = [p.grad.clone() for p in model.parameters() if p.grad is not None]
        model.zero_grad(set_to_none=True)
        return tf.detach(), ro.detach(), grads

    def run_whole(self, x, cos, sin, attn_mask=None, past_kv=None, block_mask=None, queries=None, varying=None):
        y, kv = whole(self, x, cos, sin, attn_mask, past_kv, block_mask, varying=varying)
        return (y if queries is None else y[:, queries]), kv

    tf1, ro1, g1 = run(whole)
    tf2, ro2, g2 = run(run_whole)
    torch.testing.assert_close(tf1, tf2, atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(ro1, ro2, atol=1e-6, rtol=1e-6)
    assert len(g1) == len(g2) > 0
    for p1, p2 in zip(g1, g2):
        torch.testing.assert_close(p1, p2, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("use_extrinsics", [False, True])
def test_one_frame_for_many_actions_is_projected_once_in_the_first_block(use_extrinsics):
    """Planning's batch: one frame and state (batch 1) for B candidate actions. The first block
    projects the shared tokens once and the action tokens per candidate; outputs, caches and the
    gradients to the actions equal those of the same inputs expanded to B."""
    cfg = dataclasses.replace(CFG, use_extrinsics=use_extrinsics)
    model = _model(cfg)
    z, a, s, e = _inputs(cfg, B=1, T=2)
    a = torch.randn(5, 2, 7)
    rows = []
    model.predictor_blocks[0].attn.qkv.register_forward_hook(lambda m, i, o: rows.append(tuple(i[0].shape[:2])))
    e = e if use_extrinsics else None
    shared_a, expanded_a = a.clone().requires_grad_(), a.clone().requires_grad_()
    out, cache = model(z, shared_a, s, e, return_cache=True)
    assert rows == [(1, 2 * (cfg.cond_tokens + N)), (5, 2)]  # shared tokens once, 2 action tokens each
    ref, ref_cache = model(z.expand(5, -1, -1), expanded_a, s.expand(5, -1, -1),
                           None if e is None else e.expand(5, -1, -1), return_cache=True)
    assert rows[2] == (5, 2 * (cfg.cond_tokens + N))  # an expanded batch is projected whole
    torch.testing.assert_close(out, ref, atol=1e-6, rtol=0)
    for mine, theirs in zip(cache.keys + cache.values, ref_cache.keys + ref_cache.values):
        torch.testing.assert_close(mine, theirs, atol=1e-6, rtol=0)
    out.square().sum().backward()
    ref.square().sum().backward()
    torch.testing.assert_close(shared_a.grad, expanded_a.grad, atol=1e-5, rtol=1e-5)
