"""torchrun: 2 processes on CPU (gloo) give the result of 1 process with the same global batch;
SIGTERM writes a checkpoint and exits cleanly."""

import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from vjepa_ac.train import checkpoint as ckpt
from vjepa_ac.train import loop
from vjepa_ac.train.logging import read_csv

from .conftest import ROOT, tiny_overrides


def _env():
    return {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1"}


@pytest.mark.slow  # ~10 s: torchrun starts 2 Python processes
def test_two_processes_equal_one(tiny, tmp_path):
    # 1 process: 4 clips per micro-batch, no accumulation
    one = loop.train(tiny("micro_batch_size=4", "val_every=6", name="one"))
    # 2 processes: 1 clip per micro-batch x 2 processes x 2 accumulation steps (DDP no_sync on the first)
    two_dir = tmp_path / "two"
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        "-m",
        "vjepa_ac.cli",
        "train",
        str(ROOT / "configs" / "cpu_small.yaml"),
        *tiny_overrides(two_dir, "micro_batch_size=1", "val_every=6"),
    ]
    proc = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "4 = 1 per process x 2 processes x 2 accumulation" in proc.stderr
    a, b = read_csv(one.run_dir / "metrics.csv"), read_csv(two_dir / "metrics.csv")
    assert len(a) == len(b) == 6
    for ra, rb in zip(a, b):
        for key in ("loss_tf", "loss_rollout", "grad_norm"):
            assert float(ra[key]) == pytest.approx(float(rb[key]), abs=1e-6, rel=1e-5), (ra["step"], key)
    va, vb = read_csv(one.run_dir / "val.csv")[-1], read_csv(two_dir / "val.csv")[-1]
    assert va["clips"] == vb["clips"] == "4"
    assert float(va["rollout_h3"]) == pytest.approx(float(vb["rollout_h3"]), abs=1e-6)
    pa = ckpt.load_checkpoint(ckpt.latest_checkpoint(one.run_dir / "checkpoints"))["model"]
    pb = ckpt.load_checkpoint(ckpt.latest_checkpoint(two_dir / "checkpoints"))["model"]
    # Adam divides by sqrt(v): a last-bit difference of a near-zero gradient (DDP sums in another
    # order) moves that weight by up to ~1e-6 per step; the weights themselves moved by ~1e-2
    init = ckpt.load_checkpoint(ckpt.checkpoint_path(one.run_dir / "checkpoints", 3))["model"]
    for k in pa:
        torch.testing.assert_close(pa[k], pb[k], atol=1e-5, rtol=0)
    assert max((pa[k] - init[k]).abs().max().item() for k in pa) > 1e-3


def test_sigterm_writes_a_checkpoint_and_exits_cleanly(tmp_path):
    run_dir = tmp_path / "run"
    # a long schedule: the signal arrives long before the end
    cmd = [
        sys.executable,
        "-m",
        "vjepa_ac.cli",
        "train",
        str(ROOT / "configs" / "cpu_small.yaml"),
        *tiny_overrides(run_dir, "optim.constant=100000", "ckpt_every=100000"),
    ]
    proc = subprocess.Popen(cmd, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            csv = run_dir / "metrics.csv"
            if csv.is_file() and len(csv.read_text().splitlines()) >= 3:
                break
            time.sleep(0.1)
        else:
            pytest.fail("training did not start")
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err[-4000:]
    assert "stopped by signal" in err
    saved = ckpt.list_checkpoints(run_dir / "checkpoints")
    assert len(saved) == 1
    step = ckpt.load_checkpoint(saved[0])["step"]
    assert step >= 2 and int(read_csv(run_dir / "metrics.csv")[-1]["step"]) == step
    assert f"signal at step {step}" in out
