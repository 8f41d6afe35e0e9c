"""``models.decoder``: shapes for two encoder sizes, patchify round trip, file round trip."""

import pytest
import torch

from vjepa_ac.models.decoder import DecoderConfig, FrameDecoder, load_decoder, patchify, save_decoder, unpatchify
from vjepa_ac.models.encoder import EncoderConfig, VisionTransformer, encode_per_frame


@pytest.mark.parametrize("enc", [
    EncoderConfig(img_size=32, patch_size=16, embed_dim=32, depth=1, num_heads=2),
    EncoderConfig(img_size=(48, 64), patch_size=8, embed_dim=48, depth=1, num_heads=3),
])
def test_decoder_reads_the_encoders_features_and_draws_its_frames(enc):
    torch.manual_seed(0)
    frames = torch.rand(2, 3, 1, *enc.size_hw)  # [B, C, T, H, W]
    z = encode_per_frame(VisionTransformer(enc).eval(), frames)  # [B, N, D]
    dec = FrameDecoder(DecoderConfig.for_encoder(enc, width=32, depth=2, num_heads=2))
    out = dec(z)
    assert out.shape == (2, 3, *enc.size_hw)
    assert dec.decode(z).dtype == torch.uint8
    with pytest.raises(ValueError, match="decoder reads"):
        dec(z[:, :-1])


def test_patchify_inverts_unpatchify():
    x = torch.rand(2, 3, 32, 48)
    assert torch.equal(unpatchify(patchify(x, 16), (2, 3), 16), x)


def test_decoder_file_round_trip(tmp_path):
    dec = FrameDecoder(DecoderConfig(embed_dim=16, img_size=32, patch_size=16, width=16, depth=1, num_heads=2))
    save_decoder(dec, tmp_path / "d.pt", {"crop": "square"})
    back, meta = load_decoder(tmp_path / "d.pt")
    z = torch.randn(1, 4, 16)
    assert torch.equal(back(z), dec.eval()(z)) and meta == {"crop": "square"}
    (tmp_path / "bad.pt").write_bytes(b"nope")
    with pytest.raises(ValueError, match="bad.pt"):
        load_decoder(tmp_path / "bad.pt")


def test_shipped_decoder_config_loads():
    from pathlib import Path

    from vjepa_ac.config import load_config
    from vjepa_ac.train.decoder import DecoderTrainConfig

    cfg = load_config(DecoderTrainConfig, Path(__file__).resolve().parents[2] / "configs" / "decoder_droid.yaml")
    assert cfg.arch.width == 512 and cfg.data.droid.root == Path("/data/droid_raw")
