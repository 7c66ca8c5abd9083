"""Products of spheres: the SphereProduct distribution and the product latent family (config
``factors``), against the single-sphere distributions they are built from."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.distributions import kl_divergence

from spcauchy import (
    HypersphericalUniform,
    PowerSpherical,
    SphereProduct,
    SphericalCauchy,
    VonMisesFisher,
)
from spcauchy.experiments.config import ConfigError, load
from spcauchy.experiments.datasets import build_model
from spcauchy.latents import ProductLatent, latent_family
from spcauchy.special.mobius import mobius_sample

F64 = torch.float64
M, P = 4, 3  # four factors S², vectors of length 12


def _locs(*batch: int, m: int = M, p: int = P, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return F.normalize(torch.randn(*batch, m, p, generator=g, dtype=F64), dim=-1)


def _bases(*batch: int) -> dict[str, object]:
    loc = _locs(*batch)
    g = torch.Generator().manual_seed(1)
    conc = torch.rand(*batch, M, generator=g, dtype=F64) * 20 + 0.5
    return {"spcauchy": SphericalCauchy(loc, rho_logit=conc.log()),
            "vmf": VonMisesFisher(loc, conc),
            "power": PowerSpherical(loc, conc)}


@pytest.mark.parametrize("name", ["spcauchy", "vmf", "power"])
@pytest.mark.parametrize("batch", [(), (5,), (2, 3)])
def test_shapes_and_sums_over_factors(name, batch):
    base = _bases(*batch)[name]
    q = SphereProduct(base)
    assert q.batch_shape == batch and q.event_shape == (M * P,)
    torch.manual_seed(0)
    z = q.rsample((7,))
    torch.manual_seed(0)
    assert torch.equal(z, base.rsample((7,)).flatten(-2))  # the factors' own draws
    assert z.shape == (7, *batch, M * P) and bool(q.support.check(z).all())
    torch.testing.assert_close(q.log_prob(z), base.log_prob(q.split(z)).sum(-1), rtol=0, atol=0)
    torch.testing.assert_close(q.entropy(), base.entropy().sum(-1))
    for attr in ("mean", "mode", "variance", "loc"):
        assert getattr(q, attr).shape == (*batch, M * P), attr
    assert q.expand((4, *batch)).rsample().shape == (4, *batch, M * P)


@pytest.mark.parametrize("name", ["spcauchy", "vmf", "power"])
def test_kl_to_the_product_prior_is_the_sum_of_the_factor_kls(name):
    base = _bases(6)[name]
    uniform = HypersphericalUniform(P, batch_shape=(M,), dtype=F64)
    kl = kl_divergence(SphereProduct(base), SphereProduct(uniform))
    per_factor = torch.stack([kl_divergence(type(base)(base.loc[:, j], **_param(base, j)),
                                            HypersphericalUniform(P, dtype=F64))
                              for j in range(M)], -1)
    torch.testing.assert_close(kl, per_factor.sum(-1), rtol=1e-12, atol=0)
    # and the Monte-Carlo value E_q[log q - log p]
    torch.manual_seed(3)
    q, prior = SphereProduct(base), SphereProduct(uniform)
    z = q.sample((20000,))
    mc = q.log_prob(z) - prior.log_prob(z)
    assert ((mc.mean(0) - kl).abs() <= 5 * mc.std(0) / 20000**0.5 + 1e-9).all()


def _param(base, j: int) -> dict[str, torch.Tensor]:
    if isinstance(base, SphericalCauchy):
        return {"rho_logit": base.rho_logit[:, j]}
    return {"concentration": base.concentration[:, j]}


def test_log_prob_is_normalized_on_a_product_of_circles():
    """∫∫ q over S¹ × S¹ by a 400 × 400 grid of angles is 1."""
    loc = _locs(m=2, p=2)
    q = SphereProduct(SphericalCauchy(loc, rho=torch.tensor([0.6, 0.3], dtype=F64)))
    theta = torch.arange(400, dtype=F64) * (2 * torch.pi / 400)
    circle = torch.stack([theta.cos(), theta.sin()], -1)
    grid = torch.cat([circle[:, None].expand(400, 400, 2), circle[None].expand(400, 400, 2)], -1)
    total = q.log_prob(grid).exp().sum() * (2 * torch.pi / 400) ** 2
    assert abs(total.item() - 1) < 1e-10


def test_kl_between_different_products_raises():
    a = SphereProduct(HypersphericalUniform(3, batch_shape=(2,)))
    b = SphereProduct(HypersphericalUniform(2, batch_shape=(3,)))
    with pytest.raises(ValueError, match="different spheres"):
        kl_divergence(a, b)
    with pytest.raises(ValueError, match="factor axis"):
        SphereProduct(HypersphericalUniform(3))


@pytest.mark.parametrize("name", ["spcauchy", "vmf", "power"])
def test_product_family_layout_and_fused_draw(name):
    fam = latent_family(name, factors=M)
    d = M * (P - 1)  # total manifold dimension
    assert isinstance(fam, ProductLatent) and fam.spherical
    assert (fam.n_params(d), fam.ambient(d)) == (M * (P + 1), M * P)
    h = torch.randn(5, fam.n_params(d), dtype=F64, generator=torch.Generator().manual_seed(2))
    q, prior = fam.posterior(h, d), fam.prior(d, h)
    blocks = h.view(5, M, P + 1)
    torch.testing.assert_close(q.base.loc, F.normalize(blocks[..., :P], dim=-1))
    torch.manual_seed(4)
    z, kl = fam.sample_and_kl(h, d, prior)
    assert z.shape == (1, 5, M * P) and kl.shape == (5,)
    torch.testing.assert_close(kl, kl_divergence(q, prior), rtol=1e-12, atol=1e-12)
    if name == "spcauchy":  # the fused layer draws what the distribution draws, all factors at once
        torch.manual_seed(4)
        noise = torch.randn(1, 5, M, P, dtype=F64)
        direct = mobius_sample(q.base.loc, F.normalize(noise, dim=-1),
                               rho_logit=blocks[..., P]).flatten(-2)
        torch.testing.assert_close(z, direct, rtol=1e-12, atol=1e-12)


def test_fused_product_layer_gradcheck():
    fam = latent_family("spcauchy", factors=3)
    h = torch.randn(4, fam.n_params(6), dtype=F64, requires_grad=True)

    def draw(h):
        torch.manual_seed(0)
        z, kl = fam.sample_and_kl(h, 6, fam.prior(6, h))
        return z, kl

    assert torch.autograd.gradcheck(draw, (h,))
    q = fam.posterior(h, 6)
    z = q.sample()
    assert torch.autograd.gradcheck(lambda h: fam.posterior(h, 6).log_prob(z), (h,))


def test_geodesic_interpolation_per_factor():
    fam = latent_family("vmf", factors=2)
    a, b = _locs(m=2, p=3, seed=5).flatten(), _locs(m=2, p=3, seed=6).flatten()
    path = fam.path(a, b, torch.linspace(0, 1, 9, dtype=F64))
    blocks = path.view(9, 2, 3)
    torch.testing.assert_close(blocks.norm(dim=-1), torch.ones(9, 2, dtype=F64))
    torch.testing.assert_close(path[0], a)
    torch.testing.assert_close(path[-1], b)
    # constant angular speed in each factor
    step = torch.arccos((blocks[1:] * blocks[:-1]).sum(-1).clamp(-1, 1))
    torch.testing.assert_close(step, step[:1].expand_as(step))


def test_concentration_bias_in_every_block():
    fam = latent_family("spcauchy", head="sc-vae", factors=3)
    layer = torch.nn.Linear(4, fam.n_params(6))
    fam.init_head(layer, 6)
    assert torch.equal(layer.bias.view(3, 4)[:, 3], torch.full((3,), 2.0))


def test_config_selects_products_and_rejects_bad_ones():
    model = build_model(load("mnist-mlp", ["family=spcauchy", "latent_dim=12", "factors=4"]))
    x = torch.rand(6, 784).bernoulli()
    out = model({"x": x})
    out["loss"].backward()
    assert torch.isfinite(out["loss"]) and model.posterior(x).mean.shape == (6, 16)
    assert model.marginal_log_likelihood(x, 4).shape == (6,)
    assert model.encoder[-1].out_features == 4 * 5
    for override, match in ((["family=normal", "factors=2"], "spherical"),
                            (["latent_dim=10", "factors=4"], "multiple"),
                            (["factors=0"], "factors")):
        with pytest.raises(ConfigError, match=match):
            build_model(load("mnist-mlp", override))
