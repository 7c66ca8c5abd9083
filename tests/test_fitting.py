"""Maximum-likelihood fits and EM mixtures: recovery, monotone likelihoods, invariances, weights,
batching, dtypes, devices, bad inputs and agreement with scipy.

Recovery tolerances: n = 10⁴ seeded points; each MLE is asymptotically normal with covariance
the inverse Fisher information I⁻¹/n, so each squared standardized error below is ~ χ²_k and must
lie under the χ²_k quantile at z = 4 of the Wilson–Hilferty approximation (upper tail ≈ 3e-5 per
check, so a failure means a wrong estimator, not bad luck):

* spCauchy (w = ρμ in the unit ball): the score is 2(p-1)/(1-‖w‖²) · φ_w(x), with φ_w the Möbius
  map sending w to 0 and φ_w(x) uniform on the sphere, so I(w) = 4(p-1)²/(p(1-‖w‖²)²) · Id; with
  u = φ_w(ŵ) ≈ (ŵ - w)/(1-‖w‖²): n · 4(p-1)²/p · ‖u‖² ~ χ²_p.
* vMF: n κA(κ) ‖(I-μμᵀ)μ̂‖² ~ χ²_{p-1} and n A'(κ) (κ̂-κ)² ~ χ²_1.
* Power Spherical (α = κ + β, β = (p-1)/2): n κ²/(2(α-1)) ‖(I-μμᵀ)μ̂‖² ~ χ²_{p-1} and
  n (-D''(α)) (κ̂-κ)² ~ χ²_1 with D(a) = lgamma(a+β) - lgamma(a).

Deterministic identities (rotation, weights, batching) use tolerances tied to the dtype's eps.
"""

from __future__ import annotations

import itertools
import json
import math

import pytest
import torch
import torch.nn.functional as F
from torch.distributions import MixtureSameFamily

from spcauchy import PowerSpherical, SphericalCauchy, SphericalMixture, VonMisesFisher
from spcauchy.distributions.fit import fit_power, fit_spcauchy, fit_vmf
from spcauchy.distributions.mixture import adjusted_rand_index, normalized_mutual_information
from spcauchy.special.bessel import bessel_terms
from spcauchy.special.gamma_ratio import log_gamma_ratio

F64, F32 = torch.float64, torch.float32
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
N = 10_000
MEAN_LENGTHS = (0.3, 0.9, 0.999)  # ρ for spCauchy; E μᵀx ≈ this for vMF and PS
TOL_F32_SE = 0.05  # float32 vs float64 fits of the same points, in standard errors


def chi2_bound(k: int, z: float = 4.0) -> float:
    """Wilson–Hilferty χ²_k quantile at standard-normal z."""
    a = 2 / (9 * k)
    return k * (1 - a + z * math.sqrt(a)) ** 3


def _loc(p: int, seed: int = 0, dtype: torch.dtype = F64) -> torch.Tensor:
    g = torch.Generator().manual_seed(100 + p + seed)
    return F.normalize(torch.randn(p, generator=g, dtype=F64), dim=-1).to(dtype)


def _tangent_sq(loc_hat: torch.Tensor, loc: torch.Tensor) -> torch.Tensor:
    """‖(I - μμᵀ)μ̂‖² = 1 - (μᵀμ̂)², computed without cancellation."""
    return (loc_hat - (loc_hat @ loc) * loc).square().sum()


def _vmf_kappa(p: int, m: float) -> float:  # Banerjee et al.: E μᵀx ≈ m
    return m * (p - m * m) / (1 - m * m)


def _ps_kappa(p: int, m: float) -> float:  # E μᵀx = κ/(κ + p - 1) = m
    return m * (p - 1) / (1 - m)


def _orthogonal(p: int, seed: int) -> torch.Tensor:
    q, r = torch.linalg.qr(torch.randn(p, p, generator=torch.Generator().manual_seed(seed),
                                       dtype=F64))
    return q * torch.sign(torch.diagonal(r))


# ----------------------------------------------------------------------------- recovery

