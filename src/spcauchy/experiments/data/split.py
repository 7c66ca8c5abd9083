"""In-memory dataset splits with deterministic, shardable batching.

Batches are drawn from tensors with explicit generators seeded by (seed, epoch, rank), never from
global RNG state: an interrupted run resumed at an epoch boundary sees exactly the same batches,
and every process of a distributed run sees its own disjoint shard.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch
from torch import Tensor


def _generator(*keys: int) -> torch.Generator:
    seed = 0
    for k in keys:  # a fixed mixing of the keys, stable across Python processes (unlike hash())
        seed = (seed * 1_000_003 + k) % (2**63 - 1)
    return torch.Generator().manual_seed(seed)


def shard_order(n: int, *, seed: int = 0, epoch: int = 0, shuffle: bool = False, rank: int = 0,
                world: int = 1) -> Tensor:
    """Indices of this process's examples, in batch order.

    Shuffled (training) shards drop the last n mod world examples so every process takes the
    same number of steps (DDP needs it); unshuffled (evaluation) shards cover every example.
    """
    if shuffle:
        order = torch.randperm(n, generator=_generator(seed, epoch))
        order = order[: n - n % world]
    else:
        order = torch.arange(n)
    return order[rank::world]


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

    def head(self, n: int) -> Split:
        """The first n examples."""
        return Split(self.x[:n], self.y[:n], self.binarize)

    def batches(self, batch_size: int, *, seed: int = 0, epoch: int = 0, shuffle: bool = False,
                rank: int = 0, world: int = 1) -> Iterator[dict[str, Tensor]]:
        """Yield {"x", "y"} batches of this process's shard (see ``shard_order``)."""
        order = shard_order(len(self), seed=seed, epoch=epoch, shuffle=shuffle, rank=rank,
                            world=world)
        noise = _generator(seed, epoch, rank, 1)
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            x = self.x[idx]
            if self.binarize:
                x = torch.bernoulli(x, generator=noise)
            yield {"x": x, "y": self.y[idx]}


class Examples(Protocol):
    """What the training loop and evaluation need from a split (``Split``, ``TokenSplit``)."""

    def __len__(self) -> int: ...
    def head(self, n: int) -> Examples: ...
    def batches(self, batch_size: int, *, seed: int = 0, epoch: int = 0, shuffle: bool = False,
                rank: int = 0, world: int = 1) -> Iterator[dict[str, Tensor]]: ...


@dataclass
class DataBundle:
    """Train / validation / test splits of one dataset.

    ``config``: values the data fixes in the run's config (the SMILES vocabulary), saved with the
    model so that it can be rebuilt without the data; ``info``: facts worth keeping with a run
    (how many molecules were skipped and why).
    """

    train: Examples
    val: Examples
    test: Examples
    config: dict[str, Any] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)


def binarized(split: Split, seed: int) -> Split:
    """A fixed binarization (validation and test sets are binarized once, reproducibly)."""
    x = torch.bernoulli(split.x, generator=_generator(seed, 2))
    return Split(x, split.y, binarize=False)
