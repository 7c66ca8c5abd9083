"""Test helper: whether an optional data package is installed (without importing it)."""

import importlib.metadata

import pytest


def installed(package: str) -> bool:
    try:
        importlib.metadata.distribution(package)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def needs(package: str) -> pytest.MarkDecorator:
    """Skip a test when the data wheel ``package`` is missing."""
    return pytest.mark.skipif(not installed(package), reason=f"{package} data not installed")
