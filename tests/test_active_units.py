"""Active units: the absolute 0.01 threshold and the one scaled by the prior variance."""

import torch
from torch import nn

from spcauchy.experiments.data.split import Split
from spcauchy.experiments.evaluate import evaluate
from spcauchy.experiments.models import BernoulliVAE
from spcauchy.latents import LATENTS, latent_family


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


def _identity_model(family: str, d: int, **kwargs) -> BernoulliVAE:
    """h = x through a linear layer fixed to the identity (the head's bias init is undone)."""
    lat = latent_family(family, factors=kwargs.get("factors", 1),
                        sphere_dim=kwargs.get("sphere_dim", 0))
    n = lat.n_params(d)
    head = nn.Linear(n, n)
    model = BernoulliVAE(head, nn.Linear(lat.ambient(d), n), family, d, **kwargs)
    with torch.no_grad():
        head.weight.copy_(torch.eye(n))
        head.bias.zero_()
    return model


def test_counts_by_part_show_a_collapsed_sphere_in_a_mixed_latent():
    """S^2 × R^3: every posterior has the same mean direction (the sphere is unused), two of the
    three Gaussian coordinates vary."""
    torch.manual_seed(0)
    n = 2000
    sphere = torch.tensor([1.0, 0.0, 0.0, 5.0]).expand(n, 4)  # direction e_1, ρ = sigmoid(5)
    mu = torch.randn(n, 3) * torch.tensor([1.0, 0.5, 0.0])
    h = torch.cat([sphere, mu, torch.zeros(n, 3)], dim=1)
    out = evaluate(_identity_model("spcauchy+normal", 5, sphere_dim=2), Split(h, torch.zeros(n)),
                   k=0)
    assert out["active_units"] == 2
    assert out["active_units_by_part"] == [0, 2]


def test_counts_by_part_are_per_factor_in_a_product():
    """2 × S^2: the first factor's directions spread over the sphere, the second's are fixed."""
    torch.manual_seed(0)
    n = 2000
    spread = torch.cat([torch.randn(n, 3), torch.full((n, 1), 30.0)], dim=1)
    fixed = torch.tensor([0.0, 0.0, 1.0, 30.0]).expand(n, 4)
    h = torch.cat([spread, fixed], dim=1)
    out = evaluate(_identity_model("spcauchy", 4, factors=2), Split(h, torch.zeros(n)), k=0)
    assert out["active_units_by_part"] == [3, 0]
    assert out["active_units"] == 3
    single = evaluate(_model("spcauchy", 2), Split(spread, torch.zeros(n)), k=0)
    assert "active_units_by_part" not in single  # one part: nothing to split
