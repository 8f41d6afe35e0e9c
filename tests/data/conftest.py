"""Shared fixtures of the data tests: where ``../shared`` is, and small synthetic datasets."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def shared_dir() -> Path | None:
    """``../shared`` next to the project root (a worktree may sit one level deeper)."""
    candidates = [os.environ.get("VJEPA_AC_SHARED"), ROOT.parent / "shared", ROOT.parent.parent / "shared"]
    for c in candidates:
        if c and (Path(c) / "golden").is_dir():
            return Path(c)
    return None


@pytest.fixture(scope="session")
def shared() -> Path:
    d = shared_dir()
    if d is None:
        pytest.skip("../shared (golden tensors, example data) not found; set VJEPA_AC_SHARED")
    return d
