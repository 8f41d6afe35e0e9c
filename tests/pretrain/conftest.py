"""Fixtures of the pretraining tests: a tiny synthetic raw DROID dataset."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def droid_root_small(tmp_path_factory) -> Path:
    """Four raw DROID episodes of 10-14 rows (72x128 video, one camera)."""
    from vjepa_ac.data.synthetic_datasets import make_droid_dataset

    root = tmp_path_factory.mktemp("droid_small")
    make_droid_dataset(root, 4, length=(10, 14), seed=3, two_cameras=False)
    return root
