"""``vjepa-ac rollout``: decoded predictions of an action sequence, beside a recorded episode's frames."""

import json

import numpy as np
from PIL import Image

from vjepa_ac.cli import main
from vjepa_ac.runs import find_decoder


def test_find_decoder_looks_beside_the_run_and_its_parent(model_with_decoder, tmp_path):
    run = model_with_decoder
    checkpoint = sorted((run / "checkpoints").glob("step_*.pt"))[-1]
    assert find_decoder(run) == find_decoder(checkpoint) == run / "decoder" / "decoder.pt"
    (tmp_path / "train").mkdir()
    assert find_decoder(tmp_path / "train") is None and find_decoder("tiny:") is None


def test_rollout_beside_a_recorded_episode(model_with_decoder, decoder_data, tmp_path, capsys):
    episode = next(p.parent for p in sorted(decoder_data["root"].rglob("trajectory.h5")))
    out = tmp_path / "ro"
    assert main(["rollout", str(model_with_decoder), "--episode", str(episode), "--start-step", "1",
                 "--steps", "3", "--out", str(out)]) == 0
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    result = json.loads((out / "rollout.json").read_text())
    assert len(result["actions"]) == 3 and len(result["psnr"]) == 4 and all(p > 0 for p in result["psnr"])
    assert printed["decoder"] == str(model_with_decoder / "decoder" / "decoder.pt")
    assert Image.open(out / "rollout.png").size == (64 + 4 * 130, 12 + 2 * 130)  # 4 columns: start + 3 steps; 32 px shown 4x
    assert sorted(p.name for p in out.glob("predicted_*.png")) == ["predicted_01.png", "predicted_02.png",
                                                                  "predicted_03.png"]
    with Image.open(out / "rollout.gif") as gif:
        assert gif.n_frames == 4


def test_rollout_from_an_image_state_and_actions(model_with_decoder, tmp_path, capsys):
    image = tmp_path / "start.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (48, 64, 3), dtype=np.uint8)).save(image)
    np.save(tmp_path / "a.npy", np.zeros((2, 7), np.float32))
    base = ["rollout", str(model_with_decoder), "--image", str(image), "--state", "0.5 0 0.3 3.14 0 0 0"]
    assert main([*base, "--actions", str(tmp_path / "a.npy"), "--out", str(tmp_path / "a"), "--format", "mp4"]) == 0
    assert (tmp_path / "a" / "rollout.mp4").is_file() and "psnr" not in json.loads(
        (tmp_path / "a" / "rollout.json").read_text())
    assert main([*base, "--actions", "0.01 0 0 0 0 0 0; 0 0 0 0 0 0 1", "--out", str(tmp_path / "b")]) == 0
    assert len(json.loads((tmp_path / "b" / "rollout.json").read_text())["actions"]) == 2
    capsys.readouterr()
    assert main(["rollout", "tiny:", "--image", str(image), "--state", "0 0 0 0 0 0 0", "--actions", "0 0 0 0 0 0 0",
                 "--out", str(tmp_path / "c")]) == 2
    assert "no frame decoder" in capsys.readouterr().err
    assert main([*base, "--actions", "1 2 3", "--out", str(tmp_path / "d")]) == 2
