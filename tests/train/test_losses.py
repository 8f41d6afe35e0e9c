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


def _pre_pr25_rollout_loss(model, h_raw, actions, states, steps):
    """The rollout term of the public app/vjepa_droid/train.py before PR #25 (commit 93366fe),
    transcribed with full forward passes (no cache): the rollout starts from [h_1, z_tf's
    prediction of frame 3], and its outputs are compared with frames 2 .. steps+1."""
    h = normalize_reps(h_raw)
    n = h.shape[1] // states.shape[1]
    z_tf = normalize_reps(model(h[:, :-n], actions, states[:, :-1]))
    z = torch.cat([h[:, :n], z_tf[:, n : 2 * n]], dim=1)
    for k in range(1, steps):
        nxt = normalize_reps(model(z, actions[:, : k + 1], states[:, : k + 1]))[:, -n:]
        z = torch.cat([z, nxt], dim=1)
    z_ar = z[:, n:]
    return (z_ar - h[:, n : n + z_ar.shape[1]]).abs().mean()


@pytest.mark.parametrize("steps", [2, 3])
def test_pre_pr25_rollout_objective_is_the_public_code_before_the_fix(golden, steps):
    g = golden("losses_small")
    model = _predictor(golden, g)
    with torch.no_grad():
        tf_fixed, ro_fixed = world_model_losses(model, g["h_raw"], g["actions"], g["states"], rollout_steps=steps)
        tf, ro = world_model_losses(
            model, g["h_raw"], g["actions"], g["states"], rollout_steps=steps, legacy_rollout=True
        )
        want = _pre_pr25_rollout_loss(model, g["h_raw"], g["actions"], g["states"], steps)
    torch.testing.assert_close(tf, tf_fixed, atol=0, rtol=0)  # teacher forcing is unchanged
    torch.testing.assert_close(ro, want, atol=1e-6, rtol=0)
    assert abs(ro.item() - ro_fixed.item()) > 1e-4  # and it is a different objective


def test_pre_pr25_needs_three_frames(golden):
    g = golden("losses_small")
    model = _predictor(golden, g)
    n = g["h_raw"].shape[1] // g["states"].shape[1]
    with pytest.raises(ValueError, match=">= 3 frames"):
        world_model_losses(model, g["h_raw"][:, : 2 * n], g["actions"][:, :1], g["states"][:, :2],
                           rollout_steps=1, legacy_rollout=True)
