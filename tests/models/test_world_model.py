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
