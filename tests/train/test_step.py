"""One optimizer step: accumulation is exact, decay only on matrices, clipping, NaN guard."""

import copy

import pytest
import torch
from torch.utils.data import default_collate

from vjepa_ac.train.build import build_encoder, build_predictor
from vjepa_ac.train.datasets import build_datasets
from vjepa_ac.train.optim import build_optimizer, param_groups
from vjepa_ac.train.step import NonFiniteLossError, WorldModelObjective, train_step

CPU = torch.device("cpu")


def _setup(cfg):
    enc, pred = build_encoder(cfg.model, CPU), build_predictor(cfg.model, CPU)
    train_set, _ = build_datasets(cfg)
    return enc, pred, build_optimizer(pred, cfg.optim), [train_set[i] for i in range(4)]


def _step(cfg, pred, opt, enc, batches, step=0):
    return train_step(
        WorldModelObjective(pred, cfg.rollout_steps),
        batches,
        opt,
        step=step,
        optim=cfg.optim,
        encoder=enc,
        device=CPU,
    )


def test_accumulation_equals_one_big_batch(tiny):
    cfg = tiny()
    enc, pred, opt, items = _setup(cfg)
    pred2 = copy.deepcopy(pred)
    opt2 = build_optimizer(pred2, cfg.optim)
    for step in range(2):
        m1 = _step(cfg, pred, opt, enc, [default_collate(items)], step)
        m2 = _step(cfg, pred2, opt2, enc, [default_collate(items[:2]), default_collate(items[2:])], step)
        assert m1["loss"] == pytest.approx(m2["loss"], abs=1e-6)
        assert m1["grad_norm"] == pytest.approx(m2["grad_norm"], rel=1e-5)
    for a, b in zip(pred.parameters(), pred2.parameters()):
        # Adam divides by sqrt(v): last-bit gradient differences move a weight by ~1e-6
        torch.testing.assert_close(a, b, atol=1e-5, rtol=0)


def test_param_groups_decay_matrices_only(tiny):
    pred = build_predictor(tiny().model, CPU)
    decay, no_decay = param_groups(pred, 0.04)
    assert decay["weight_decay"] == 0.04 and no_decay["weight_decay"] == 0.0
    assert all(p.ndim >= 2 for p in decay["params"]) and all(p.ndim < 2 for p in no_decay["params"])
    # the unused extrinsics encoder is frozen, so neither group holds it
    frozen = {id(p) for p in pred.extrinsics_encoder.parameters()}
    assert not frozen & {id(p) for g in (decay, no_decay) for p in g["params"]}
    assert len(decay["params"]) + len(no_decay["params"]) == sum(p.requires_grad for p in pred.parameters())
    # the frozen encoder: no gradients, eval mode even when asked to train
    enc = build_encoder(tiny().model, CPU).train()
    assert not enc.training and not any(p.requires_grad for p in enc.parameters())


def test_lr_from_schedule_and_clipping_logged(tiny):
    cfg = tiny("optim.grad_clip=1e-6")
    enc, pred, opt, items = _setup(cfg)
    m = _step(cfg, pred, opt, enc, [default_collate(items)], step=0)
    assert m["lr"] == pytest.approx(1e-3 + 0.5 * (3e-3 - 1e-3))  # step 0 of a 2-step warmup
    assert opt.param_groups[0]["lr"] == m["lr"]
    assert m["clipped"] == 1.0 and m["grad_norm"] > 1e-6
    assert set(m) >= {"loss", "loss_tf", "loss_rollout", "lr", "grad_norm", "clipped"}


def test_nonfinite_loss_raises_before_any_update(tiny):
    cfg = tiny()
    enc, pred, opt, items = _setup(cfg)
    before = [p.detach().clone() for p in pred.parameters()]
    batch = default_collate(items)
    batch["states"][0, 1, 0] = float("nan")
    with pytest.raises(NonFiniteLossError, match="step 7.*loss=nan"):
        _step(cfg, pred, opt, enc, [batch], step=7)
    for a, b in zip(before, pred.parameters()):
        assert torch.equal(a, b)


