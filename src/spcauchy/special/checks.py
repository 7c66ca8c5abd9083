"""Argument checks shared by the numerics and the distributions."""

from __future__ import annotations


def check_dim(dim: object) -> int:
    """``dim`` as the ambient dimension p of S^{p-1}: an integer ≥ 2, else ValueError."""
    if isinstance(dim, bool) or not isinstance(dim, int) or dim < 2:
        raise ValueError(f"dim must be an integer ≥ 2 (the ambient dimension), got {dim!r}")
    return dim
