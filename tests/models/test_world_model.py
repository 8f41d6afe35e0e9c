import torch

from vjepa_ac.models.predictor import ACPredictor, PredictorConfig, normalize_reps
from vjepa_ac.models.world_model import ACWorldModel

CFG = PredictorConfig(img_size=(64, 64), embed_dim=48, width=64, depth=2, num_heads=2)
N = CFG.tokens_per_frame


def _add(states, actions):
    return states + actions


def _wm(max_batch=None):
    torch.manual_seed(0)
    return ACWorldModel(ACPredictor(CFG), advance_state=_add, max_batch=max_batch)


def _full_recompute(wm, z_ctx, s_ctx, past, actions):
    """Reference: rerun the whole sequence through forward at every horizon step."""
    S, H, _ = actions.shape
    outs = []
    for i in range(S):
        zs, ss, aa = list(z_ctx), list(s_ctx), list(past)
        preds = []
        for h in range(H):
            aa.append(actions[i, h])
            out = wm.predictor(torch.cat(zs)[None], torch.stack(aa)[None], torch.stack(ss)[None])
            pred = normalize_reps(out[0, -N:])
            preds.append(pred)
            zs.append(pred)
            ss.append(ss[-1] + actions[i, h])
        outs.append(torch.stack(preds))
    return torch.stack(outs)


def test_rollout_equals_full_recompute_with_multi_frame_context():
    wm = _wm()
    g = torch.Generator().manual_seed(1)
    z = normalize_reps(torch.randn(2, N, 48, generator=g))
    s = torch.randn(2, 7, generator=g)
    past = torch.randn(1, 7, generator=g)
    actions = torch.randn(3, 3, 7, generator=g) * 0.1
    with torch.no_grad():
        out = wm.rollout(z, s, actions, past)
        ref = _full_recompute(wm, z, s, past, actions)
    assert out.shape == (3, 3, N, 48)
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=0)


def test_rollout_chunks_give_the_same_result():
    g = torch.Generator().manual_seed(2)
    z = normalize_reps(torch.randn(1, N, 48, generator=g))
    s = torch.randn(1, 7, generator=g)
    actions = torch.randn(5, 2, 7, generator=g)
    torch.testing.assert_close(_wm(max_batch=2).rollout(z, s, actions), _wm().rollout(z, s, actions), atol=1e-5, rtol=0)


def test_cpu_rollouts_are_chunked_by_tokens_and_equal_unchunked():
    from vjepa_ac.models.world_model import CPU_CHUNK_TOKENS

    wm = _wm()
    tps = CFG.cond_tokens + N  # 18 tokens per step
    assert wm.auto_batch(300, torch.device("cpu")) == CPU_CHUNK_TOKENS // tps
    assert wm.auto_batch(300, torch.device("cuda")) == 300  # all at once off the CPU
    assert _wm(max_batch=7).auto_batch(300, torch.device("cpu")) == 7
    g = torch.Generator().manual_seed(3)
    z = normalize_reps(torch.randn(1, N, 48, generator=g))
    s = torch.randn(1, 7, generator=g)
    actions = torch.randn(CPU_CHUNK_TOKENS // tps + 5, 2, 7, generator=g) * 0.1  # two chunks, the last short
    torch.testing.assert_close(wm.rollout(z, s, actions), _wm(max_batch=10_000).rollout(z, s, actions),
                               atol=1e-5, rtol=0)


def test_predictor_broadcasts_a_batch_1_frame_over_the_candidates():
    wm = _wm()
    g = torch.Generator().manual_seed(4)
    z = torch.randn(1, N, 48, generator=g)
    a, s = torch.randn(5, 1, 7, generator=g), torch.randn(1, 1, 7, generator=g)
    with torch.no_grad():
        out = wm.predictor(z, a, s)
        ref = wm.predictor(z.expand(5, -1, -1), a, s.expand(5, -1, -1))
    torch.testing.assert_close(out, ref, atol=1e-6, rtol=0)
