"""Planning world models load from a training run, a checkpoint, or a released-format file."""

from pathlib import Path

import pytest
import torch

from tests.train.conftest import tiny_config
from vjepa_ac.load import load_world_model
from vjepa_ac.official import export_predictor
from vjepa_ac.plan import Context
from vjepa_ac.train.build import build_encoder
from vjepa_ac.train.loop import train


def test_world_model_from_a_training_run(tmp_path):
    cfg = tiny_config(tmp_path / "run")
    train(cfg)
    loaded = load_world_model(tmp_path / "run")
    assert loaded.info["step"] == cfg.total_steps and loaded.info["image_size"] == 32
    # the same weights the run ended with, and the same (seeded) frozen encoder
    trained = torch.load(next((tmp_path / "run" / "checkpoints").glob("step_*6.pt")), weights_only=True)
    for k, v in trained["model"].items():
        torch.testing.assert_close(loaded.world_model.model.predictor.state_dict()[k], v)
    enc = build_encoder(cfg.model, torch.device("cpu")).vit
    for k, v in enc.state_dict().items():
        torch.testing.assert_close(loaded.world_model.model.encoder.state_dict()[k], v)
    z = loaded.world_model.encode(torch.zeros(1, 48, 48, 3, dtype=torch.uint8))
    out = loaded.world_model.rollout(Context.single(z[0], torch.zeros(7)), torch.zeros(3, 2, 7))
    assert out.shape == (3, 2, 4, 32)


def test_released_format_file(tmp_path):
    cfg = tiny_config(tmp_path / "run")
    enc = build_encoder(cfg.model, torch.device("cpu")).vit
    from vjepa_ac.models.predictor import ACPredictor

    pred = ACPredictor(cfg.model.predictor)
    torch.save({"encoder": enc.state_dict(), "predictor": export_predictor(pred)}, tmp_path / "ac.pt")
    with pytest.raises(Exception, match="missing|mismatch|shape"):
        load_world_model(tmp_path / "ac.pt")  # a released-format file is read with the released ViT-g sizes


def test_missing_source_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing_here"):
        load_world_model(tmp_path / "nothing_here")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no training checkpoint"):
        load_world_model(tmp_path / "empty")


def test_one_loader_for_every_spec_and_one_id_rule(tmp_path):
    """toy:, tiny: and released-format files load through load_world_model into one record; a file's
    id is its stem plus a content hash, so a copied file keeps it."""
    import shutil

    from vjepa_ac.load import LoadedWorldModel, model_id
    from vjepa_ac.plan.toy import ToyWorldModel

    toy = load_world_model("toy:width=8,seed=3")
    assert isinstance(toy, LoadedWorldModel) and isinstance(toy.world_model, ToyWorldModel)
    assert toy.model_id == "toy:tokens=4,width=8,seed=3" and toy.source == "toy"
    tiny = load_world_model("tiny:seed=1", device="auto")
    assert tiny.model_id == "tiny:seed=1,img_size=64" and tiny.image_size == 64
    with pytest.raises(ValueError, match="bad model spec"):
        load_world_model("tiny:seed=x")
    f = tmp_path / "a" / "weights.pt"
    f.parent.mkdir()
    torch.save({"x": torch.arange(3)}, f)
    (tmp_path / "b").mkdir()
    shutil.copy(f, tmp_path / "b" / "weights.pt")
    assert model_id(f) == model_id(tmp_path / "b" / "weights.pt") and model_id(f).startswith("weights-")
    assert model_id("vjepa2-ac-vitg") == "vjepa2-ac-vitg"


def test_planning_uses_the_crop_the_run_trained_with(tmp_path, caplog):
    """A run trained with the `released` crop (16:9 DROID frames) plans with it, through every
    entry point; an explicit other crop is used with a warning."""
    import logging

    from vjepa_ac.eval.sim import EvalSimConfig
    from vjepa_ac.serve.config import ServeConfig

    cfg = tiny_config(tmp_path / "run", "data.clips.crop=released")
    train(cfg)
    with caplog.at_level(logging.WARNING, logger="vjepa_ac.load"):
        assert load_world_model(tmp_path / "run").world_model.crop == "released"
        assert not caplog.records
        assert load_world_model(tmp_path / "run", crop="square").world_model.crop == "square"
    assert any("trained with crop 'released'" in r.getMessage() for r in caplog.records)
    assert ServeConfig().crop is None and EvalSimConfig().crop is None  # None: the model's own crop
    square = tmp_path / "square"
    train(tiny_config(square, "data.clips.crop=square"))
    assert load_world_model(square).world_model.crop == "square"
    assert load_world_model("tiny:").world_model.crop == "square"  # nothing recorded: square


@pytest.mark.parametrize("stored", ["relative", "absolute"])
def test_a_moved_main_job_folder_loads_and_plans_from_anywhere(tmp_path, monkeypatch, capsys, stored):
    """The main job's layout (work/encoder.pt + work/train/ naming it, relative to the directory the
    job ran in as before issue 19.6, or resolved as now), moved elsewhere and used from another
    working directory: `load_world_model(work)` and `vjepa-ac plan work` find the run and its encoder."""
    import numpy as np

    from vjepa_ac.cli import main
    from vjepa_ac.data.images import write_image
    from vjepa_ac.official import save_encoder

    cfg = tiny_config(tmp_path / "x")
    monkeypatch.chdir(tmp_path)
    encoder = build_encoder(cfg.model, torch.device("cpu")).vit
    save_encoder(encoder, tmp_path / "runs" / "sim" / "encoder.pt")
    enc_path = "runs/sim/encoder.pt" if stored == "relative" else str(tmp_path / "runs" / "sim" / "encoder.pt")
    train(tiny_config(Path("runs/sim/train"), f"model.encoder_checkpoint={enc_path}"))
    before = load_world_model("runs/sim")
    (tmp_path / "moved").mkdir()
    (tmp_path / "runs" / "sim").rename(tmp_path / "moved" / "sim")
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    moved = tmp_path / "moved" / "sim"
    after = load_world_model(moved)
    assert after.model_id == before.model_id  # the id is the checkpoint's content, not its path
    for k, v in encoder.state_dict().items():
        torch.testing.assert_close(after.world_model.model.encoder.state_dict()[k], v)
    rng = np.random.default_rng(0)
    for name in ("now.png", "goal.png"):
        write_image(tmp_path / name, rng.integers(0, 255, (40, 60, 3), dtype=np.uint8))
    rc = main(["plan", str(moved), "--image", str(tmp_path / "now.png"), "--state", "0.5 0 0.3 3.14 0 0 0",
               "--goal", str(tmp_path / "goal.png"), "num_samples=16", "iterations=2", "num_elites=4"])
    assert rc == 0, capsys.readouterr().err
    (moved / "encoder.pt").unlink()  # a run whose encoder is gone says which file it looked for
    with pytest.raises(FileNotFoundError, match="encoder.pt"):
        load_world_model(moved)


def test_an_encoder_only_release_is_not_a_world_model():
    with pytest.raises(ValueError, match="encoder-only release"):
        load_world_model("vitg")
