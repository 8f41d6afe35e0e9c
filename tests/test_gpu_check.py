"""benchmarks/gpu_check.sh: the GPU check runs end to end at tiny sizes on the CPU (``--cpu-smoke``)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))


def test_train_step_and_plan_figures_in_process():
    import gpu_check

    cpu = torch.device("cpu")
    train = gpu_check.fig_train_step(True, cpu)
    assert train["checkpointing"] and train["amp"] == "bf16" and train["attention"] == "sdpa"
    assert train["clips_per_s"] > 0 and train["loss"] > 0
    plan = gpu_check.fig_plan(True, cpu)
    assert plan["horizon"] == 1 and plan["fp32"]["s_per_action"] > 0 and plan["bf16"]["energy"] >= 0


@pytest.mark.slow
def test_cpu_smoke_prints_one_line_per_figure():
    proc = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_check.sh"), "--cpu-smoke"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300, env={**__import__("os").environ,
                                                                            "PYTHON": sys.executable})
    rows = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert [r["figure"] for r in rows] == ["gpu_tests", "train_step", "plan", "ddp"], proc.stderr[-2000:]
    assert not [r for r in rows if "error" in r], rows
    assert proc.returncode == 0
    ddp = rows[-1]
    assert ddp["processes"] == 2 and ddp["weights_equal_across_ranks"]
