"""The README's and docs' commands, as written, on tiny data (issue 19.8).

Every ``vjepa-ac plan | eval | landscape | serve`` line of the ``bash`` blocks in README.md,
docs/eval.md and docs/serve.md whose MODEL is the main job's folder ``runs/sim`` (or a test model)
runs in a folder laid out like the main job's (``runs/sim/encoder.pt``, ``runs/sim/train``,
``runs/sim/episodes``) with a tiny model. Only placeholders change (``--state ...``, ``CKPT``, and
the release name, a 10 GB download, stands for ``tiny:``); lines that name a user's own file or
data are skipped. The simulator
episodes of ``eval sim`` and the HTTP loop of ``serve`` are stubbed: what is checked is that the
command line, its config and its MODEL are accepted and the model loads.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.docs_helpers import vjepa_ac_commands
from tests.train.conftest import one_thread, tiny_config  # noqa: F401  (one_thread: autouse)
from vjepa_ac.cli import main

ROOT = Path(__file__).resolve().parents[1]
DOCS = ("README.md", "docs/eval.md", "docs/serve.md")
COMMANDS = ("plan", "eval", "landscape", "serve")
LOCAL_MODELS = ("runs/sim", "tiny:", "toy:")
PLACEHOLDERS = {"CKPT": "runs/sim", "vjepa2-ac-vitg": "tiny:"}  # a checkpoint; the release (a download)
STATE = "0.5 0 0.3 3.14 0 0 0"


def documented_commands() -> list[tuple[str, list[str]]]:
    """``(doc, argv)`` of each ``vjepa-ac`` line of the docs' bash blocks (continuations joined)."""
    return [(doc, argv) for doc in DOCS for argv in vjepa_ac_commands(ROOT / doc) if argv[0] in COMMANDS]


def _model(argv: list[str]) -> str:
    return argv[2] if argv[0] == "eval" else argv[1]


def _runnable(argv: list[str]) -> bool:
    """Lines whose MODEL is local (or a placeholder) and that name no data of the user's."""
    model = _model(argv)
    return (model in LOCAL_MODELS or model in PLACEHOLDERS) and not any("/data/" in a for a in argv)


def _placeholders(argv: list[str]) -> list[str]:
    out = list(argv)
    i = 2 if out[0] == "eval" else 1
    out[i] = PLACEHOLDERS.get(out[i], out[i])
    for i, a in enumerate(out[:-1]):
        if a in ("--state", "--next-state") and out[i + 1] == "...":
            out[i + 1] = STATE
    return out


@pytest.fixture(scope="module")
def main_job(tmp_path_factory) -> Path:
    """A folder laid out like the main job's work_dir after it ran, at tiny size."""
    from vjepa_ac.data.images import write_image
    from vjepa_ac.data.synthetic_datasets import make_droid_dataset
    from vjepa_ac.official import save_encoder
    from vjepa_ac.runs import frozen_encoder
    from vjepa_ac.train.loop import train

    top = tmp_path_factory.mktemp("docs")
    work = top / "runs" / "sim"
    make_droid_dataset(work / "episodes", 4, length=30)
    probe = tiny_config(work / "train")
    save_encoder(frozen_encoder(probe.model.encoder, "random"), work / "encoder.pt")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    train(tiny_config(work / "train", f"model.encoder_checkpoint={work / 'encoder.pt'}", "data.dataset.format=droid",
                      f"data.dataset.droid.root={work / 'episodes'}", "data.dataset.val_fraction=0.5"))
    torch.set_num_threads(before)
    rng = np.random.default_rng(0)
    for name in ("now.png", "goal.png"):
        write_image(top / name, rng.integers(0, 255, (48, 64, 3), dtype=np.uint8))
    (top / "tests" / "artifacts").mkdir(parents=True)
    shutil.copy(ROOT / "tests" / "artifacts" / "franka_example_traj.npz", top / "tests" / "artifacts")
    shutil.copy(ROOT / "tests" / "artifacts" / "franka_example_traj.npz", top)
    shutil.copytree(ROOT / "configs", top / "configs")
    return top


def test_the_docs_hold_the_commands_this_test_runs():
    cmds = documented_commands()
    local = [argv for _, argv in cmds if _runnable(argv)]
    assert ["plan", "runs/sim"] == [a for a in local if a[0] == "plan"][0][:2]  # the README's plan line
    assert {argv[0] for argv in local} == set(COMMANDS) and len(local) >= 8


def test_the_docs_commands_run_as_written_on_tiny_data(main_job, monkeypatch, capsys):
    ran: list[list[str]] = []
    skipped = []
    evaluated: list = []
    monkeypatch.chdir(main_job)
    monkeypatch.setenv("HOME", str(main_job))  # the docs' ~/.vjepa-token (a serve token file)
    (main_job / ".vjepa-token").write_text("a-token-of-the-docs-0123456789\n")
    monkeypatch.setattr("vjepa_ac.serve.server.uvicorn.Server.run", lambda self: None)
    monkeypatch.setattr("vjepa_ac.eval.sim.evaluate_policy", lambda policy, cfg, **kw: evaluated.append(cfg))
    for doc, argv in documented_commands():
        if not _runnable(argv):
            skipped.append(" ".join(argv))
            continue
        argv = _placeholders(argv)
        rc = main(argv)
        err = capsys.readouterr().err
        assert rc == 0, f"{doc}: vjepa-ac {' '.join(argv)}\n{err[-3000:]}"
        ran.append(argv)
    assert len(ran) >= 12 and evaluated, (ran, skipped)
    assert len(skipped) <= 2, skipped  # a user's own file (/models/...) and data (/data/droid)
