"""Fixtures of the data tests: small synthetic datasets in the real on-disk formats."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def droid_root(tmp_path_factory) -> Path:
    """Six good raw DROID episodes (40..70 rows at ~15 Hz, 60 fps MP4s, 72x128) and no faults."""
    from vjepa_ac.data.synthetic_datasets import make_droid_dataset

    root = tmp_path_factory.mktemp("droid")
    make_droid_dataset(root, 6, length=(40, 70), seed=1)
    return root


@pytest.fixture(scope="session")
def droid_faulty_root(tmp_path_factory) -> Path:
    """Two good episodes and one of each fault."""
    from vjepa_ac.data.synthetic_datasets import DROID_FAULTS, make_droid_dataset

    root = tmp_path_factory.mktemp("droid_faulty")
    make_droid_dataset(
        root,
        2 + len(DROID_FAULTS),
        length=40,
        seed=2,
        two_cameras=False,
        faults={2 + i: f for i, f in enumerate(DROID_FAULTS)},
    )
    return root


@pytest.fixture(scope="session")
def lerobot_root(tmp_path_factory) -> Path:
    from vjepa_ac.data.synthetic_datasets import make_lerobot_dataset

    return make_lerobot_dataset(tmp_path_factory.mktemp("lerobot") / "my_robot", 3, length=(24, 32), fps=10)
