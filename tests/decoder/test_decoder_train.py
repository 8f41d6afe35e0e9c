"""``vjepa-ac decoder train`` / ``decoder eval`` on a tiny DROID dataset and its feature cache."""

import json

import torch

from tests.decoder.conftest import decoder_overrides
from vjepa_ac.cli import main
from vjepa_ac.models.decoder import load_decoder


def test_training_lowers_the_reconstruction_error(trained_decoder):
    out = trained_decoder.parent
    summary = json.loads((out / "summary.json").read_text())
    assert summary["last_loss"] < 0.5 * summary["first_loss"]
    fit, val = summary["train_scores"], summary["val_scores"]
    assert fit["psnr"] > fit["psnr_mean_frame"] + 2  # it reads its input: beats the mean frame (dB)
    assert val["episodes"] == 2 and val["frames"] > 0  # (4 training episodes with random backgrounds
    # do not generalise to new ones: the measured held-out figures are in notes/decoder.md)
    assert (out / "samples.png").is_file() and (out / "config.yaml").is_file() and (out / "train.csv").is_file()
    decoder, meta = load_decoder(trained_decoder)
    assert meta["crop"] == "square" and meta["resolution"] == 32 and decoder.cfg.embed_dim == 32
    assert meta["mean_frame"].shape == (3, 32, 32) and meta["mean_frame"].dtype == torch.uint8


def test_decoder_commands_end_to_end(decoder_data, tmp_path, capsys):
    out = tmp_path / "dec"
    args = ["decoder", "train", *decoder_overrides(decoder_data, out, "steps=10")]
    assert main(args) == 0
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert printed["steps"] == 10 and (out / "decoder.pt").is_file()
    assert main(args) == 0  # a finished out_dir is not trained again
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["skipped"] is True
    assert main(["decoder", "eval", str(out / "decoder.pt"), "--features", str(decoder_data["features"]),
                 f"data.droid.root={decoder_data['root']}", "--samples", str(tmp_path / "s.png")]) == 0
    scores = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert scores["episodes"] == 6 and scores["psnr"] > 0 and "psnr_mean_frame" in scores
    assert (tmp_path / "s.png").is_file()
    assert main(["decoder", "train", f"out_dir={tmp_path / 'x'}"]) == 2  # no features: one-line error
    assert "features" in capsys.readouterr().err


def test_a_killed_run_resumes_to_the_same_weights(decoder_data, tmp_path, monkeypatch, caplog):
    from vjepa_ac.config import load_config
    from vjepa_ac.train import decoder as decoder_train
    from vjepa_ac.train.decoder import DecoderTrainConfig, train_decoder

    def cfg(name):
        return load_config(DecoderTrainConfig, None,
                           decoder_overrides(decoder_data, tmp_path / name, "steps=12", "ckpt_every=5", "log_every=4"))

    train_decoder(cfg("whole"))
    real_lr = decoder_train.cosine_lr

    def killed_at_step_7(step, c):
        if step == 7:
            raise KeyboardInterrupt
        return real_lr(step, c)

    monkeypatch.setattr(decoder_train, "cosine_lr", killed_at_step_7)
    try:
        train_decoder(cfg("killed"))
    except KeyboardInterrupt:
        pass
    assert (tmp_path / "killed" / "state.pt").is_file() and not (tmp_path / "killed" / "decoder.pt").exists()
    monkeypatch.setattr(decoder_train, "cosine_lr", real_lr)
    with caplog.at_level("INFO", logger="vjepa_ac.decoder"):
        train_decoder(cfg("killed"))
    assert "resumed at step 5" in caplog.text  # (starting over would give the same weights too)
    whole, _ = load_decoder(tmp_path / "whole" / "decoder.pt")
    resumed, _ = load_decoder(tmp_path / "killed" / "decoder.pt")
    for (name, a), b in zip(whole.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name
    assert not (tmp_path / "killed" / "state.pt").exists()
