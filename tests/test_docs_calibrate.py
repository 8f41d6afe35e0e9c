"""docs/calibrate.md's commands, as written, on tiny data: sim probe moves -> calibration.json ->
eval sim with and without it; a recorded probe episode -> calibration.json -> plan / serve.

Only what cannot run here changes: the main job's model ``runs/sim`` is ``tiny:``, calibrate
gets a small search (and, for the recorded episode, which rotates too, loose pair filters; the
sim probes: one scene at 64 px), the user's ``/data/my_robot_probes`` is a synthetic DROID
folder, and the sim episodes of ``eval sim`` and the HTTP loop of ``serve`` are stubbed.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from tests.docs_helpers import vjepa_ac_commands
from tests.train.conftest import one_thread  # noqa: F401  (autouse: one torch thread)
from vjepa_ac.cli import main

pytestmark = [pytest.mark.sim,
              pytest.mark.skipif(importlib.util.find_spec("mujoco") is None, reason="no [sim] extra")]

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "calibrate.md"
TINY_INFER = ["infer.num_samples=24", "infer.iterations=2", "infer.num_elites=4"]


def _adapt(argv: list[str], probes: Path) -> list[str]:
    out = ["tiny:" if a == "runs/sim" else str(probes) if a == "/data/my_robot_probes" else a for a in argv]
    if out[0] == "calibrate":
        out += TINY_INFER + (["episodes.max_rot=3", "episodes.max_gripper=1"] if "--episode" in out
                             else ["sim.seeds=[0]", "sim.image_size=64"])
    return out


def test_the_page_runs_as_written_on_tiny_data(tmp_path, monkeypatch, capsys):
    import vjepa_ac.sim  # noqa: F401  (MuJoCo's GL backend first)
    from vjepa_ac.data.images import write_image
    from vjepa_ac.data.synthetic_datasets import make_droid_dataset

    make_droid_dataset(tmp_path / "probes", 1, length=30, size=(48, 64))
    rng = np.random.default_rng(0)
    for name in ("now.png", "goal.png"):
        write_image(tmp_path / name, rng.integers(0, 255, (48, 64, 3), dtype=np.uint8))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("vjepa_ac.serve.server.uvicorn.Server.run", lambda self: None)
    evaluated: list = []
    monkeypatch.setattr("vjepa_ac.eval.sim.evaluate_policy", lambda policy, cfg, **kw: evaluated.append(policy))
    ran = []
    for argv in vjepa_ac_commands(DOC):
        argv = _adapt(argv, tmp_path / "probes")
        rc = main(argv)
        out = capsys.readouterr()
        assert rc == 0, f"vjepa-ac {' '.join(argv)}\n{out.err[-3000:]}"
        ran.append(argv[0])
        if argv[0] == "plan":
            printed = json.loads(out.out.strip().splitlines()[-1])
            assert len(printed["action"]) == 7 and len(printed["planned_action"]) == 7
    assert ran == ["calibrate", "eval", "eval", "calibrate", "plan", "serve"]
    assert (tmp_path / "setups" / "kitchen_60" / "calibration.json").is_file()
    assert [p.calibration is not None for p in evaluated] == [False, True]
    stored = json.loads((tmp_path / "eval_calibration" / "kitchen_60" / "results.json").read_text())
    assert stored["env"]["camera_azimuth"] == 60.0 and "calibration" in stored["policies"]["calibrated"]