@pytest.mark.parametrize("p", [3, 10, 100])
@pytest.mark.parametrize("rho", MEAN_LENGTHS)
def test_spcauchy_recovers_parameters_within_fisher_se(p: int, rho: float) -> None:
    torch.manual_seed(p * 7 + int(rho * 1000))
    loc = _loc(p)
    x = SphericalCauchy(loc, torch.tensor(rho, dtype=F64)).sample((N,))
    fit = SphericalCauchy.fit(x)
    assert fit.batch_shape == () and "rho_logit" in fit.__dict__
    # u = φ_w(ŵ) = ((1-‖w‖²)(ŵ-w) - ‖ŵ-w‖² w)/(1 - 2wᵀŵ + ‖w‖²‖ŵ‖²): the fitted point moved by
    # the Möbius map that sends the truth w to 0
    w, w_hat = rho * loc, fit.rho * fit.loc
    d = w_hat - w
    u = ((1 - rho**2) * d - d.square().sum() * w) / (
        1 - 2 * (w @ w_hat) + rho**2 * w_hat.square().sum())
    stat = N * 4 * (p - 1) ** 2 / p * u.square().sum().item()
    assert stat < chi2_bound(p), (stat, chi2_bound(p))


@pytest.mark.parametrize("p", [3, 10, 100])
@pytest.mark.parametrize("m", MEAN_LENGTHS)
def test_vmf_recovers_parameters_within_fisher_se(p: int, m: float) -> None:
    torch.manual_seed(p * 11 + int(m * 1000))
    loc, kappa = _loc(p), _vmf_kappa(p, m)
    x = VonMisesFisher(loc, torch.tensor(kappa, dtype=F64)).sample((N,))
    fit = VonMisesFisher.fit(x)
    t = bessel_terms(p / 2 - 1, torch.tensor(kappa, dtype=F64))
    a, da = t.ratio.item(), t.kappa_dratio.item() / kappa
    stat_mu = N * kappa * a * _tangent_sq(fit.loc, loc).item()
    stat_kappa = N * da * (fit.concentration.item() - kappa) ** 2
    assert stat_mu < chi2_bound(p - 1), (stat_mu, chi2_bound(p - 1))
    assert stat_kappa < chi2_bound(1), (stat_kappa, fit.concentration.item(), kappa)


@pytest.mark.parametrize("p", [3, 10, 100])
@pytest.mark.parametrize("m", MEAN_LENGTHS)
def test_power_recovers_parameters_within_fisher_se(p: int, m: float) -> None:
    torch.manual_seed(p * 13 + int(m * 1000))
    loc, kappa = _loc(p), _ps_kappa(p, m)
    x = PowerSpherical(loc, torch.tensor(kappa, dtype=F64)).sample((N,))
    fit = PowerSpherical.fit(x)
    beta = (p - 1) / 2
    alpha = kappa + beta
    d2 = log_gamma_ratio(torch.tensor(alpha, dtype=F64), beta)[2].item()
    stat_mu = N * kappa**2 / (2 * (alpha - 1)) * _tangent_sq(fit.loc, loc).item()
    stat_kappa = N * -d2 * (fit.concentration.item() - kappa) ** 2
    assert stat_mu < chi2_bound(p - 1), (stat_mu, chi2_bound(p - 1))
    assert stat_kappa < chi2_bound(1), (stat_kappa, fit.concentration.item(), kappa)


def test_power_direction_is_not_the_mean_direction() -> None:
    # PS(μ, κ) data and one far-out point: the stationarity condition Σ x/(1 + μᵀx) ∥ μ weights
    # points by 1/(1 + μᵀx), so the far point pulls the MLE harder than it pulls the mean
    torch.manual_seed(3)
    loc = _loc(3)
    far = F.normalize(0.5 * _loc(3, seed=1) - loc, dim=-1)
    x = torch.cat([PowerSpherical(loc, torch.tensor(20.0, dtype=F64)).sample((200,)), far[None]])
    fit = PowerSpherical.fit(x)
    mean_dir = F.normalize(x.mean(0), dim=-1)
    assert (fit.loc - mean_dir).norm() > 1e-3
    assert fit.loc @ far > mean_dir @ far
    # the MLE beats the mean direction, at the mean direction's own best κ as well
    best_at_mean = PowerSpherical.fit(x, init=(mean_dir, fit.concentration), max_iter=0)
    assert fit.log_prob(x).sum() > best_at_mean.log_prob(x).sum()
    # and it is a stationary point: the tangent gradient of Σ log(1 + μᵀx) vanishes
    g = (x / (1 + x @ fit.loc).unsqueeze(-1)).sum(0)
    assert (g - (g @ fit.loc) * fit.loc).norm() < 1e-9 * g.norm()


