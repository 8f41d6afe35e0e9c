"""`vjepa-ac eval offline` pictures: real frames over decoded predictions of recorded and planned actions."""

import json
import shutil

import torch
from PIL import Image

from vjepa_ac.cli import main
from vjepa_ac.data.synthetic_datasets import make_droid_dataset
from vjepa_ac.models.decoder import DecoderConfig, FrameDecoder, save_decoder


def test_offline_pictures_with_the_models_decoder(tiny_run, tmp_path):
    root = tmp_path / "droid"
    make_droid_dataset(root, 4, length=30)
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    torch.manual_seed(0)
    save_decoder(FrameDecoder(DecoderConfig(embed_dim=32, img_size=32, patch_size=16, width=16, depth=1,
                                            num_heads=2)), run / "decoder" / "decoder.pt", {})
    args = ["eval", "offline", str(run), f"dataset.droid.root={root}", "dataset.val_fraction=0.5",
            "action_score.clips=2", "action_score.steps_per_clip=2", "scores=[action_score]",
            "plan.num_samples=16", "plan.iterations=2", "plan.num_elites=4"]
    assert main([*args, f"out_dir={tmp_path / 'all'}", "pictures=all"]) == 0
    res = json.loads((tmp_path / "all" / "offline.json").read_text())
    assert len(res["pictures"]) == 2 and all(len(s["plan_action"]) == 7 for s in res["steps"])
    assert Image.open(res["pictures"][0]).size == (64 + 3 * 130, 12 + 3 * 130)  # 3 rows x (1 + 2 steps) frames, 32 px shown 4x
    assert main([*args, f"out_dir={tmp_path / 'none'}", "decoder=none"]) == 0
    assert json.loads((tmp_path / "none" / "offline.json").read_text())["pictures"] == []
