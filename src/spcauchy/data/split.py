"""In-memory dataset splits with deterministic, shardable batching.

Batches are drawn from tensors with explicit generators seeded by (seed, epoch, rank), never from
global RNG state: an interrupted run resumed at an epoch boundary sees exactly the same batches,
and every process of a distributed run sees its own disjoint shard.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import Tensor


def _generator(*keys: int) -> torch.Generator:
    seed = 0
    for k in keys:  # a fixed mixing of the keys, stable across Python processes (unlike hash())
        seed = (seed * 1_000_003 + k) % (2**63 - 1)
    return torch.Generator().manual_seed(seed)


@dataclass
class Split:
    """Examples ``x`` (N, ...) with labels ``y`` (N,).

    ``binarize``: draw x ~ Bernoulli(pixels) afresh every epoch (dynamic binarization).
    """

    x: Tensor
    y: Tensor
    binarize: bool = False

    def __len__(self) -> int:
        return self.x.shape[0]

    def batches(self, batch_size: int, *, seed: int = 0, epoch: int = 0, shuffle: bool = False,
                rank: int = 0, world: int = 1) -> Iterator[dict[str, Tensor]]:
        """Yield {"x", "y"} batches of this process's shard.

        Shuffled (training) shards drop the last N mod world examples so every process takes the
        same number of steps (DDP needs it); unshuffled (evaluation) shards cover every example.
        """
        n = len(self)
        if shuffle:
            order = torch.randperm(n, generator=_generator(seed, epoch))
            order = order[: n - n % world]
        else:
            order = torch.arange(n)
        order = order[rank::world]
        noise = _generator(seed, epoch, rank, 1)
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            x = self.x[idx]
            if self.binarize:
                x = torch.bernoulli(x, generator=noise)
            yield {"x": x, "y": self.y[idx]}


@dataclass
class DataBundle:
    """Train / validation / test splits of one dataset."""

    train: Split
    val: Split
    test: Split


def binarized(split: Split, seed: int) -> Split:
    """A fixed binarization (validation and test sets are binarized once, reproducibly)."""
    x = torch.bernoulli(split.x, generator=_generator(seed, 2))
    return Split(x, split.y, binarize=False)
