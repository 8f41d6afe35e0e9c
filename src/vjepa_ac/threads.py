"""CPU process defaults for shared machines (``notes/performance.md``, "Shared machines").

Two settings decide how a CPU run behaves beside other work, and a third how much time it spends
in the kernel:

- **OpenMP wait policy.** torch's CPU kernels run on an OpenMP pool (GNU libgomp). By default its
  threads spin at every barrier; on a box where another process holds a core, a spinning thread
  and the thread it waits for compete for that core, and a training step of the main job was 10x
  slower beside one busy single-threaded process (8.7x slower with 2 threads than with 1).
  ``OMP_WAIT_POLICY=PASSIVE`` makes waiting threads sleep. It is read once, when the OpenMP runtime
  starts (the first ``import torch``), so ``prefer_passive_wait`` must run before that; the
  ``vjepa-ac`` command and the test suite call it first. A value the user set is kept.
- **Intra-op threads.** torch's default (one per core) is kept: with the passive policy 2 threads
  are faster than 1 on an idle 2-core box and not slower beside a busy process (measured; see the
  notes). ``set_threads(n)`` applies a configured count (``pipeline.threads``,
  ``serve.torch_threads``).
- **The C allocator** (``tune_allocator``). glibc returns freed blocks above its (adaptive) mmap
  threshold, and free memory at the heap's top above its trim threshold, to the kernel; the next
  step's activations of the same size then fault every page in again (the kernel zeroes them):
  ~8 % of a main-job training step went to the kernel. A fixed 32 MiB mmap threshold and a
  512 MiB trim threshold keep those pages in the process (its resident memory stays near its
  peak). Set by ``vjepa-ac`` at start; glibc only (elsewhere nothing changes).

This module imports nothing of ours and does not import torch at import time.
"""

from __future__ import annotations

import os
import sys

WAIT_POLICY_VAR = "OMP_WAIT_POLICY"
DEFAULT_WAIT_POLICY = "PASSIVE"


def prefer_passive_wait() -> bool:
    """Set ``OMP_WAIT_POLICY=PASSIVE`` unless the user set a policy. Returns True when the policy
    in effect is passive; False when the user chose another one, or torch was already imported
    (the OpenMP runtime has read its settings: too late to change them in this process)."""
    current = os.environ.get(WAIT_POLICY_VAR)
    if current is not None:
        return current.upper() == DEFAULT_WAIT_POLICY
    if "torch" in sys.modules:
        return False
    os.environ[WAIT_POLICY_VAR] = DEFAULT_WAIT_POLICY  # child processes (sim workers, loaders) inherit it
    return True


# glibc mallopt parameters (malloc.h) and the values chosen (bytes)
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
MMAP_THRESHOLD = 32 << 20  # glibc's largest allowed value on 64-bit
TRIM_THRESHOLD = 512 << 20


def tune_allocator() -> bool:
    """Keep freed large blocks in the process (see the module docstring); True when applied.
    The environment's ``MALLOC_MMAP_THRESHOLD_`` / ``MALLOC_TRIM_THRESHOLD_`` win when set."""
    if not sys.platform.startswith("linux"):
        return False
    if "MALLOC_MMAP_THRESHOLD_" in os.environ or "MALLOC_TRIM_THRESHOLD_" in os.environ:
        return False
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))


def set_threads(threads: int | None) -> int:
    """``torch.set_num_threads(threads)`` when ``threads`` >= 1 (None or 0: keep torch's default,
    one per core). Returns the count in effect."""
    import torch

    if threads is not None and threads < 0:
        raise ValueError(f"threads must be >= 0 or None, got {threads}")
    if threads:
        torch.set_num_threads(threads)
    return torch.get_num_threads()