# --------------------------------------------------------------------- monotone likelihood

@pytest.mark.parametrize("family", ["spcauchy", "power"])
@pytest.mark.parametrize("dtype", [F64, F32])
def test_log_likelihood_never_decreases_along_the_iterations(family: str,
                                                             dtype: torch.dtype) -> None:
    torch.manual_seed(5)
    p = 5
    loc = _loc(p, dtype=dtype)
    cls = SphericalCauchy if family == "spcauchy" else PowerSpherical
    truth = (SphericalCauchy(loc, torch.tensor(0.95, dtype=dtype)) if family == "spcauchy"
             else PowerSpherical(loc, torch.tensor(40.0, dtype=dtype)))
    x = truth.sample((2000,))
    # a poor start (far from the data) and the default start (the mean direction)
    far = F.normalize(loc + 1.5 * _loc(p, seed=1, dtype=dtype), dim=-1)
    starts = [None, (far, torch.tensor(3.0 if family == "spcauchy" else 5.0, dtype=dtype))]
    for init in starts:
        lls = [cls.fit(x, init=init, max_iter=it).log_prob(x).double().sum().item()
               for it in range(12)]
        slack = 1e3 * torch.finfo(dtype).eps * abs(lls[0])  # log_prob's own rounding
        assert all(b >= a - slack for a, b in itertools.pairwise(lls)), lls
        assert lls[-1] > lls[0]


def test_em_history_is_non_decreasing_and_stops() -> None:
    x, _, _, _ = _mixture_data("vmf", seed=2)
    mix = SphericalMixture("vmf", 3).fit(x, restarts=2, generator=torch.Generator().manual_seed(0))
    h = torch.tensor(mix.history, dtype=F64)
    assert (h[1:] - h[:-1]).min() >= -1e-12 * h.abs().max()
    assert mix.converged and len(mix.history) < 200
    assert mix.history[-1] == pytest.approx(mix.log_prob(x).mean().item(), rel=1e-12)


# --------------------------------------------------------------------------- scipy and edges

@pytest.mark.parametrize(("p", "kappa"), [(2, 0.5), (3, 1.0), (3, 50.0), (5, 1000.0),
                                          (10, 20.0), (20, 3000.0)])
def test_vmf_agrees_with_scipy_where_scipy_is_valid(p: int, kappa: float) -> None:
    stats = pytest.importorskip("scipy.stats")
    torch.manual_seed(p)
    x = VonMisesFisher(_loc(p), torch.tensor(kappa, dtype=F64)).sample((2000,))
    mu_ref, kappa_ref = stats.vonmises_fisher.fit(x.numpy())
    fit = VonMisesFisher.fit(x)
    torch.testing.assert_close(fit.loc, torch.as_tensor(mu_ref), rtol=0, atol=1e-12)
    assert fit.concentration.item() == pytest.approx(kappa_ref, rel=1e-9)


@pytest.mark.parametrize("p", [2, 3, 10, 100, 1000, 10_000])
@pytest.mark.parametrize("kappa", [1e-3, 1.0, 1e2, 1e4, 1e6, 1e8])
def test_vmf_kappa_inverts_the_bessel_ratio_over_the_whole_range(p: int, kappa: float) -> None:
    # two points (R, ±√(1-R²), 0, ...) have mean resultant exactly R = A_p(κ); 1 - R and
    # √(1-R²) = √(B(2-B)) come from B = 1 - A directly, so R near 1 loses nothing
    t = bessel_terms(p / 2 - 1, torch.tensor(kappa, dtype=F64))
    r, b = t.ratio, t.ratio_comp
    x = torch.zeros(2, p, dtype=F64)
    x[:, 0] = r
    x[0, 1], x[1, 1] = torch.sqrt(b * (2 - b)), -torch.sqrt(b * (2 - b))
    fit = VonMisesFisher.fit(x)
    assert fit.concentration.item() == pytest.approx(kappa, rel=1e-9)


def test_vmf_kappa_is_zero_for_balanced_points() -> None:
    x = torch.tensor([[1.0, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0]], dtype=F64)
    assert VonMisesFisher.fit(x).concentration.item() == 0


