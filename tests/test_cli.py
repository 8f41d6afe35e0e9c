"""The `vjepa-ac` command line: one clear line and exit status 2 for a config, checkpoint or input
error in every subcommand (the traceback only with --debug), user-facing --help, `plan tiny:`,
and checkpoints of another architecture."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from vjepa_ac.cli import build_parser, main
from vjepa_ac.config import ConfigError
from vjepa_ac.data.images import write_image

STATE = "0.5 0 0.3 3.14 0 0 0"
CHEAP = ["num_samples=16", "iterations=2", "num_elites=4"]


@pytest.fixture
def images(tmp_path):
    rng = np.random.default_rng(0)
    for name in ("now.png", "goal.png"):
        write_image(tmp_path / name, rng.integers(0, 255, (48, 64, 3), dtype=np.uint8))
    return tmp_path / "now.png", tmp_path / "goal.png"


def _plan(model, images, *extra):
    now, goal = images
    return ["plan", str(model), "--image", str(now), "--state", STATE, "--goal", str(goal), *CHEAP, *extra]


def test_help_is_written_for_users(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "Train and plan with the V-JEPA 2-AC" in out and "examples:" in out and "runs/sim" in out
    assert "thin subcommands" not in out and "``" not in out  # not the module docstring


def test_plan_tiny_works_as_the_docs_say(images, capsys):
    assert main(_plan("tiny:", images)) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out["action"]) == 7 and out["model_id"] == "tiny:seed=0,img_size=64"


def _every_subcommand_with_a_bad_input(tmp_path, images):
    missing = str(tmp_path / "missing")
    yield ["encode", str(tmp_path / "missing.yaml")]
    yield ["train", str(tmp_path / "missing.yaml")]
    yield _plan(missing, images)
    yield _plan("tiny:", images, "num_samplez=3")
    yield ["plan", "tiny:", "--image", str(tmp_path / "nope.png"), "--state", STATE, "--goal", str(images[1])]
    yield ["serve", "toy:", "queue_sise=3"]
    yield ["serve", missing]
    yield ["pipeline", "collect.episodez=3"]
    yield ["eval", "sim", "tiny:", "sim.episodez=1"]
    yield ["eval", "offline", missing]
    yield ["landscape", "tiny:", "--npz", str(tmp_path / "missing.npz")]
    yield ["landscape", missing, "--image", str(images[0]), "--goal", str(images[1]), "--state", STATE]


def test_every_subcommand_reports_a_bad_input_in_one_line_with_status_2(tmp_path, images, capsys, monkeypatch):
    monkeypatch.setattr("vjepa_ac.serve.server.uvicorn.Server.run", lambda self: None)
    for argv in _every_subcommand_with_a_bad_input(tmp_path, images):
        rc = main(argv)
        err = capsys.readouterr().err.strip()
        assert rc == 2, (argv, err)
        assert err.count("\n") == 0 and "Traceback" not in err, (argv, err)
        command = " ".join(a for a in argv[:2] if a in ("eval", "sim", "offline") or a == argv[0])
        assert err.startswith(f"vjepa-ac {command}: error: "), (argv, err)
    # --debug (anywhere on the line) shows the exception itself
    with pytest.raises(ConfigError, match="queue_sise"):
        main(["serve", "toy:", "queue_sise=3", "--debug"])
    with pytest.raises(FileNotFoundError, match="missing"):
        main(["--debug", "eval", "offline", str(tmp_path / "missing")])


def test_sim_collect_reports_a_bad_key_with_status_2(tmp_path, capsys):
    pytest.importorskip("mujoco")
    assert main(["sim", "collect", "episodez=3", f"out_dir={tmp_path}"]) == 2
    assert capsys.readouterr().err.startswith("vjepa-ac sim collect: error: ")


def _released_format_file(path, describe: bool):
    from vjepa_ac.models.encoder import EncoderConfig, VisionTransformer
    from vjepa_ac.models.predictor import ACPredictor, PredictorConfig
    from vjepa_ac.official import encoder_kwargs, export_predictor, released_predictor_kwargs

    torch.manual_seed(0)
    enc = VisionTransformer(EncoderConfig(img_size=64, embed_dim=48, depth=2, num_heads=2))
    pred = ACPredictor(PredictorConfig(img_size=(64, 64), embed_dim=48, width=64, depth=2, num_heads=2))
    ckpt = {"encoder": enc.state_dict(), "predictor": export_predictor(pred)}
    if describe:
        ckpt.update(encoder_kwargs=encoder_kwargs(enc.cfg), predictor_kwargs=released_predictor_kwargs(pred.cfg))
    torch.save(ckpt, path)
    return encoder_kwargs(enc.cfg), released_predictor_kwargs(pred.cfg)


def test_a_checkpoint_of_another_architecture(tmp_path, images, capsys):
    """A released-format file that is not ViT-g: built from its own description when it has one,
    from --encoder-kwargs / --predictor-kwargs when given, else the error says what to pass."""
    bare, described = tmp_path / "small-ac.pt", tmp_path / "small-ac-described.pt"
    enc_kw, pred_kw = _released_format_file(bare, describe=False)
    _released_format_file(described, describe=True)
    assert main(_plan(bare, images)) == 2
    err = capsys.readouterr().err
    assert "--encoder-kwargs" in err and "predictor_kwargs" in err and err.count("\n") == 1
    assert main(_plan(bare, images, "--encoder-kwargs", json.dumps(enc_kw),
                      "--predictor-kwargs", json.dumps(pred_kw))) == 0
    assert json.loads(capsys.readouterr().out)["model_id"].startswith("small-ac-")
    assert main(_plan(described, images)) == 0
    capsys.readouterr()
    assert main(_plan(bare, images, "--encoder-kwargs", "[1, 2]")) == 2
    assert "--encoder-kwargs must be a JSON object" in capsys.readouterr().err


def test_parser_has_every_documented_subcommand():
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    assert {"info", "encode", "train", "plan", "serve", "sim", "pipeline", "eval", "landscape"} <= set(sub.choices)
