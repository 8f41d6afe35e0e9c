"""The main job's optional ``decoder`` stage: off by default, trained after ``encode`` when on, kept on rerun."""

import json

from vjepa_ac.cli import main
from vjepa_ac.config import load_config
from vjepa_ac.pipeline import PipelineConfig, resolve, stage_order

SMALL = ["decoder.train.arch.width=32", "decoder.train.arch.depth=1", "decoder.train.arch.num_heads=2",
         "decoder.train.steps=8", "decoder.train.warmup=2", "decoder.train.batch_size=8",
         "decoder.train.device=cpu", "train.data.dataset.val_fraction=0.34"]


def test_the_stage_is_off_by_default_and_runs_after_encode_when_on(tmp_path):
    assert stage_order(PipelineConfig()) == ["collect", "encoder", "encode", "train", "eval"]
    on = resolve(load_config(PipelineConfig, None, [f"work_dir={tmp_path}", "decoder.enabled=true"]))
    assert stage_order(on) == ["collect", "encoder", "encode", "decoder", "train", "eval"]
    assert on.decoder.train.features == on.train.data.feature_cache
    assert on.decoder.train.data == on.train.data.dataset and on.train.decoder == tmp_path / "decoder" / "decoder.pt"
    assert resolve(load_config(PipelineConfig, None, [f"work_dir={tmp_path}"])).train.decoder is None


def test_decoder_stage_trains_once(decoder_data, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    (work / "episodes").symlink_to(decoder_data["root"])
    (work / "features").symlink_to(decoder_data["features"])
    args = ["pipeline", f"work_dir={work}", "stages=[decoder]", "decoder.enabled=true", *SMALL]
    assert main(args) == 0
    stage = json.loads((work / "summary.json").read_text())["stages"]["decoder"]
    assert stage["skipped"] is False and (work / "decoder" / "decoder.pt").is_file()
    assert stage["val_psnr"] > 0
    assert main(args) == 0  # resumable: a finished decoder is kept
    assert json.loads((work / "summary.json").read_text())["stages"]["decoder"]["skipped"] is True
