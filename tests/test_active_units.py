"""Active units: the absolute 0.01 threshold and the one scaled by the prior variance."""

import torch
from torch import nn

from spcauchy.experiments.data.split import Split
from spcauchy.experiments.evaluate import evaluate
from spcauchy.experiments.models import BernoulliVAE
from spcauchy.latents import LATENTS


def _model(family: str, d: int) -> BernoulliVAE:
    # h = x: the test controls the posterior parameters directly
    lat = LATENTS[family]
    return BernoulliVAE(nn.Identity(), nn.Linear(lat.ambient(d), lat.n_params(d)), family, d)


def test_gaussian_counts_coordinates_whose_mean_varies():
    torch.manual_seed(0)
    n, d = 2000, 3
    mu = torch.randn(n, d) * torch.tensor([1.0, 0.05, 0.0])  # variances 1, 0.0025, 0
    h = torch.cat([mu, torch.zeros(n, d)], dim=1)
    out = evaluate(_model("normal", d), Split(h, torch.zeros(n)), k=0)
    assert out["active_units"] == out["active_units_scaled"] == 1


def test_high_dimensional_sphere_is_seen_only_by_the_scaled_count():
    """Concentrated posteriors with uniformly spread means use all of S^200, yet every coordinate
    varies by only ~1/201 < 0.01 across the data."""
    torch.manual_seed(0)
    n, d = 4000, 200
    h = torch.cat([torch.randn(n, d + 1), torch.full((n, 1), 30.0)], dim=1)  # ρ ≈ 1
    out = evaluate(_model("spcauchy", d), Split(h, torch.zeros(n)), k=0)
    assert out["active_units"] == 0
    assert out["active_units_scaled"] == d + 1
    h[:, 1:d + 1] = 0.0  # every mean is ±e_1: one direction, no spread in the others
    h[:, 0] = torch.randn(n).sign()
    out = evaluate(_model("spcauchy", d), Split(h, torch.zeros(n)), k=0)
    assert out["active_units"] == out["active_units_scaled"] == 1
