"""torchrun / DistributedDataParallel plumbing: the same code runs on 1 process or many."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import torch
import torch.distributed as dist

# Import before any process group exists. Its collectives take ``group=group.WORLD`` as a default
# argument, evaluated at import; DistributedDataParallel imports it lazily (through torch._dynamo),
# so after ``init_process_group`` those defaults would pin the default group for good. Then
# ``destroy_process_group`` cannot free it, gloo's worker threads are still running when the
# interpreter exits, and the process now and then aborts there ("terminate called without an
# active exception"). Imported here, the defaults are None and teardown joins the threads.
import torch.distributed.nn

from .config import ConfigError


@dataclass(frozen=True)
class Context:
    rank: int = 0
    world: int = 1
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def main(self) -> bool:
        return self.rank == 0


def resolve_device(name: str = "auto", local_rank: int = 0) -> torch.device:
    """``"auto"``: the local rank's GPU when CUDA is available, else the CPU; any other name
    must be a device torch knows and this machine has (else a ConfigError)."""
    if name == "auto":
        name = f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu"
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"device must be auto, cpu, cuda or cuda:N, got {name!r}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {name!r} asked for, but CUDA is not available here")
    if dev.type == "cuda" and (dev.index or 0) >= torch.cuda.device_count():
        raise ConfigError(f"device {name!r}: this machine has {torch.cuda.device_count()} GPU(s)")
    if dev.type not in ("cpu", "cuda"):
        raise ConfigError(f"device must be auto, cpu, cuda or cuda:N, got {name!r}")
    return dev


def setup(device: str = "auto") -> Context:
    """Join the process group torchrun describes in the environment (if any) and pick a device.

    ``device="auto"``: the local rank's GPU when CUDA is available, else the CPU; the backend is
    NCCL on GPUs and gloo on CPUs.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    dev = resolve_device(device, int(os.environ.get("LOCAL_RANK", "0")))
    if world > 1 and not dist.is_initialized():
        if dev.type == "cuda":
            torch.cuda.set_device(dev)
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
    rank = dist.get_rank() if world > 1 else 0
    return Context(rank, world, dev)


def all_sum(t: torch.Tensor, ctx: Context) -> torch.Tensor:
    """Sum a tensor over processes (identity on one process)."""
    if ctx.world > 1:
        dist.all_reduce(t)
    return t


def gather_objects(obj: object, ctx: Context) -> list[object]:
    """[obj of rank 0, obj of rank 1, ...] on every process."""
    if ctx.world == 1:
        return [obj]
    out: list[object] = [None] * ctx.world
    dist.all_gather_object(out, obj)
    return out


def teardown() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()
