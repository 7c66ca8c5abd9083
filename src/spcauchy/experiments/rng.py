"""Seeded draws that leave the caller's random state alone."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch


@contextlib.contextmanager
def seeded(seed: int, device: torch.device | str = "cpu") -> Iterator[None]:
    """Run the block with torch's global generators (CPU, and ``device``'s if it is a GPU) seeded
    with ``seed``, then restore their previous state: ``Distribution.sample`` has no generator
    argument, and a library call must not reseed its caller's stream."""
    device = torch.device(device)
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield
