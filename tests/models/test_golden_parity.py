"""Our models reproduce the public implementation's outputs (../shared/golden)."""

import torch

from vjepa_ac.models.encoder import encode_per_frame
from vjepa_ac.official import load_encoder, load_predictor

TOL = 1e-5


def _sd(g):
    return {k[3:]: v for k, v in g.items() if k.startswith("sd.")}


def test_predictor_matches_golden(golden):
    g = golden("predictor_small")
    model = load_predictor(_sd(g), **g["config"])
    with torch.no_grad():
        out = model(g["z"], g["actions"], g["states"])
    torch.testing.assert_close(out, g["out"], atol=TOL, rtol=0)


def test_predictor_short_sequence_matches_golden(golden):
    g = golden("predictor_small")
    model = load_predictor(_sd(g), **g["config"])
    n = g["z"].shape[1] // g["actions"].shape[1]
    with torch.no_grad():
        out = model(g["z"][:, :-n], g["actions"][:, :-1], g["states"][:, :-1])
    torch.testing.assert_close(out, g["out_short"], atol=TOL, rtol=0)


def test_encoder_matches_golden(golden):
    g = golden("encoder_small")
    model = load_encoder(_sd(g), **g["config"])
    with torch.no_grad():
        out = model(g["clip"])
        per_frame = encode_per_frame(model, g["clip"])
    torch.testing.assert_close(out, g["out"], atol=TOL, rtol=0)
    torch.testing.assert_close(per_frame, g["per_frame_out"], atol=TOL, rtol=0)


def test_nonsquare_encoder_matches_golden(golden):
    """img_size (H, W) like the public VisionTransformer: a 48 x 80 input (3 x 5 patches)."""
    g = golden("encoder_nonsquare")
    assert g["config"]["img_size"] == [48, 80]
    model = load_encoder(_sd(g), **g["config"])
    assert model.cfg.img_size == (48, 80) and model.cfg.tokens_per_frame == 15
    with torch.no_grad():
        out = model(g["clip"])
        per_frame = encode_per_frame(model, g["clip"])
    torch.testing.assert_close(out, g["out"], atol=TOL, rtol=0)
    torch.testing.assert_close(per_frame, g["per_frame_out"], atol=TOL, rtol=0)
