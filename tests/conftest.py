"""Shared fixtures. Helpers that tests import live in ``sphere_stats`` (statistics on the sphere)
and ``packages`` (optional data wheels); this file only provides fixtures."""

from __future__ import annotations

import zlib

import pytest
import torch

from sphere_stats import DEVICES


@pytest.fixture
def seed(request: pytest.FixtureRequest) -> int:
    """Seeds torch's global generator from the test's name (parameters included) and returns the
    seed: every parametrized case draws its own reproducible stream, whichever tests ran before
    it and whether it runs alone or in the whole suite."""
    value = zlib.crc32(request.node.name.encode())
    torch.manual_seed(value)
    return value


@pytest.fixture(params=DEVICES)
def device(request: pytest.FixtureRequest) -> str:
    """Each device the machine has: CPU always, CUDA where available."""
    return request.param
