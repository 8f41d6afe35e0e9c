"""The ``decoder`` and ``rollout`` command lines of README.md and docs/decoder.md, as written, on a
tiny folder laid out like the main job's (``runs/sim/episodes``, ``encoder.pt``, ``features``, ``train``).

Only placeholders change (``EPISODE_FOLDER``, the held-out cache and episodes stand for the main
job's own); ``steps=20`` is added to ``decoder train`` lines (a test budget). ``vjepa-ac pipeline``
lines are not run here (tests/test_pipeline.py runs the main job)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from tests.docs_helpers import vjepa_ac_commands
from tests.train.conftest import tiny_config
from vjepa_ac.cli import main

ROOT = Path(__file__).resolve().parents[2]
DOCS = ("README.md", "docs/decoder.md")


def _placeholders(argv: list[str], episode: Path) -> list[str]:
    names = {"EPISODE_FOLDER": str(episode), "heldout_features": "runs/sim/features", "heldout/": "runs/sim/episodes"}
    out = [names.get(a, a) for a in argv]
    out = [a.replace("=heldout/", "=runs/sim/episodes") for a in out]
    return [*out, "steps=20", "warmup=2"] if out[:2] == ["decoder", "train"] else out


def test_decoder_docs_commands_run_as_written(tmp_path, monkeypatch, capsys):
    from vjepa_ac.data.images import write_image
    from vjepa_ac.data.synthetic_datasets import make_droid_dataset
    from vjepa_ac.official import save_encoder
    from vjepa_ac.runs import frozen_encoder
    from vjepa_ac.train.loop import train

    work = tmp_path / "runs" / "sim"
    folders = make_droid_dataset(work / "episodes", 4, length=30, two_cameras=False)
    probe = tiny_config(work / "train")
    save_encoder(frozen_encoder(probe.model.encoder, "random"), work / "encoder.pt")
    train(tiny_config(work / "train", f"model.encoder_checkpoint={work / 'encoder.pt'}", "data.dataset.format=droid",
                      f"data.dataset.droid.root={work / 'episodes'}", "data.dataset.val_fraction=0.5"))
    monkeypatch.chdir(tmp_path)
    assert main(["encode", str(ROOT / "configs" / "encode_droid.yaml"), "output=runs/sim/features",
                 "checkpoint=runs/sim/encoder.pt", "data.droid.root=runs/sim/episodes", "data.index_workers=0",
                 "clips.resolution=32", "clips.crop=square", "num_workers=0", "device=cpu"]) == 0
    write_image(tmp_path / "now.png", np.random.default_rng(0).integers(0, 255, (48, 64, 3), dtype=np.uint8))
    np.save(tmp_path / "actions.npy", np.zeros((3, 7), np.float32))
    commands = [argv for doc in DOCS for argv in vjepa_ac_commands(ROOT / doc) if argv[0] in ("decoder", "rollout")]
    # train before the lines that need a decoder
    commands.sort(key=lambda argv: argv[:2] != ["decoder", "train"])
    assert len(commands) >= 6
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for argv in commands:
            argv = _placeholders(argv, folders[0])
            rc = main(argv)
            assert rc == 0, f"vjepa-ac {' '.join(argv)}\n{capsys.readouterr().err[-2000:]}"
    finally:
        torch.set_num_threads(before)
    assert (work / "decoder" / "decoder.pt").is_file() and (tmp_path / "ro" / "rollout.png").is_file()
