import copy

import torch

from vjepa_ac.models.encoder import EncoderConfig, VisionTransformer
from vjepa_ac.official import load_released_encoder, save_encoder
from vjepa_ac.pretrain.masks import sample_masks
from vjepa_ac.pretrain.model import JEPA, JEPAPredictor, JEPAPredictorConfig, ema_update, encode_tokens
from vjepa_ac.pretrain.train import MASK_PRESETS, PretrainConfig, build_jepa, build_optimizer, train_step

ENC = EncoderConfig(img_size=32, patch_size=8, embed_dim=48, depth=2, num_heads=2)
PRED = JEPAPredictorConfig(embed_dim=48, width=24, depth=1, num_heads=2)


def tiny_cfg(**kw) -> PretrainConfig:
    return PretrainConfig(encoder=ENC, predictor=PRED, steps=30, warmup=3, batch_size=8, lr=2e-3, start_lr=2e-3,
                          **kw)


def test_encode_tokens_with_all_tokens_equals_forward():
    torch.manual_seed(0)
    vit = VisionTransformer(ENC).eval()
    clip = torch.randn(2, 3, 4, 32, 32)
    with torch.no_grad():
        ref = vit(clip)  # [2, 2*16, 48]
        torch.testing.assert_close(encode_tokens(vit, clip), ref, rtol=0, atol=0)
        keep = torch.arange(32).expand(2, -1)
        torch.testing.assert_close(encode_tokens(vit, clip, keep), ref, rtol=1e-5, atol=1e-5)


def test_encode_tokens_subset_uses_positions_of_kept_tokens():
    # one block: attention over a subset sees only those tokens, at their own RoPE positions
    torch.manual_seed(0)
    vit = VisionTransformer(EncoderConfig(img_size=32, patch_size=8, embed_dim=48, depth=1, num_heads=2)).eval()
    clip = torch.randn(1, 3, 2, 32, 32)
    keep = torch.tensor([[1, 5, 6, 12]])
    with torch.no_grad():
        sub = encode_tokens(vit, clip, keep)
        # same result when the other tokens' pixels change
        clip2 = clip.clone()
        clip2[..., 24:, 24:] += 5.0  # token 15 only
        torch.testing.assert_close(encode_tokens(vit, clip2, keep), sub)
        # but not when the kept tokens move to other positions
        assert not torch.allclose(encode_tokens(vit, clip, keep + 1), sub)


def test_predictor_shapes_and_mask_kinds():
    torch.manual_seed(0)
    pred = JEPAPredictor(PRED)
    ctx = torch.randn(3, 5, 48)
    ctx_idx = torch.tensor([[0, 1, 2, 3, 4]] * 3)
    tgt_idx = torch.tensor([[7, 9]] * 3)
    out0 = pred(ctx, ctx_idx, tgt_idx, (1, 4, 4), kind=0)
    out1 = pred(ctx, ctx_idx, tgt_idx, (1, 4, 4), kind=1)
    assert out0.shape == (3, 2, 48)
    assert not torch.allclose(out0, out1)


def test_ema_update():
    a, b = torch.nn.Linear(3, 2), torch.nn.Linear(3, 2)
    ta, tb = copy.deepcopy(a.state_dict()), copy.deepcopy(b.state_dict())
    ema_update(a, b, 0.9)
    for k in ta:
        torch.testing.assert_close(a.state_dict()[k], 0.9 * ta[k] + 0.1 * tb[k])
    ema_update(a, b, 1.0)  # momentum 1: frozen
    ema_update(a, b, 0.0)  # momentum 0: copy
    for k in ta:
        torch.testing.assert_close(a.state_dict()[k], tb[k])


def test_target_starts_as_a_copy_and_has_no_gradients():
    jepa = JEPA(VisionTransformer(ENC), JEPAPredictor(PRED))
    for (n, p), (_, q) in zip(jepa.encoder.named_parameters(), jepa.target.named_parameters()):
        assert torch.equal(p, q) and p is not q, n
        assert not q.requires_grad


