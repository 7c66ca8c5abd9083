"""Fréchet ChemNet Distance (Preuer et al. 2018) through ``fcd-torch`` (ChemNet weights ship in its
wheel, nothing is downloaded). FCD depends strongly on the sample size: compare only sets of equal
size, and print a same-size training-subsample reference next to every model row."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ActivationStats:
    """Mean (512,) and covariance (512, 512) of ChemNet's penultimate activations."""

    mu: np.ndarray
    sigma: np.ndarray


class FCDScorer:
    """Loads ChemNet once; ``stats(smiles)`` then ``distance(a, b)``, or ``__call__(gen, ref)``.

    Args:
        device: torch device for ChemNet.
        batch_size: molecules per ChemNet forward pass.
    """

    def __init__(self, device: str = "cpu", batch_size: int = 512) -> None:
        try:
            from fcd_torch import FCD
        except ImportError as err:
            raise ImportError("FCD needs `pip install fcd-torch==1.0.7 'scipy<1.18'`") from err
        self._fcd = FCD(device=str(device), n_jobs=1, batch_size=batch_size)

    def stats(self, valid: Sequence[str]) -> ActivationStats:
        """Activation statistics of at least two valid molecules."""
        if len(valid) < 2:
            raise ValueError(f"valid must contain at least two molecules, got {len(valid)}")
        with warnings.catch_warnings():  # fcd-torch 1.0.7 calls numpy's deprecated row_stack
            warnings.simplefilter("ignore", DeprecationWarning)
            act = self._fcd.get_predictions(list(valid))
        return ActivationStats(act.mean(0), np.cov(act.T))

    def distance(self, a: ActivationStats, b: ActivationStats) -> float:
        """‖μ_a - μ_b‖² + tr(Σ_a + Σ_b - 2 (Σ_a Σ_b)^{1/2})."""
        from fcd_torch.utils import calculate_frechet_distance

        with warnings.catch_warnings():  # fcd-torch 1.0.7 uses sqrtm's deprecated `disp`
            warnings.simplefilter("ignore", DeprecationWarning)
            return float(calculate_frechet_distance(a.mu, a.sigma, b.mu, b.sigma))

    def __call__(self, valid: Sequence[str], reference: Sequence[str]) -> float:
        return self.distance(self.stats(valid), self.stats(reference))
