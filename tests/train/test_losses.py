"""The objective reproduces the public implementation's losses (../shared/golden/losses_small)."""

import pytest
import torch

from vjepa_ac.models.predictor import normalize_reps
from vjepa_ac.official import load_predictor
from vjepa_ac.train.losses import rollout, teacher_forcing, world_model_losses


def _predictor(golden, g):
    """losses_small uses the weights of predictor_small."""
    w = golden("predictor_small")
    cfg = {k: v for k, v in g["config"].items() if k not in ("auto_steps", "frames")}
    return load_predictor({k[3:]: v for k, v in w.items() if k.startswith("sd.")}, **cfg)


def test_losses_match_golden(golden):
    g = golden("losses_small")
    model = _predictor(golden, g)
    tf, ro = world_model_losses(model, g["h_raw"], g["actions"], g["states"], rollout_steps=g["config"]["auto_steps"])
    torch.testing.assert_close(tf.reshape(1), g["teacher_forcing_loss"].reshape(1), atol=1e-6, rtol=0)
    torch.testing.assert_close(ro.reshape(1), g["rollout_loss"].reshape(1), atol=1e-6, rtol=0)


def test_intermediate_predictions_match_golden(golden):
    g = golden("losses_small")
    model = _predictor(golden, g)
    h = normalize_reps(g["h_raw"])
    n = h.shape[1] // g["states"].shape[1]
    with torch.no_grad():
        z_tf, cache = teacher_forcing(model, h, g["actions"], g["states"])
        z_ar = rollout(model, z_tf[:, :n], cache, g["actions"], g["states"], g["config"]["auto_steps"])
    torch.testing.assert_close(z_tf, g["z_tf"], atol=1e-5, rtol=0)
    torch.testing.assert_close(z_ar, g["z_ar"], atol=1e-5, rtol=0)


def test_rollout_gradients_flow_through_the_recurrence(golden):
    g = golden("losses_small")
    model = _predictor(golden, g).train()
    _, ro = world_model_losses(model, g["h_raw"], g["actions"], g["states"], rollout_steps=3)
    ro.backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(gr).all() for gr in grads)
    assert model.action_encoder.weight.grad.abs().sum() > 0


def test_rollout_steps_validated(golden):
    g = golden("losses_small")
    with pytest.raises(ValueError, match="rollout_steps"):
        world_model_losses(_predictor(golden, g), g["h_raw"], g["actions"], g["states"], rollout_steps=4)