@pytest.mark.parametrize("family", ["spcauchy", "vmf", "power"])
def test_float32_matches_float64_within_a_small_fraction_of_the_se(family: str) -> None:
    torch.manual_seed(8)
    p = 10
    loc = _loc(p)
    # Fisher standard errors (module docstring) of ‖μ̂ - μ‖ and of the concentration parameter
    if family == "spcauchy":  # ρ = 0.999, concentration = logit ρ
        rho = 0.999
        x = SphericalCauchy(loc, torch.tensor(rho, dtype=F64)).sample((N,))
        se_w = math.sqrt(p) * (1 - rho**2) / (2 * (p - 1) * math.sqrt(N))
        se_loc, se_conc, fit = se_w * math.sqrt(p - 1) / rho, se_w / (rho * (1 - rho)), fit_spcauchy
    elif family == "vmf":  # κ = 5000: A' ≈ (p-1)/(2κ²), κA ≈ κ
        kappa = 5e3
        x = VonMisesFisher(loc, torch.tensor(kappa, dtype=F64)).sample((N,))
        se_loc, se_conc = math.sqrt((p - 1) / (N * kappa)), kappa * math.sqrt(2 / ((p - 1) * N))
        fit = fit_vmf
    else:  # κ = 5000: -D''(α) ≈ β/α²
        kappa, beta = 5e3, (p - 1) / 2
        x = PowerSpherical(loc, torch.tensor(kappa, dtype=F64)).sample((N,))
        se_loc = math.sqrt((p - 1) * 2 * (kappa + beta - 1) / N) / kappa
        se_conc, fit = (kappa + beta) / math.sqrt(N * beta), fit_power
    x32 = x.float()
    loc64, conc64 = fit(F.normalize(x32.double(), dim=-1))  # the same points, in float64
    loc32, conc32 = fit(x32)
    assert loc32.dtype == conc32.dtype == F32
    err_loc = (loc32.double() - loc64).norm().item() / se_loc
    err_conc = abs(conc32.double() - conc64).item() / se_conc
    assert err_loc < TOL_F32_SE and err_conc < TOL_F32_SE, (err_loc, err_conc)


# ------------------------------------------------------------------------------ invariances

