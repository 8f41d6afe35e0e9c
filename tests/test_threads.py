"""CPU thread defaults (vjepa_ac/threads.py): the passive OpenMP wait policy is set before torch
starts, and never over the user's choice."""

import os
import subprocess
import sys

import pytest

from vjepa_ac.threads import prefer_passive_wait, set_threads

CHECK = ("import os, sys; from vjepa_ac.threads import prefer_passive_wait; ok = prefer_passive_wait(); "
         "import torch; print(ok, os.environ.get('OMP_WAIT_POLICY'))")


def _run(env_policy):
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if env_policy is not None:
        env["OMP_WAIT_POLICY"] = env_policy
    return subprocess.run([sys.executable, "-c", CHECK], env=env, capture_output=True, text=True,
                          check=True).stdout.split()


def test_passive_is_set_before_torch_starts():
    assert _run(None) == ["True", "PASSIVE"]


def test_the_users_policy_is_kept():
    assert _run("ACTIVE") == ["False", "ACTIVE"]


def test_too_late_once_torch_is_imported(monkeypatch):
    import torch  # noqa: F401  (already imported by the suite: the runtime has read its settings)

    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    assert prefer_passive_wait() is False
    assert "OMP_WAIT_POLICY" not in os.environ


def test_the_cli_sets_it_for_its_children():
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    code = ("import os, sys; from vjepa_ac.cli import main; sys.argv = ['vjepa-ac', 'info']; main(); "
            "print(os.environ['OMP_WAIT_POLICY'])")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.split()[-1] == "PASSIVE"


def test_set_threads():
    import torch

    before = torch.get_num_threads()
    try:
        assert set_threads(None) == before and set_threads(0) == before
        assert set_threads(1) == 1
        with pytest.raises(ValueError, match="threads"):
            set_threads(-1)
    finally:
        torch.set_num_threads(before)


def test_tune_allocator_applies_on_glibc_and_defers_to_the_environment(monkeypatch):
    from vjepa_ac.threads import tune_allocator

    if sys.platform.startswith("linux") and os.confstr("CS_GNU_LIBC_VERSION"):
        assert tune_allocator() is True
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "1000000")
    assert tune_allocator() is False
