import pytest
import torch

from vjepa_ac.models.encoder import ENCODER_PRESETS, EncoderConfig, FrameEncoder, VisionTransformer, encode_per_frame

CFG = EncoderConfig(img_size=64, embed_dim=48, depth=2, num_heads=2)


def test_per_frame_encoding_is_independent_per_frame():
    torch.manual_seed(0)
    enc = VisionTransformer(CFG).eval()
    clip = torch.randn(1, 3, 3, 64, 64)
    clip2 = clip.clone()
    clip2[:, :, 2] += 1.0
    with torch.no_grad():
        a, b = encode_per_frame(enc, clip), encode_per_frame(enc, clip2)
        chunked = encode_per_frame(enc, clip, max_frames_per_batch=2)
    n = CFG.tokens_per_frame
    assert a.shape == (1, 3 * n, 48)
    torch.testing.assert_close(a[:, : 2 * n], b[:, : 2 * n])
    torch.testing.assert_close(a, chunked)


def test_frame_encoder_is_frozen():
    enc = FrameEncoder(VisionTransformer(CFG))
    enc.train()
    assert not enc.vit.training
    assert all(not p.requires_grad for p in enc.parameters())
    out = enc(torch.randn(1, 3, 2, 64, 64))
    assert not out.requires_grad
    torch.testing.assert_close(enc.encode_frames(torch.ones(1, 2, 3, 64, 64)), enc(torch.ones(1, 3, 2, 64, 64)))


@pytest.mark.parametrize("name,params", [("vit_large", 303e6), ("vit_huge", 631e6), ("vit_giant", 1011e6)])
def test_presets_have_released_sizes(name, params):
    model = VisionTransformer(EncoderConfig.preset(name), device="meta")
    n = sum(p.numel() for p in model.parameters())
    assert abs(n - params) / params < 0.02, n


def test_config_validation_names_fields():
    with pytest.raises(ValueError, match="img_size"):
        EncoderConfig(img_size=100)
    with pytest.raises(ValueError, match="preset"):
        EncoderConfig.preset("vit_enormous")


def test_clip_must_tile_into_tubelets():
    with pytest.raises(ValueError, match="tubelet"):
        VisionTransformer(CFG)(torch.randn(1, 3, 3, 64, 64))
