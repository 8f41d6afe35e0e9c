"""``vjepa-ac encode CONFIG key=value ...`` end to end on a tiny synthetic dataset."""

import json

from vjepa_ac.cli import main
from vjepa_ac.data.features import FeatureCache


def test_encode_command(droid_root, tmp_path, capsys):
    cfg = tmp_path / "encode.yaml"
    cfg.write_text(
        f"data:\n  droid:\n    root: {droid_root}\nclips:\n  resolution: 32\n  frames_per_clip: 3\n"
    )
    args = [
        str(cfg),
        f"output={tmp_path / 'cache'}",
        "checkpoint=random",
        "encoder_preset=vit_tiny",
        "num_workers=0",
        "clips.sampling=container_stride",
    ]
    assert main(["encode", *args]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["encoded"] == 6 and summary["bytes_per_frame"] == 4 * 192 * 2
    assert FeatureCache(tmp_path / "cache").manifest["sampling"] == "container_stride"
    assert main(["encode", *args]) == 0  # resumes: nothing left to do
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["reused"] == 6
