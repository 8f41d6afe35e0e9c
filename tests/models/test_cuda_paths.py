"""The CUDA paths (FlexAttention, bf16 autocast, rollouts on the GPU): marked ``gpu``, skipped
without CUDA. Run on a GPU machine with ``pytest -m gpu`` (benchmarks/gpu_check.sh does)."""

import pytest
import torch

from vjepa_ac.models.predictor import ACPredictor, PredictorConfig, normalize_reps

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")]

CFG = dict(img_size=(64, 64), embed_dim=48, width=64, depth=2, num_heads=2)


def _inputs(device, B=2, T=3):
    g = torch.Generator().manual_seed(0)
    z = torch.randn(B, T * 16, 48, generator=g)
    a, s = torch.randn(B, T, 7, generator=g) * 0.1, torch.randn(B, T, 7, generator=g)
    return z.to(device), a.to(device), s.to(device)


def test_flex_attention_equals_sdpa_forward_and_backward():
    torch.manual_seed(0)
    sdpa = ACPredictor(PredictorConfig(**CFG), device="cuda")
    flex = ACPredictor(PredictorConfig(**CFG, attention="flex"), device="cuda")
    flex.load_state_dict(sdpa.state_dict())
    z, a, s = _inputs("cuda")
    out_s, out_f = sdpa(z, a, s), flex(z, a, s)
    torch.testing.assert_close(out_f, out_s, atol=1e-4, rtol=1e-4)
    out_s.abs().mean().backward()
    out_f.abs().mean().backward()
    g_s = sdpa.predictor_blocks[0].attn.qkv.weight.grad
    torch.testing.assert_close(flex.predictor_blocks[0].attn.qkv.weight.grad, g_s, atol=1e-4, rtol=1e-3)


def test_cuda_forward_matches_cpu():
    torch.manual_seed(0)
    cpu = ACPredictor(PredictorConfig(**CFG))
    gpu = ACPredictor(PredictorConfig(**CFG), device="cuda")
    gpu.load_state_dict(cpu.state_dict())
    z, a, s = _inputs("cpu")
    with torch.no_grad():
        torch.testing.assert_close(gpu(z.cuda(), a.cuda(), s.cuda()).cpu(), cpu(z, a, s), atol=1e-4, rtol=1e-4)


def test_bf16_autocast_training_step_with_checkpointing_is_finite():
    from vjepa_ac.train.config import OptimConfig
    from vjepa_ac.train.optim import build_optimizer
    from vjepa_ac.train.step import WorldModelObjective, train_step

    torch.manual_seed(0)
    pred = ACPredictor(PredictorConfig(**CFG, attention="flex", activation_checkpointing=True), device="cuda").train()
    pred.extrinsics_encoder.requires_grad_(False)
    optim = OptimConfig()
    opt = build_optimizer(pred, optim)
    z, a, s = _inputs("cuda", B=4, T=4)
    batch = {"z": z.view(4, 4, 16, 48), "actions": a[:, :3], "states": s}
    out = [train_step(WorldModelObjective(pred, 2), [batch], opt, step=i, optim=optim, encoder=None,
                      device=torch.device("cuda"), amp_dtype=torch.bfloat16) for i in range(2)]
    assert all(torch.isfinite(torch.tensor(o["loss"])) for o in out)


def test_planning_rollout_on_cuda_matches_cpu():
    from vjepa_ac.plan.interface import Context
    from vjepa_ac.plan.world_model import LatentWorldModel

    torch.manual_seed(0)
    pred = ACPredictor(PredictorConfig(**CFG))
    wm_cpu = LatentWorldModel(None, pred, device="cpu")
    wm_gpu = LatentWorldModel(None, ACPredictor(PredictorConfig(**CFG)).eval(), device="cuda")
    wm_gpu.model.predictor.load_state_dict(pred.state_dict())
    g = torch.Generator().manual_seed(1)
    ctx = Context.single(normalize_reps(torch.randn(16, 48, generator=g)), torch.zeros(7))
    actions = torch.randn(100, 2, 7, generator=g) * 0.05
    torch.testing.assert_close(wm_gpu.rollout(ctx, actions).cpu(), wm_cpu.rollout(ctx, actions), atol=1e-4, rtol=1e-4)