@pytest.mark.parametrize("family", ["spcauchy", "vmf", "power"])
def test_fits_are_rotation_equivariant(family: str) -> None:
    torch.manual_seed(9)
    p = 6
    cls = {"spcauchy": SphericalCauchy, "vmf": VonMisesFisher, "power": PowerSpherical}[family]
    x = SphericalCauchy(_loc(p), torch.tensor(0.8, dtype=F64)).sample((1000,))
    q = _orthogonal(p, 4)
    a, b = cls.fit(x), cls.fit(F.normalize(x @ q, dim=-1))
    torch.testing.assert_close(b.loc, a.loc @ q, rtol=0, atol=1e-10)
    name = "rho_logit" if family == "spcauchy" else "concentration"
    torch.testing.assert_close(getattr(b, name), getattr(a, name), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("family", ["spcauchy", "vmf", "power"])
def test_integer_weights_equal_duplicated_points_and_zero_weights_drop_points(family: str
                                                                            ) -> None:
    torch.manual_seed(10)
    p = 4
    cls = {"spcauchy": SphericalCauchy, "vmf": VonMisesFisher, "power": PowerSpherical}[family]
    x = VonMisesFisher(_loc(p), torch.tensor(10.0, dtype=F64)).sample((300,))
    w = torch.ones(300, dtype=F64)
    w[:5] = 2
    dup = cls.fit(torch.cat([x, x[:5]]))
    weighted = cls.fit(x, w)
    torch.testing.assert_close(weighted.loc, dup.loc, rtol=0, atol=1e-10)
    torch.testing.assert_close(weighted.mean, dup.mean, rtol=0, atol=1e-10)
    w0 = torch.ones(300, dtype=F64)
    w0[-50:] = 0
    torch.testing.assert_close(cls.fit(x, w0).mean, cls.fit(x[:-50]).mean, rtol=0, atol=1e-10)


@pytest.mark.parametrize("family", ["spcauchy", "vmf", "power"])
@pytest.mark.parametrize("device", DEVICES)
def test_batched_fits_equal_separate_fits(family: str, device: str) -> None:
    torch.manual_seed(11)
    p, n = 5, 400
    cls = {"spcauchy": SphericalCauchy, "vmf": VonMisesFisher, "power": PowerSpherical}[family]
    locs = F.normalize(torch.randn(2, 3, p, dtype=F64), dim=-1)
    x = SphericalCauchy(locs, torch.linspace(0.2, 0.97, 3, dtype=F64)).sample((n,))
    x = x.permute(1, 2, 0, 3).contiguous().to(device)  # (2, 3, n, p)
    batched = cls.fit(x)
    assert batched.batch_shape == (2, 3) and batched.loc.device.type == device
    for i in range(2):
        for j in range(3):
            single = cls.fit(x[i, j])
            torch.testing.assert_close(batched.loc[i, j], single.loc, rtol=0, atol=1e-10)
            torch.testing.assert_close(batched.mean[i, j], single.mean, rtol=0, atol=1e-10)
    # points shared by a batch of weightings: x (n, p) with weights (k, n)
    w = torch.rand(4, n, generator=torch.Generator().manual_seed(0), dtype=F64).to(device)
    shared = cls.fit(x[0, 0], w)
    assert shared.batch_shape == (4,)
    torch.testing.assert_close(shared.mean[2], cls.fit(x[0, 0], w[2]).mean, rtol=0, atol=1e-10)


# ------------------------------------------------------------------------------ bad inputs

@pytest.mark.parametrize("fit", [SphericalCauchy.fit, VonMisesFisher.fit, PowerSpherical.fit])
def test_bad_inputs_raise_value_errors_naming_the_argument(fit) -> None:
    x = F.normalize(torch.randn(20, 3, generator=torch.Generator().manual_seed(0),
                                dtype=F64), dim=-1)
    bad_x = {
        "one point": x[:1],
        "1-D": x[0],
        "integer": x.long(),
        "off the sphere": x * (1 + 1e-9),
        "NaN": torch.where(torch.arange(20).unsqueeze(-1) == 3, math.nan, x),
        "coincident": x[:1].expand(10, 3),
    }
    for name, value in bad_x.items():
        with pytest.raises(ValueError, match=r"^x"):
            fit(value)
        assert name
    w = torch.ones(20, dtype=F64)
    bad_w = {
        "negative": torch.where(torch.arange(20) == 2, -1.0, w),
        "NaN": torch.where(torch.arange(20) == 2, math.nan, w),
        "all zero": torch.zeros(20, dtype=F64),
        "wrong length": torch.ones(19, dtype=F64),
        "non-broadcasting": torch.ones(3, 20, dtype=F64),
    }
    xb = x.expand(4, 20, 3)
    for name, value in bad_w.items():
        with pytest.raises(ValueError, match=r"^weights"):
            fit(xb if name == "non-broadcasting" else x, value)


def test_spcauchy_needs_three_points_and_off_sphere_tolerance_follows_dtype() -> None:
    x = F.normalize(torch.randn(2, 3, dtype=F64), dim=-1)
    with pytest.raises(ValueError, match="at least 3"):
        SphericalCauchy.fit(x)
    y = F.normalize(torch.randn(50, 3, dtype=F32), dim=-1)
    SphericalCauchy.fit(y * (1 + 1e-5))  # within 1e3·eps of float32
    with pytest.raises(ValueError, match="unit sphere"):
        SphericalCauchy.fit(y.double() * (1 + 1e-5))


# --------------------------------------------------------------------------------- mixtures

def _mixture_data(family: str, seed: int, dtype: torch.dtype = F64, n: int = 3000):
    """Three well-separated components (weights 0.5/0.3/0.2) on S²."""
    torch.manual_seed(seed)
    locs = torch.tensor([[1.0, 0, 0], [0, 1, 0], [0, 0, 1]], dtype=dtype)
    weights = torch.tensor([0.5, 0.3, 0.2], dtype=dtype)
    counts = [int(n * w) for w in weights]
    make = {"spcauchy": lambda mu: SphericalCauchy(mu, torch.tensor(0.9, dtype=dtype)),
            "vmf": lambda mu: VonMisesFisher(mu, torch.tensor(40.0, dtype=dtype)),
            "power": lambda mu: PowerSpherical(mu, torch.tensor(60.0, dtype=dtype))}[family]
    x = torch.cat([make(locs[j]).sample((c,)) for j, c in enumerate(counts)])
    labels = torch.cat([torch.full((c,), j) for j, c in enumerate(counts)])
    return x, labels, locs, weights


def test_adjusted_rand_index() -> None:
    a = torch.tensor([0, 0, 1, 1, 2, 2])
    assert adjusted_rand_index(a, a) == pytest.approx(1.0)
    assert adjusted_rand_index(a, torch.tensor([2, 2, 0, 0, 1, 1])) == pytest.approx(1.0)
    # sklearn.metrics.adjusted_rand_score([0,0,1,1], [0,0,1,2]) = 0.5714285714285715
    assert adjusted_rand_index(torch.tensor([0, 0, 1, 1]), torch.tensor([0, 0, 1, 2])) == \
        pytest.approx(4 / 7)


def test_normalized_mutual_information() -> None:
    a = torch.tensor([0, 0, 1, 1, 2, 2])
    assert normalized_mutual_information(a, torch.tensor([2, 2, 0, 0, 1, 1])) == pytest.approx(1.0)
    assert normalized_mutual_information(torch.tensor([0, 0, 1, 1]),
                                         torch.tensor([0, 1, 0, 1])) == pytest.approx(0.0)
    # by hand: joint (1/2, 0; 1/4, 1/4), I = ½log(4/3) + ¼log(2/3) + ¼log 2,
    # H(a) = log 2, H(b) = -(¾log ¾ + ¼log ¼), NMI = I / ((H(a) + H(b)) / 2) = 0.343715...
    i = 0.5 * math.log(4 / 3) + 0.25 * math.log(2 / 3) + 0.25 * math.log(2)
    h = math.log(2) - (0.75 * math.log(0.75) + 0.25 * math.log(0.25))
    assert normalized_mutual_information(torch.tensor([0, 0, 1, 1]),
                                         torch.tensor([0, 0, 0, 1])) == pytest.approx(2 * i / h)


@pytest.mark.parametrize("family", ["spcauchy", "vmf", "power"])
@pytest.mark.parametrize("device", DEVICES)
def test_mixture_recovers_weights_directions_and_labels(family: str, device: str) -> None:
    x, labels, locs, weights = _mixture_data(family, seed=1)
    x = x.to(device)
    mix = SphericalMixture(family, 3).fit(x, restarts=2,
                                          generator=torch.Generator().manual_seed(0))
    assert mix.loc.device.type == device
    order = (mix.loc.cpu() @ locs.T).argmax(0)  # fitted component of each true one
    assert sorted(order.tolist()) == [0, 1, 2]
    assert (mix.loc.cpu()[order] * locs).sum(-1).min() > 0.999
    # weights within 4 binomial SEs (the components barely overlap)
    se = torch.sqrt(weights * (1 - weights) / x.shape[0])
    assert ((mix.weights.cpu()[order] - weights).abs() <= 4 * se).all()
    assert adjusted_rand_index(labels, mix.predict(x).cpu()) > 0.97
    proba = mix.predict_proba(x)
    torch.testing.assert_close(proba.sum(-1), torch.ones(x.shape[0], dtype=F64, device=device))
    assert mix.bic(x) < SphericalMixture(family, 1).fit(x, restarts=1).bic(x)


def test_mixture_seeding_is_reproducible_and_leaves_the_global_generator_alone() -> None:
    x, _, _, _ = _mixture_data("vmf", seed=4, n=1000)
    state = torch.get_rng_state()
    a = SphericalMixture("vmf", 3).fit(x, restarts=2, generator=torch.Generator().manual_seed(7))
    assert torch.equal(torch.get_rng_state(), state)
    b = SphericalMixture("vmf", 3).fit(x, restarts=2, generator=torch.Generator().manual_seed(7))
    assert a.history == b.history
    torch.testing.assert_close(a.loc, b.loc, rtol=0, atol=0)


def test_mixture_in_float32() -> None:
    x, labels, _, _ = _mixture_data("spcauchy", seed=6, dtype=F32, n=2000)
    mix = SphericalMixture("spcauchy", 3).fit(x, restarts=1,
                                              generator=torch.Generator().manual_seed(1))
    assert mix.loc.dtype == F32 and mix.log_prob(x).dtype == F32
    assert adjusted_rand_index(labels, mix.predict(x)) > 0.95


@pytest.mark.parametrize("family", ["spcauchy", "vmf", "power"])
def test_mixture_same_family_view(family: str) -> None:
    x, _, _, _ = _mixture_data(family, seed=3, n=600)
    mix = SphericalMixture(family, 3).fit(x, restarts=1, max_iter=20,
                                          generator=torch.Generator().manual_seed(2))
    d = mix.as_distribution()
    assert isinstance(d, MixtureSameFamily)
    assert d.component_distribution.batch_shape == (3,) and d.event_shape == (3,)
    torch.testing.assert_close(d.log_prob(x), mix.log_prob(x), rtol=1e-12, atol=1e-12)
    assert mix.sample(7).shape == (7, 3) and d.sample((2, 5)).shape == (2, 5, 3)
    wide = d.expand((4,))
    assert wide.batch_shape == (4,)
    torch.testing.assert_close(wide.log_prob(x[:10].unsqueeze(1)),
                               mix.log_prob(x[:10]).unsqueeze(1).expand(10, 4))
    assert d.mean.shape == (3,) and d.variance.shape == (3,)


def test_mixture_bad_arguments() -> None:
    with pytest.raises(ValueError, match="family"):
        SphericalMixture("gauss", 2)
    with pytest.raises(ValueError, match="k"):
        SphericalMixture("vmf", 0)
    with pytest.raises(ValueError, match=r"^x"):
        SphericalMixture("vmf", 2).fit(torch.randn(3, 10, 3, dtype=F64))
    with pytest.raises(RuntimeError, match="fit"):
        SphericalMixture("vmf", 2).log_prob(F.normalize(torch.randn(5, 3), dim=-1))


def test_cli_cluster_fits_a_mixture_to_the_latent_directions(tmp_path, capsys) -> None:
    from mnist_fake import write_fake_mnist
    from spcauchy.experiments.cli import main

    fake = write_fake_mnist(tmp_path / "mnist.pkl.gz")
    sets = [f"data_path='{fake}'", "hidden=[32, 16]", "batch_size=20", "epochs=1",
            "progress=false", "latent_dim=2", "family=vmf"]
    run = tmp_path / "run"
    assert main(["train", "--out", str(run), *[a for s in sets for a in ("--set", s)]]) == 0
    capsys.readouterr()
    assert main(["cluster", str(run), "--k", "3", "--limit", "30", "--restarts", "1"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["family"] == "vmf" and out["n"] == 30 and len(out["weights"]) == 3
    assert -1 <= out["adjusted_rand_index"] <= 1 and math.isfinite(out["bic"])
    assert main(["cluster", str(run), "--k", "0"]) == 2
    assert "--k must be" in capsys.readouterr().err


@pytest.mark.parametrize("family", ["spcauchy", "vmf", "power"])
def test_mixtures_are_batched_over_leading_dims(family: str) -> None:
    # two data sets, the second a rotation of another draw: each mixture of the batch is fitted
    # on its own points
    x0, y0, _, _ = _mixture_data(family, seed=1, n=1500)
    x1, y1, _, _ = _mixture_data(family, seed=2, n=1500)
    rot = torch.linalg.qr(torch.randn(3, 3, generator=torch.Generator().manual_seed(3),
                                      dtype=F64))[0]
    x = torch.stack([x0, x1 @ rot.T])
    mix = SphericalMixture(family, 3).fit(x, restarts=2,
                                          generator=torch.Generator().manual_seed(0))
    assert mix.batch_shape == (2,) and mix.loc.shape == (2, 3, 3) and mix.weights.shape == (2, 3)
    labels = mix.predict(x)
    assert labels.shape == (2, 1500)
    assert adjusted_rand_index(y0, labels[0]) > 0.95 and adjusted_rand_index(y1, labels[1]) > 0.95
    assert all(b - a >= -1e-12 * abs(a) for a, b in itertools.pairwise(mix.history))
    assert mix.log_prob(x).shape == (2, 1500) and mix.predict_proba(x).shape == (2, 1500, 3)
    assert mix.sample(5).shape == (5, 2, 3) and mix.as_distribution().batch_shape == (2,)
    torch.testing.assert_close(mix.as_distribution().log_prob(x.transpose(0, 1)).T,
                               mix.log_prob(x))
    with pytest.raises(ValueError, match="batch the mixture was fitted on"):
        mix.predict(x0)
