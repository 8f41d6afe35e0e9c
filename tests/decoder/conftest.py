"""Fixtures of the decoder tests: a tiny raw DROID dataset, its feature cache (a random 32 px
encoder), and a decoder trained on it for a few steps."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.train.conftest import one_thread  # noqa: F401  (autouse: one torch thread)

TINY_ENCODER = dict(img_size=32, patch_size=16, embed_dim=32, depth=1, num_heads=2, mlp_ratio=2.0)


@pytest.fixture(scope="session")
def decoder_data(tmp_path_factory) -> dict[str, Path]:
    """``root``: 6 raw DROID episodes; ``encoder``: a random tiny encoder file; ``features``: its cache."""
    from vjepa_ac.data.clips import ClipConfig
    from vjepa_ac.data.droid import DroidConfig
    from vjepa_ac.data.index import DataConfig
    from vjepa_ac.data.synthetic_datasets import make_droid_dataset
    from vjepa_ac.encode import EncodeConfig, encode_dataset
    from vjepa_ac.models.encoder import EncoderConfig, VisionTransformer
    from vjepa_ac.official import save_encoder

    base = tmp_path_factory.mktemp("decoder_data")
    root = base / "droid"
    make_droid_dataset(root, 6, length=(30, 40), seed=3, two_cameras=False)
    torch.manual_seed(0)
    encoder = VisionTransformer(EncoderConfig(**TINY_ENCODER)).eval()
    save_encoder(encoder, base / "encoder.pt")
    cfg = EncodeConfig(output=base / "features", data=DataConfig(droid=DroidConfig(root=root), val_fraction=0.34),
                       clips=ClipConfig(resolution=32, crop="square", fps=4.0, starts="grid"),
                       checkpoint=str(base / "encoder.pt"), num_workers=0, device="cpu")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    encode_dataset(cfg)
    torch.set_num_threads(before)
    return dict(root=root, encoder=base / "encoder.pt", features=base / "features", base=base)


def decoder_overrides(data: dict[str, Path], out: Path, *extra: str) -> list[str]:
    return [f"features={data['features']}", f"data.droid.root={data['root']}", "data.val_fraction=0.34",
            f"out_dir={out}", "arch.width=32", "arch.depth=1", "arch.num_heads=2", "steps=60", "warmup=5",
            "batch_size=16", "peak_lr=3e-3", "val_fraction=0.34", "log_every=20", "device=cpu", *extra]


@pytest.fixture(scope="session")
def trained_decoder(decoder_data, tmp_path_factory) -> Path:
    """A decoder trained for 60 steps on ``decoder_data`` (its decoder.pt)."""
    from vjepa_ac.config import load_config
    from vjepa_ac.train.decoder import DecoderTrainConfig, train_decoder

    out = tmp_path_factory.mktemp("decoder_run") / "decoder"
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    train_decoder(load_config(DecoderTrainConfig, None, decoder_overrides(decoder_data, out)))
    torch.set_num_threads(before)
    return out / "decoder.pt"


@pytest.fixture(scope="session")
def model_with_decoder(tmp_path_factory) -> Path:
    """A run folder of the train tests' tiny config (32 px, 2 x 2 tokens of width 32) with a
    decoder of its encoder (random weights) in ``decoder/decoder.pt``, where ``runs.find_decoder`` looks."""
    from tests.train.conftest import tiny_config
    from vjepa_ac.models.decoder import DecoderConfig, FrameDecoder, save_decoder
    from vjepa_ac.train.loop import train

    run = tmp_path_factory.mktemp("model") / "run"
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    train(tiny_config(run))
    torch.set_num_threads(before)
    torch.manual_seed(0)
    save_decoder(FrameDecoder(DecoderConfig(embed_dim=32, img_size=32, patch_size=16, width=16, depth=1,
                                            num_heads=2)), run / "decoder" / "decoder.pt", {})
    return run
