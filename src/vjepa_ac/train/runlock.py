"""One trainer per run folder: an advisory ``flock`` on ``<run_dir>/.lock``.

The lock is held by an open file descriptor, so the kernel drops it when the holder exits in
any way (crash, ``kill -9``, OOM): a crashed holder never leaves the folder locked, and no
stale-lock heuristics are needed. The file itself stays; it records the current holder (pid,
host, start time, command) for the refusal message. A second ``vjepa-ac train`` on the same
folder fails at once with ``RunLockedError`` naming that holder.

Limits: ``flock`` is per host on some network file systems (older NFS without lock support);
there two trainers on two nodes may still both run (docs/train.md says so).
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
import time
from pathlib import Path

LOCK_FILE = ".lock"


class RunLockedError(FileExistsError):
    """Another live process holds the run folder's lock; the message names it. A
    ``FileExistsError``, like the refusal to start over a folder that holds checkpoints."""


class RunLock:
    """``with RunLock(run_dir): ...`` holds ``run_dir/.lock`` for the block (non-blocking)."""

    def __init__(self, run_dir: str | Path):
        self.path = Path(run_dir) / LOCK_FILE
        self._fd: int | None = None

    def acquire(self) -> "RunLock":
        """Take the lock or raise ``RunLockedError`` naming the holder at once."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise RunLockedError(
                f"{self.path.parent}: another trainer is writing to this run folder ({holder}); "
                f"wait for it to end, stop it, or choose another run_dir"
            ) from None
        except OSError:
            os.close(fd)
            raise
        info = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "since": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "command": " ".join(sys.argv)[:500],
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def _read_holder(fd: int) -> str:
    try:
        info = json.loads(os.pread(fd, 4096, 0) or b"{}")
    except (OSError, ValueError):
        return "holder unknown"
    if not info:
        return "holder unknown"
    return f"pid {info.get('pid')} on {info.get('host')} since {info.get('since')}: {info.get('command', '')}"
