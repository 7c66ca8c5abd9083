"""Latent families and MNIST models: one optimisation step per family and architecture."""

from __future__ import annotations

import pytest
import torch

from spcauchy.experiments.config import ConfigError, load
from spcauchy.experiments.datasets import build_model
from spcauchy.latents import LATENTS


@pytest.mark.parametrize("family", sorted(LATENTS))
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_family_contract(family, dtype):
    fam, d = LATENTS[family], 4
    h = torch.randn(7, fam.n_params(d), dtype=dtype)
    q, p = fam.posterior(h, d), fam.prior(d, like=h)
    z = q.rsample((3,))
    assert z.shape == (3, 7, fam.ambient(d)) and z.dtype == dtype
    assert q.batch_shape == (7,) and p.event_shape == (fam.ambient(d),)
    kl = torch.distributions.kl_divergence(q, p)
    assert kl.shape == (7,) and torch.isfinite(kl).all() and (kl >= 0).all()
    assert torch.isfinite(q.log_prob(z)).all() and torch.isfinite(p.log_prob(z)).all()
    if fam.spherical:
        assert torch.allclose(z.norm(dim=-1), torch.ones((), dtype=dtype), atol=1e-5)


@pytest.mark.parametrize("preset", ["mnist-mlp", "mnist-cnn"])
@pytest.mark.parametrize("family", sorted(LATENTS))
def test_one_training_step(preset, family):
    torch.manual_seed(0)
    cfg = load(preset, [f"family={family}", "latent_dim=3"])
    model = build_model(cfg)
    x = torch.rand(8, 784).bernoulli()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    before = [p.detach().clone() for p in model.parameters()]
    out = model({"x": x})
    assert set(out) == {"loss", "recon", "kl", "elbo"}
    assert torch.allclose(out["loss"], out["recon"] + out["kl"])
    out["loss"].backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    opt.step()
    assert all(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    ll = model.marginal_log_likelihood(x, k=10, chunk=4)
    assert ll.shape == (8,) and torch.isfinite(ll).all()


def test_spherical_latent_dimension_is_manifold_dimension():
    model = build_model(load("mnist-mlp", ["family=spcauchy", "latent_dim=2"]))
    z = model.posterior(torch.rand(5, 784)).rsample()
    assert z.shape == (5, 3)  # S² lives in R³


@pytest.mark.parametrize("override, match", [("family=gauss", "unknown family"),
                                              ("model=rnn", "unknown model"),
                                              ("latent_dim=0", "latent_dim"),
                                              ("model=cnn", "needs hidden")])
def test_bad_model_config(override, match):
    with pytest.raises(ConfigError, match=match):
        build_model(load("mnist-mlp", [override]))  # mlp's hidden has 2 entries, cnn needs 3
