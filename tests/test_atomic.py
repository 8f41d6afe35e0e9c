"""The one atomic-write helper: whole new file or the old one, no temporary left on errors,
stale temporaries of killed writers found and removed."""

import os
import subprocess
import sys

import pytest

from vjepa_ac.atomic import (
    atomic_open,
    atomic_path,
    atomic_write_json,
    atomic_write_text,
    remove_stale_temps,
    stale_temps,
)


def test_write_replaces_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "sub" / "a.json"
    atomic_write_json(path, {"x": 1})
    atomic_write_json(path, {"x": 2})
    assert path.read_text() == '{\n "x": 2\n}'
    assert sorted(p.name for p in path.parent.iterdir()) == ["a.json"]


def test_a_failing_writer_keeps_the_old_file(tmp_path):
    path = atomic_write_text(tmp_path / "a.txt", "old")
    with pytest.raises(OSError, match="disk full"):
        with atomic_open(path, "w") as f:
            f.write("half")
            raise OSError("disk full")
    assert path.read_text() == "old" and stale_temps(tmp_path) == []
    with pytest.raises(FileNotFoundError, match="created no file"):
        with atomic_path(tmp_path / "b.bin"):
            pass  # a writer that wrote nothing
    with pytest.raises(ValueError, match="mode"):
        with atomic_open(path, "a"):
            pass


def test_a_killed_writer_leaves_a_temporary_that_is_removed_later(tmp_path):
    code = (
        "import os; from vjepa_ac.atomic import atomic_open\n"
        f"with atomic_open({str(tmp_path / 'big.pt')!r}) as f:\n"
        "    f.write(b'x' * 1000); f.flush(); os.kill(os.getpid(), 9)\n"
    )
    p = subprocess.run([sys.executable, "-c", code], timeout=60)
    assert p.returncode == -9
    left = stale_temps(tmp_path)
    assert len(left) == 1 and left[0].name.startswith(".big.pt.") and left[0].stat().st_size == 1000
    assert not (tmp_path / "big.pt").exists()
    (tmp_path / "keep.txt").write_text("k")
    assert remove_stale_temps(tmp_path) == left
    assert os.listdir(tmp_path) == ["keep.txt"]
