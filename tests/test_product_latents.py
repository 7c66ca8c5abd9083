"""Products of spheres and mixed latents: SphereProduct, Concatenated and their latent families
(config ``factors``, ``family = "<spherical>+normal"`` with ``sphere_dim``), against the
single distributions they are built from."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.distributions import Independent, Normal, kl_divergence

from spcauchy import (
    Concatenated,
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
from sphere_stats import KS_LEVEL, ks_test, marginal_cdf, perturbed

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


@pytest.mark.parametrize("name", ["spcauchy", "vmf", "power"])
def test_training_draw_fits_every_factor(name, seed):
    """The draw a VAE trains with (``sample_and_kl``: the fused layer for spCauchy) follows each
    factor's own law: KS test of μ_jᵀz_j against its exact CDF (sphere_stats, p > 1e-3) per
    factor, 20 000 draws, and the draws are rejected against factors 10% less concentrated where
    E[μᵀz] ≥ 0.25 (the conformance suite's policy)."""
    m, k = 5, 4  # five factors S⁴ with concentrations from near-uniform to sharp
    fam = latent_family(name, factors=m)
    g = torch.Generator().manual_seed(seed)
    blocks = torch.randn(1, m, k + 2, dtype=F64, generator=g)
    blocks[..., -1] = torch.tensor([-3.0, 0.0, 1.0, 2.5, 4.0], dtype=F64)  # raw concentrations
    h = blocks.flatten(-2).expand(20_000, -1)
    z, _ = fam.sample_and_kl(h, m * k, fam.prior(m * k, h))
    base = fam.posterior(h[:1], m * k).base  # batch (1, m)
    factors = z.reshape(20_000, 1, m, k + 1)
    _, pvalue = ks_test(marginal_cdf(base, factors))
    assert (pvalue > KS_LEVEL).all(), (name, pvalue)
    resolvable = base.mean_resultant_length >= 0.25
    _, p_wrong = ks_test(marginal_cdf(perturbed(base, 0.9), factors))
    assert resolvable.sum() >= 2 and (p_wrong[resolvable] < KS_LEVEL).all(), (name, p_wrong)


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


# --- mixed latents: S^k × R^n ------------------------------------------------------------------

def test_concatenated_sums_and_concatenates():
    loc = _locs(3, m=1)[:, 0]
    sphere = SphericalCauchy(loc, rho=torch.tensor([0.2, 0.5, 0.9], dtype=F64))
    normal = Independent(Normal(torch.randn(3, 4, dtype=F64), torch.rand(3, 4, dtype=F64) + .1), 1)
    q = Concatenated([sphere, normal])
    assert q.batch_shape == (3,) and q.event_shape == (P + 4,)
    z = q.rsample((5,))
    a, b = z.split([P, 4], -1)
    torch.testing.assert_close(q.log_prob(z), sphere.log_prob(a) + normal.log_prob(b))
    torch.testing.assert_close(q.entropy(), sphere.entropy() + normal.entropy())
    assert q.mean.shape == q.mode.shape == q.variance.shape == (3, P + 4)
    prior = Concatenated([HypersphericalUniform(P, dtype=F64),
                          Independent(Normal(torch.zeros(4, dtype=F64), 1.0), 1)])
    kl = kl_divergence(q, prior)
    torch.testing.assert_close(kl, kl_divergence(sphere, prior.parts[0])
                               + kl_divergence(normal, prior.parts[1]))
    with pytest.raises(ValueError, match="different parts"):
        kl_divergence(q, Concatenated([normal, sphere]))


@pytest.mark.parametrize("family, extra", [("spcauchy+normal", {}), ("vmf+normal", {"factors": 2}),
                                           ("power+normal", {})])
def test_mixed_family_layout_draw_and_kl(family, extra):
    d, ds = 10, 4
    fam = latent_family(family, sphere_dim=ds, **extra)
    assert not fam.spherical
    assert fam.ambient(d) == fam.sphere.ambient(ds) + (d - ds)
    h = torch.randn(6, fam.n_params(d), dtype=F64, generator=torch.Generator().manual_seed(7))
    q, prior = fam.posterior(h, d), fam.prior(d, h)
    z, kl = fam.sample_and_kl(h, d, prior)
    assert z.shape == (1, 6, fam.ambient(d)) and kl.shape == (6,)
    torch.testing.assert_close(kl, kl_divergence(q, prior), rtol=1e-12, atol=1e-12)
    n = fam.sphere.ambient(ds)
    path = fam.path(q.mode[0], q.mode[1], torch.linspace(0, 1, 7, dtype=F64))
    torch.testing.assert_close(path[:, n:], torch.lerp(q.mode[0, n:], q.mode[1, n:],
                                                      torch.linspace(0, 1, 7, dtype=F64)[:, None]))
    assert torch.autograd.gradcheck(
        lambda h: fam.posterior(h, d).log_prob(z[0].detach()), (h.requires_grad_(),))


def test_mixed_head_bias_goes_to_the_sphere_block_only():
    fam = latent_family("spcauchy+normal", head="sc-vae", sphere_dim=3)
    layer = torch.nn.Linear(4, fam.n_params(8))  # S³ block: 4 + 1, Gaussian block: 2 · 5
    torch.nn.init.zeros_(layer.bias)
    fam.init_head(layer, 8)
    assert torch.equal(layer.bias, torch.tensor([0, 0, 0, 0, 2.0] + [0] * 10))


def test_mixed_configs():
    model = build_model(load("mnist-mlp", ["family=spcauchy+normal", "latent_dim=10",
                                           "sphere_dim=4"]))
    x = torch.rand(6, 784).bernoulli()
    out = model({"x": x})
    out["loss"].backward()
    assert torch.isfinite(out["loss"]) and model.posterior(x).mean.shape == (6, 11)
    for override, match in ((["family=spcauchy+normal"], "sphere_dim"),
                            (["family=spcauchy+vmf", "sphere_dim=2"], "normal"),
                            (["family=normal+normal", "sphere_dim=2"], "spherical"),
                            (["family=spcauchy", "sphere_dim=2"], "mixed")):
        with pytest.raises(ConfigError, match=match):
            build_model(load("mnist-mlp", override))


@pytest.mark.parametrize("k", [1, 7])
def test_importance_log_likelihood_is_exact_with_the_true_posterior(k):
    """z = (z_s, z_n), z_s ~ ∏ U(S²) (4 factors), z_n ~ N(0, I_3); x_s | z ~ ∏ spCauchy(z_j, 0.7),
    x_n | z ~ N(z_n, I). The spCauchy kernel is symmetric in (x, z), so x_s is uniform and
    q(z_s | x) = ∏ spCauchy(x_j, 0.7); x_n ~ N(0, 2I) and q(z_n | x) = N(x_n / 2, I / 2). With the
    true posterior every importance weight equals p(x): the estimate is exact for any k."""
    from spcauchy.distributions.uniform import log_sphere_area
    from spcauchy.experiments.models import importance_log_likelihood

    torch.manual_seed(2)
    xs = SphereProduct(HypersphericalUniform(P, batch_shape=(M,), dtype=F64)).sample((5,))
    xn = torch.randn(5, 3, dtype=F64) * 2**0.5
    rho = torch.tensor(0.7, dtype=F64)
    split = SphereProduct(HypersphericalUniform(P, batch_shape=(M,), dtype=F64)).split
    q = Concatenated([SphereProduct(SphericalCauchy(split(xs), rho.expand(5, M))),
                      Independent(Normal(xn / 2, torch.full_like(xn, 0.5**0.5)), 1)])
    prior = Concatenated([SphereProduct(HypersphericalUniform(P, batch_shape=(M,), dtype=F64)),
                          Independent(Normal(torch.zeros(3, dtype=F64), 1.0), 1)])

    def log_lik(z):
        zs, zn = z.split([M * P, 3], -1)
        like_s = SphereProduct(SphericalCauchy(split(zs), rho.expand(*zs.shape[:-1], M)))
        return like_s.log_prob(xs) + Independent(Normal(zn, 1.0), 1).log_prob(xn)

    est = importance_log_likelihood(q, prior, log_lik, k)
    exact = -M * log_sphere_area(P) + Independent(Normal(torch.zeros(3, dtype=F64), 2**0.5),
                                                  1).log_prob(xn)
    torch.testing.assert_close(est, exact, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("sets", [["family=spcauchy", "latent_dim=6", "factors=3"],
                                  ["family=spcauchy+normal", "latent_dim=5", "sphere_dim=2"]])
def test_every_command_runs_on_product_and_mixed_runs(sets, tmp_path, capsys):
    from mnist_fake import write_fake_mnist
    from spcauchy.experiments.cli import main

    fake = write_fake_mnist(tmp_path / "mnist.pkl.gz")
    run = tmp_path / "run"
    tiny = [f"data_path='{fake}'", "hidden=[32, 16]", "batch_size=20", "epochs=2",
            "progress=false", "eval_k=10", *sets]
    args = [a for s in tiny for a in ("--set", s)]
    assert main(["train", "--out", str(run), *args, "--evaluate"]) == 0
    assert main(["sample", str(run), "-n", "4"]) == 0
    assert main(["interpolate", str(run), "0", "1", "--steps", "4"]) == 0
    assert main(["report", str(run), "--out", str(tmp_path / "r.html")]) == 0
    code = main(["cluster", str(run), "--k", "2", "--restarts", "1"])
    assert code == (0 if "factors=3" in sets else 2)  # a mixed latent is not on one sphere
    assert "Traceback" not in capsys.readouterr().err


def test_grid_keeps_products_apart_from_single_spheres(tmp_path, capsys):
    """One grid directory holds one sphere and a product of the same family and d as two cells
    (``spcauchy-d6-s0``, ``spcauchy-x3-d6-s0``), listed as ``spcauchy`` and ``spcauchy×3``."""
    from mnist_fake import write_fake_mnist
    from spcauchy.experiments.cli import main
    from spcauchy.experiments.compare import finished_cells

    fake = write_fake_mnist(tmp_path / "mnist.pkl.gz")
    tiny = [f"data_path='{fake}'", "hidden=[16]", "batch_size=20", "epochs=1", "progress=false",
            "eval_k=2"]
    grid = ["compare", "--out", str(tmp_path / "grid"), "--families", "spcauchy", "vmf",
            "--dims", "6", *(a for s in tiny for a in ("--set", s))]
    assert main(grid) == 0
    assert main([*grid, "--set", "factors=3"]) == 0
    rows = finished_cells(tmp_path / "grid")
    assert [(r["family"], r["factors"], r["cell"]) for r in rows] == [
        ("spcauchy", 1, "spcauchy-d6-s0"), ("vmf", 1, "vmf-d6-s0"),
        ("spcauchy×3", 3, "spcauchy-x3-d6-s0"), ("vmf×3", 3, "vmf-x3-d6-s0")]
    text = (tmp_path / "grid" / "results.md").read_text()
    assert "| spcauchy×3 | 6 | 0 | 1 |" in text and "| vmf | 6 | 0 | 1 |" in text
    saved = (tmp_path / "grid" / "spcauchy-x3-d6-s0" / "config.json").read_text()
    assert '"factors": 3' in saved
    # the S-VAE protocol's figure (no Gaussian cell here: the published gaps alone)
    assert "(is-ll.png)" in text and (tmp_path / "grid" / "is-ll.png").stat().st_size


def test_loglik_gaps_are_measured_from_the_gaussian_at_each_d():
    from spcauchy.experiments.published import PUBLISHED, loglik_gaps

    rows = [{"family": "normal", "d": 10, "log_lik": -95.0},
            {"family": "normal", "d": 10, "log_lik": -97.0},  # two seeds: mean -96
            {"family": "spcauchy", "d": 10, "log_lik": -94.5},
            {"family": "spcauchy×2", "d": 10, "log_lik": -97.0},
            {"family": "spcauchy×2", "d": 10, "log_lik": -98.0},
            {"family": "vmf", "d": 20, "log_lik": -90.0},  # no Gaussian at d = 20: left out
            {"family": "power", "d": 10, "best_recon": 80.0}]  # failed / not evaluated
    ours, published = loglik_gaps(rows)
    assert ours == {"spcauchy": {10: 1.5}, "spcauchy×2": {10: -1.5}}
    pub = PUBLISHED["mlp"]
    assert set(published) == {"vmf"}
    assert published["vmf"] == pytest.approx(
        {d: pub["vmf"][d]["log_lik"] - pub["normal"][d]["log_lik"] for d in (2, 5, 10, 20, 40)})
    assert published["vmf"][2] == pytest.approx(3.23)


@pytest.mark.parametrize("sets, message", [
    (["factors=0"], "factors must be"),
    (["factors=two"], "factors must be int"),
    (["latent_dim=10", "factors=4"], "not a multiple"),
    (["family=normal", "factors=2"], "spherical family"),
    (["family=spcauchy+normal"], "sphere_dim must be in"),
    (["family=spcauchy+normal", "latent_dim=4", "sphere_dim=4"], "sphere_dim must be in"),
    (["sphere_dim=-1"], "sphere_dim must be"),
    (["family=spcauchy+vmf", "sphere_dim=2"], "<spherical family>+normal"),
])
def test_bad_product_and_mixed_options_are_one_line(sets, message, tmp_path, capsys):
    from spcauchy.experiments.cli import main

    out = tmp_path / "run"
    assert main(["train", "--out", str(out), *(a for s in sets for a in ("--set", s))]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err
    assert not out.exists() or not any(out.iterdir())  # nothing written
