"""Helpers shared by the benchmark scripts (device name, memory, timing)."""

from __future__ import annotations

import json
import platform
import resource
import threading
import time

import torch


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu: {platform.processor() or platform.machine()} x{torch.get_num_threads()} threads"


def rss_peak_mb() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_now_mb() -> float:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * resource.getpagesize() / 2**20


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timeit(fn, device: torch.device, warmup: int = 1, repeat: int = 3) -> float:
    """Median seconds per call."""
    for _ in range(warmup):
        fn()
    sync(device)
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - t)
    return sorted(times)[len(times) // 2]


def emit(result: dict) -> None:
    print(json.dumps(result))


def current_memory_mb(device: torch.device) -> float:
    """CUDA memory allocated on ``device``, or this process's resident memory (MB)."""
    if device.type == "cuda":
        sync(device)
        return torch.cuda.memory_allocated(device) / 2**20
    return rss_now_mb()


class PeakMemory:
    """Peak memory of the code inside ``with PeakMemory(device) as m: ...`` -> ``m.peak_mb``,
    ``m.start_mb`` (MB). CUDA: ``max_memory_allocated`` (reset on entry). CPU: the process's
    resident memory sampled every ``interval`` s by a thread (``ru_maxrss`` never goes down, so it
    cannot tell one case of a sweep from the next; large tensors are returned to the OS when freed)."""

    def __init__(self, device: torch.device, interval: float = 0.002):
        self.device, self.interval = device, interval
        self.start_mb = self.peak_mb = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _poll(self) -> None:
        while not self._stop.is_set():
            self.peak_mb = max(self.peak_mb, rss_now_mb())
            time.sleep(self.interval)

    def __enter__(self) -> "PeakMemory":
        self.start_mb = self.peak_mb = current_memory_mb(self.device)
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        else:
            self._thread = threading.Thread(target=self._poll, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.device.type == "cuda":
            sync(self.device)
            self.peak_mb = torch.cuda.max_memory_allocated(self.device) / 2**20
        else:
            self._stop.set()
            self._thread.join()
            self.peak_mb = max(self.peak_mb, rss_now_mb())
