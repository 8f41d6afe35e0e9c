"""Atomic file writes: the one way vjepa-ac replaces a file on disk.

Every writer goes through ``atomic_path`` (or one of the small wrappers below): it writes to a
hidden temporary file in the target's folder, ``.<name>.<pid>.<random>.tmp``, fsyncs it,
``os.replace``-s it onto the target and fsyncs the folder, so the target is always either the
old file or the complete new one, also after a power loss. A writer that raises leaves no
temporary file; one that is killed (SIGKILL, OOM, node loss) does, and ``remove_stale_temps``
clears those once the caller knows no other process is writing into the folder (the training
run lock, an encode job that owns its cache folder).

This module sits at the bottom of the package (it imports nothing of ours), so every layer,
``data/`` included, may use it.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from pathlib import Path
from typing import IO, Any, Iterator

TEMP_SUFFIX = ".tmp"


def temp_path(path: str | Path) -> Path:
    """A fresh temporary name beside ``path``: ``.<name>.<pid>.<random>.tmp`` (hidden, unique)."""
    path = Path(path)
    return path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}{TEMP_SUFFIX}")


def fsync_dir(folder: str | Path) -> None:
    """fsync a folder so a rename inside it survives a crash (a no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())


@contextlib.contextmanager
def atomic_path(path: str | Path, *, fsync: bool = True) -> Iterator[Path]:
    """Yield a temporary path to write ``path``'s new content to (for writers that take a file
    name: h5py, PyAV, safetensors, numpy); on a clean exit it replaces ``path``.

    The parent folder is created. If the body raises, the temporary file is removed and
    ``path`` is untouched. ``fsync=False`` skips the fsyncs (test data, caches rebuilt anyway).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(path)
    try:
        yield tmp
        if not tmp.exists():
            raise FileNotFoundError(f"{path}: the writer created no file at {tmp}")
        if fsync:
            _fsync_file(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    if fsync:
        fsync_dir(path.parent)


@contextlib.contextmanager
def atomic_open(path: str | Path, mode: str = "wb", *, fsync: bool = True, **kwargs: Any) -> Iterator[IO]:
    """``open(path, mode)`` whose content replaces ``path`` atomically when the block ends."""
    if not mode.startswith("w"):
        raise ValueError(f"atomic_open writes whole files; mode must start with 'w', got {mode!r}")
    with atomic_path(path, fsync=fsync) as tmp:
        with open(tmp, mode, **kwargs) as f:
            yield f


def atomic_write_bytes(path: str | Path, data: bytes, *, fsync: bool = True) -> Path:
    with atomic_open(path, "wb", fsync=fsync) as f:
        f.write(data)
    return Path(path)


def atomic_write_text(path: str | Path, text: str, *, fsync: bool = True) -> Path:
    with atomic_open(path, "w", fsync=fsync, encoding="utf-8") as f:
        f.write(text)
    return Path(path)


def atomic_write_json(path: str | Path, obj: Any, *, fsync: bool = True) -> Path:
    """``obj`` as indented JSON (``indent=1``), atomically."""
    return atomic_write_text(path, json.dumps(obj, indent=1), fsync=fsync)


def stale_temps(folder: str | Path) -> list[Path]:
    """Temporary files of ``atomic_path`` (and of the older ``<name>.tmp`` form) in ``folder``."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.name.endswith(TEMP_SUFFIX) and p.is_file())


def remove_stale_temps(folder: str | Path) -> list[Path]:
    """Delete the temporary files a killed writer left in ``folder``; returns them.

    Only call this when no other process can be writing into ``folder`` right now (it would
    delete that writer's file in flight).
    """
    removed = []
    for p in stale_temps(folder):
        with contextlib.suppress(FileNotFoundError):
            p.unlink()
            removed.append(p)
    return removed
