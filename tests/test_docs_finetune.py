"""docs/finetune.md's workflow, as written, on tiny data: own robot data in LeRobot v3 format ->
fine-tune (LoRA) from Hub-layout start weights -> export to the Hub layout -> calibrate the camera's
action frame on a recorded probe episode -> plan / serve with the calibration.

Every ``vjepa-ac`` line of the page's bash blocks runs, in order, in a folder laid out as the page
assumes (``data/my_robot``: a tiny LeRobot v3 dataset; ``now.png`` / ``goal.png``). Only what
cannot run here changes: the release (a 10 GB download) is a tiny released-format file, train
commands get the tiny architecture and a few steps appended (the page's config is the paper's
ViT-g), calibrate gets loose pair filters and a small search (the synthetic episode rotates too), ``--push-to-hub`` lines are skipped (network) and the HTTP loop of ``serve`` is stubbed.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.docs_helpers import vjepa_ac_commands
from tests.train.conftest import one_thread, tiny_config  # noqa: F401  (one_thread: autouse)
from vjepa_ac.cli import main

pytest.importorskip("huggingface_hub")
pytest.importorskip("peft")

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "finetune.md"
STATE = "0.5 0 0.3 3.14 0 0 0"
TINY_MODEL = [  # the train tests' tiny architecture, 32 px
    "model.encoder.img_size=32", "model.encoder.patch_size=16", "model.encoder.embed_dim=32", "model.encoder.depth=1",
    "model.encoder.num_heads=2", "model.encoder.mlp_ratio=2.0", "model.predictor.img_size=[32,32]",
    "model.predictor.patch_size=16", "model.predictor.embed_dim=32", "model.predictor.width=32",
    "model.predictor.depth=2", "model.predictor.num_heads=2", "data.clips.resolution=32",
]
TINY_RUN = ["data.clips.frames_per_clip=4", "data.clips.fps=5.0", "data.num_workers=0", "batch_size=4",
            "micro_batch_size=2", "optim.warmup=1", "optim.constant=1", "optim.anneal=1", "val_every=0",
            "ckpt_every=3", "tensorboard=false", "progress_bar=false", "device=cpu", "model.encoder_frames_per_call=8"]
CALIBRATE_TINY = ["episodes.max_rot=3", "episodes.max_gripper=1", "infer.num_samples=24", "infer.iterations=2",
                  "infer.num_elites=4"]


def documented_commands() -> list[list[str]]:
    return vjepa_ac_commands(DOC)


@pytest.fixture
def workdir(tmp_path, monkeypatch) -> Path:
    from vjepa_ac.data.images import write_image
    from vjepa_ac.data.synthetic_datasets import make_lerobot_dataset
    from vjepa_ac.models.encoder import VisionTransformer
    from vjepa_ac.models.predictor import ACPredictor
    from vjepa_ac.official import encoder_kwargs, export_predictor, released_predictor_kwargs

    make_lerobot_dataset(tmp_path / "data" / "my_robot", 4, length=24, fps=10, size=(48, 64))
    make_lerobot_dataset(tmp_path / "data" / "my_robot_probes", 1, length=24, fps=10, size=(48, 64), seed=1)
    cfg = tiny_config(tmp_path / "unused")
    torch.manual_seed(0)
    enc, pred = VisionTransformer(cfg.model.encoder), ACPredictor(cfg.model.predictor)
    torch.save({"encoder": enc.state_dict(), "predictor": export_predictor(pred),
                "encoder_kwargs": encoder_kwargs(enc.cfg), "predictor_kwargs": released_predictor_kwargs(pred.cfg)},
               tmp_path / "release-standin.pt")
    rng = np.random.default_rng(0)
    for name in ("now.png", "goal.png"):
        write_image(tmp_path / name, rng.integers(0, 255, (48, 64, 3), dtype=np.uint8))
    shutil.copytree(ROOT / "configs", tmp_path / "configs")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _adapt(argv: list[str]) -> list[str] | None:
    """The tiny stand-ins of the module docstring; None for a line that needs the network."""
    if any(a.startswith("--push-to-hub") for a in argv):
        return None
    out = ["release-standin.pt" if a == "vjepa2-ac-vitg" else a for a in argv]
    out = [STATE if prev == "--state" and a == "..." else a for prev, a in zip([""] + out, out)]
    if out[0] == "calibrate":  # the synthetic episode also rotates: every pair counts; a small search
        out += CALIBRATE_TINY
    if out[0] == "train":  # before any option (--resume takes an optional value)
        at = next((i for i, a in enumerate(out) if a.startswith("--")), len(out))
        out[at:at] = TINY_MODEL + TINY_RUN
    return out


def test_the_page_holds_the_workflow():
    cmds = [a[0] for a in documented_commands()]
    for step in ("export-hub", "train", "calibrate", "plan", "serve"):
        assert step in cmds, step
    assert cmds.index("train") < max(i for i, c in enumerate(cmds) if c == "export-hub") < cmds.index("calibrate")
    assert cmds.index("calibrate") < cmds.index("serve")


def test_the_workflow_runs_as_written_on_tiny_data(workdir, monkeypatch, capsys):
    monkeypatch.setattr("vjepa_ac.serve.server.uvicorn.Server.run", lambda self: None)
    ran, skipped = [], []
    for argv in documented_commands():
        adapted = _adapt(argv)
        if adapted is None:
            skipped.append(argv)
            continue
        rc = main(adapted)
        out = capsys.readouterr()
        assert rc == 0, f"vjepa-ac {' '.join(adapted)}\n{out.err[-3000:]}"
        ran.append(adapted)
        if adapted[0] == "plan":
            assert len(json.loads(out.out.strip().splitlines()[-1])["action"]) == 7
    assert {a[0] for a in ran} >= {"export-hub", "train", "calibrate", "plan", "serve"} and len(skipped) <= 2
    trained = [a for a in ran if a[0] == "train"]
    run_dir = Path(next(x.split("=", 1)[1] for x in trained[-1] if x.startswith("run_dir=")))
    stored = (run_dir / "config.yaml").read_text()
    assert "lora:" in stored and "rank: 16" in stored  # the page's LoRA run
    exported = [a for a in ran if a[0] == "export-hub" and a[1] == str(run_dir)]
    assert exported, "the page exports the fine-tuned run"
    from safetensors import safe_open

    with safe_open(str(Path(exported[-1][2]) / "model.safetensors"), "pt") as f:
        assert not any("lora" in k for k in f.keys())  # adapters merged into the released keys
