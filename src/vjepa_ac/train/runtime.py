"""Process-level plumbing of a run: distribution from torchrun's environment, the device,
autocast, accumulation, clean stops on signals, memory readings."""

from __future__ import annotations

import logging
import os
import resource
import signal
import threading
from dataclasses import dataclass

import torch
import torch.distributed as dist

from vjepa_ac.config import ConfigError

log = logging.getLogger("vjepa_ac.train")


@dataclass
class Distributed:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed(device_pref: str) -> tuple[Distributed, torch.device]:
    d = Distributed(
        int(os.environ.get("RANK", "0")),
        int(os.environ.get("WORLD_SIZE", "1")),
        int(os.environ.get("LOCAL_RANK", "0")),
    )
    if device_pref == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device=cuda but CUDA is not available")
    use_cuda = device_pref == "cuda" or (device_pref == "auto" and torch.cuda.is_available())
    device = torch.device("cuda", d.local_rank) if use_cuda else torch.device("cpu")
    if use_cuda:
        torch.cuda.set_device(device)
    if d.world_size > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    return d, device


def amp_dtype(amp: str, device: torch.device) -> torch.dtype | None:
    """bfloat16 autocast (None = fp32): ``auto`` is bf16 on CUDA and fp32 on CPU."""
    return torch.bfloat16 if amp == "bf16" or (amp == "auto" and device.type == "cuda") else None


def accumulation_steps(batch_size: int, micro_batch_size: int, world_size: int) -> int:
    per_step = micro_batch_size * world_size
    if batch_size % per_step:
        raise ConfigError(
            f"batch_size ({batch_size}) must be a multiple of micro_batch_size ({micro_batch_size}) "
            f"x {world_size} processes = {per_step}"
        )
    return batch_size // per_step


class StopSignal:
    """Ctrl-C / SIGTERM request a clean stop (checkpoint, then exit) at the next step boundary;
    a second Ctrl-C interrupts at once."""

    def __init__(self):
        self.requested = False
        self._previous: dict = {}

    def _handle(self, signum, frame):
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = True
        log.warning("received %s: stopping after this step with a checkpoint", signal.Signals(signum).name)

    def __enter__(self) -> StopSignal:
        if threading.current_thread() is threading.main_thread():
            for s in (signal.SIGINT, signal.SIGTERM):
                self._previous[s] = signal.signal(s, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for s, handler in self._previous.items():
            signal.signal(s, handler)

    def agreed(self, device: torch.device) -> bool:
        """True on every process when any process was signalled."""
        if not dist.is_initialized():
            return self.requested
        flag = torch.tensor([float(self.requested)], device=device)
        dist.all_reduce(flag)
        return bool(flag.item() > 0)


def peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
