"""`vjepa-ac eval sim` pictures: a strip + animation per episode from the model's frame decoder,
and planning results identical with and without them."""

import importlib.util
import json
import shutil

import pytest
import torch

from vjepa_ac.cli import main
from vjepa_ac.models.decoder import DecoderConfig, FrameDecoder, save_decoder

pytestmark = [
    pytest.mark.sim,
    pytest.mark.skipif(importlib.util.find_spec("mujoco") is None, reason="no [sim] extra"),
]


def _args(model, out, *extra):
    return ["eval", "sim", str(model), f"out_dir={out}", "sim.tasks=[reach]", "sim.labs=[eval_kitchen]",
            "sim.episodes=1", "sim.image_size=64", "sim.progress=false", "sim.video=none", "baseline=false",
            "plan.num_samples=16", "plan.iterations=2", "plan.num_elites=4", *extra]


def _comparable(episode: dict) -> dict:
    """An episode record without what timing or pictures add."""
    info = {k: v for k, v in episode["info"].items() if k != "pictures"}
    return {**{k: v for k, v in episode.items() if k not in ("action_time_s", "wall_s", "info")}, "info": info}


def test_pictures_are_written_and_change_no_result(tiny_run, tmp_path):
    import vjepa_ac.sim  # noqa: F401  (MuJoCo's GL backend first)
    from PIL import Image

    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    torch.manual_seed(0)  # a decoder of the tiny run's encoder (32 px, 2 x 2 tokens, width 32): random weights
    save_decoder(FrameDecoder(DecoderConfig(embed_dim=32, img_size=32, patch_size=16, width=16, depth=1,
                                            num_heads=2)), run / "decoder" / "decoder.pt", {})
    assert main(_args(run, tmp_path / "with", "pictures=all")) == 0
    assert main(_args(run, tmp_path / "without", "pictures=none")) == 0
    with_ = json.loads((tmp_path / "with" / "results.json").read_text())["episodes"]
    without = json.loads((tmp_path / "without" / "results.json").read_text())["episodes"]
    assert [_comparable(e) for e in with_] == [_comparable(e) for e in without]
    pictures = with_[0]["info"]["pictures"]
    assert "pictures" not in without[0]["info"]
    strip = Image.open(pictures["strip"])
    steps = with_[0]["steps"]
    assert strip.size == (64 + (steps + 2) * 130, 12 + 2 * 130)  # label + steps+1 columns + goal, 2 rows; 32 px shown 4x
    with Image.open(pictures["animation"]) as gif:
        assert gif.n_frames == steps
    # failures only (the default): a successful episode gets none
    assert main(_args(run, tmp_path / "failures")) == 0
    ep = json.loads((tmp_path / "failures" / "results.json").read_text())["episodes"][0]
    assert ("pictures" in ep["info"]) == (not ep["success"])
