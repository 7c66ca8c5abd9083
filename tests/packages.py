"""Test helper: whether an optional data package is installed (without importing it)."""

import pytest

from spcauchy.experiments.data.packages import find_distribution


def needs(package: str) -> pytest.MarkDecorator:
    """Skip a test when the data wheel ``package`` is missing."""
    return pytest.mark.skipif(find_distribution(package) is None,
                              reason=f"{package} data not installed")