def test_loss_decreases_on_a_tiny_batch_with_fixed_masks():
    cfg = tiny_cfg()
    jepa = build_jepa(cfg)
    opt = build_optimizer(jepa, cfg)
    for group in opt.param_groups:
        group["lr"] = 5e-3
    g = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    clip = torch.randn(8, 3, 1, 32, 32).expand(-1, -1, 2, -1, -1)  # single frames repeated
    masks = [sample_masks(s, 8, (1, 4, 4), g) for s in MASK_PRESETS["small_grid"]]
    losses = []
    for _ in range(40):
        loss, _ = jepa.loss(clip, masks)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert sum(losses[-5:]) < 0.92 * sum(losses[:5]), losses


def test_train_step_lowers_the_loss_and_the_target_follows_by_ema():
    cfg = tiny_cfg()
    jepa = build_jepa(cfg)
    opt = build_optimizer(jepa, cfg)
    g = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    clip = torch.randn(8, 3, 1, 32, 32).expand(-1, -1, 2, -1, -1)
    target0 = {k: v.clone() for k, v in jepa.target.state_dict().items()}
    stats = [train_step(jepa, clip, opt, cfg, step, g) for step in range(30)]
    losses = [s["loss"] for s in stats]
    assert sum(losses[-5:]) < sum(losses[:5]), losses
    assert stats[0]["momentum"] == cfg.ema[0] and stats[-1]["momentum"] > stats[0]["momentum"]
    # the EMA target moved, but lags the online encoder
    w_on, w_tg, w_0 = (jepa.encoder.blocks[0].mlp.fc1.weight, jepa.target.blocks[0].mlp.fc1.weight,
                       target0["blocks.0.mlp.fc1.weight"])
    assert 0 < (w_tg - w_0).norm() < (w_on - w_0).norm()


def test_optimizer_leaves_target_out_and_mask_tokens_undecayed():
    cfg = tiny_cfg()
    jepa = build_jepa(cfg)
    opt = build_optimizer(jepa, cfg)
    ids = {id(p) for g in opt.param_groups for p in g["params"]}
    assert not ids & {id(p) for p in jepa.target.parameters()}
    assert ids == {id(p) for p in jepa.encoder.parameters()} | {id(p) for p in jepa.predictor.parameters()}
    no_decay = {id(p) for p in opt.param_groups[1]["params"]}
    assert id(jepa.predictor.mask_tokens) in no_decay


def test_masks_used_by_the_loss_are_reported():
    cfg = tiny_cfg()
    jepa = build_jepa(cfg)
    g = torch.Generator().manual_seed(0)
    clip = torch.randn(4, 3, 2, 32, 32)
    masks = [sample_masks(s, 4, (1, 4, 4), g) for s in MASK_PRESETS["small_grid"]]
    loss, stats = jepa.loss(clip, masks)
    assert loss.ndim == 0 and stats["target_0"] == masks[0].target.shape[1]


def test_saved_encoder_loads_back_equal(tmp_path):
    torch.manual_seed(0)
    vit = VisionTransformer(ENC)
    path = save_encoder(vit, tmp_path / "enc.pt")
    back = load_released_encoder(path)
    assert back.cfg.img_size == 32 and back.cfg.embed_dim == 48
    for k, v in vit.state_dict().items():
        assert torch.equal(back.state_dict()[k], v), k
    clip = torch.randn(1, 3, 2, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(back(clip), vit.eval()(clip), rtol=0, atol=0)


def test_fp16_file_loads_as_float32(tmp_path):
    torch.manual_seed(0)
    vit = VisionTransformer(ENC)
    path = save_encoder(copy.deepcopy(vit).half(), tmp_path / "enc16.pt")
    back = load_released_encoder(path)
    for k, v in vit.state_dict().items():
        assert back.state_dict()[k].dtype == torch.float32
        torch.testing.assert_close(back.state_dict()[k], v.half().float(), rtol=0, atol=0)
