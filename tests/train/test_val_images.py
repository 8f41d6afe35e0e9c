"""TensorBoard pictures of decoded predictions at validation time (``TrainConfig.decoder``)."""

import torch

from vjepa_ac.models.decoder import DecoderConfig, FrameDecoder, save_decoder
from vjepa_ac.train.loop import train


def _tb_images(run_dir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run_dir / "tb"), size_guidance={"images": 0})
    acc.Reload()
    return {tag: [(e.step, e.width, e.height) for e in acc.Images(tag)] for tag in acc.Tags()["images"]}


def test_validation_logs_decoded_predictions_only_with_a_decoder(tiny, tmp_path):
    torch.manual_seed(0)
    # a decoder of the tiny encoder (32 px, 2 x 2 tokens of width 32); random weights draw noise, enough here
    save_decoder(FrameDecoder(DecoderConfig(embed_dim=32, img_size=32, patch_size=16, width=16, depth=1,
                                            num_heads=2)), tmp_path / "decoder.pt", {})
    cfg = tiny("val_every=3", "tensorboard=true", f"decoder={tmp_path / 'decoder.pt'}", name="with")
    train(cfg)
    images = _tb_images(cfg.run_dir)
    # validations at steps 0, 3, 6; 3 rows (target, teacher forcing, rollout) x 3 frames of 32 px
    assert [step for step, _, _ in images["val/predictions"]] == [0, 3, 6]
    _, width, height = images["val/predictions"][0]
    assert height == 12 + 3 * (32 + 2) and width == 64 + 3 * (32 + 2)
    plain = tiny("val_every=3", "tensorboard=true", name="without")
    train(plain)
    assert _tb_images(plain.run_dir) == {}