def test_activation_checkpointing_gives_the_same_step(tiny):
    cfg, cfg_ckpt = tiny(), tiny("model.predictor.activation_checkpointing=true")
    enc, pred, opt, items = _setup(cfg)
    _, pred2, _, _ = _setup(cfg_ckpt)
    opt2 = build_optimizer(pred2, cfg_ckpt.optim)
    m1 = _step(cfg, pred, opt, enc, [default_collate(items)])
    m2 = _step(cfg_ckpt, pred2, opt2, enc, [default_collate(items)])
    assert m1["loss"] == pytest.approx(m2["loss"], abs=1e-6)
    assert m1["grad_norm"] == pytest.approx(m2["grad_norm"], rel=1e-5)


def test_bf16_autocast_step_runs(tiny):
    cfg = tiny()
    enc, pred, opt, items = _setup(cfg)
    m = train_step(
        WorldModelObjective(pred, cfg.rollout_steps),
        [default_collate(items)],
        opt,
        step=0,
        optim=cfg.optim,
        encoder=enc,
        device=CPU,
        amp_dtype=torch.bfloat16,
    )
    ref = _step(cfg, *_setup(cfg)[1:3], enc, [default_collate(items)])
    assert m["loss"] == pytest.approx(ref["loss"], rel=0.05)
    assert all(p.dtype == torch.float32 for p in pred.parameters())


def test_nonfinite_update_raises_and_names_the_tensors(tiny):
    """A finite loss and gradient whose update is NaN (here a NaN weight decay that got past the
    config, e.g. set in code) is caught right after optimizer.step(), before anything is saved."""
    cfg = tiny()
    enc, pred, opt, items = _setup(cfg)
    for group in opt.param_groups:
        if group["weight_decay"] > 0:
            group["weight_decay"] = float("nan")
    with pytest.raises(NonFiniteLossError, match="non-finite update at step 2") as err:
        _step(cfg, pred, opt, enc, [default_collate(items)], step=2)
    assert err.value.what == "update" and err.value.bad_tensors
    assert all(name.startswith(("param[", "state[")) for name in err.value.bad_tensors)


def test_nonfinite_tensors_checks_weights_and_moments(tiny):
    from vjepa_ac.train.step import nonfinite_tensors

    cfg = tiny()
    enc, pred, opt, items = _setup(cfg)
    _step(cfg, pred, opt, enc, [default_collate(items)])
    assert nonfinite_tensors(opt) == []
    first = opt.param_groups[0]["params"][0]
    opt.state[first]["exp_avg_sq"].view(-1)[0] = float("inf")
    assert nonfinite_tensors(opt) == ["state[0.0].exp_avg_sq"]
    with torch.no_grad():
        first.view(-1)[0] = float("nan")
    assert nonfinite_tensors(opt) == ["param[0.0]", "state[0.0].exp_avg_sq"]


def test_nonfinite_gradient_stops_or_is_skipped_like_the_public_loss_scaler(tiny):
    cfg = tiny()
    enc, pred, opt, items = _setup(cfg)
    batch = default_collate(items)
    hook = next(pred.parameters()).register_hook(lambda g: torch.full_like(g, float("inf")))
    with pytest.raises(NonFiniteLossError, match="non-finite gradient norm at step 0"):
        _step(cfg, pred, opt, enc, [batch])
    before = [p.detach().clone() for p in pred.parameters()]
    skip = tiny("optim.on_nonfinite_grad=skip")
    m = _step(skip, pred, opt, enc, [batch], step=1)
    assert m["skipped"] == 1.0 and m["grad_norm"] == float("inf")
    for a, b in zip(before, pred.parameters()):
        assert torch.equal(a, b)  # no update
    hook.remove()
    assert _step(skip, pred, opt, enc, [batch], step=2)["skipped"] == 0.0
