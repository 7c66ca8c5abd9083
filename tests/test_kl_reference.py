"""spCauchy KL to the uniform prior and moments against high-precision references.

Reference: tests/data/spcauchy_reference.csv, written by scripts/make_spcauchy_reference.py with
mpmath at 100 digits, independently of the code under test (hypergeometric closed forms and direct
quadrature). Each row is taken at ρ = sigmoid(x) for the float64 logit x = ``rho_logit``.

Tolerance policy (relative errors): the KL is a sum of a few positive terms evaluated from a
per-dimension table whose stated accuracy is ~2e-14, so float64 values must agree to 1e-12 (two
orders of headroom) and derivatives, which lose at most one extra digit through the table
derivative, to 1e-10. float32 must agree to 1e-5 ≈ 80 ulp, which leaves room for the input
rounding of the logit (e.g. 27.6 is not a float32 number: 4e-7 relative) but not for any loss of
digits in the algorithm. Limits and closed forms from docs/math.md and DESIGN §3 are extra checks.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator
from pathlib import Path

import mpmath as mp
import pytest
import torch
import torch.nn.functional as F
from scipy.special import digamma

from spcauchy import SphericalCauchy, spcauchy_kl_uniform
from spcauchy.special.spcauchy_kl import kl_and_derivative, kl_exact, rho_parts

F64, F32 = torch.float64, torch.float32
with (Path(__file__).parent / "data" / "spcauchy_reference.csv").open(newline="") as _fh:
    REF = list(csv.DictReader(_fh))
DIMS = sorted({int(r["p"]) for r in REF})
TOL_KL = {F64: 1e-12, F32: 1e-5}
TOL_DKL = {F64: 1e-10, F32: 1e-5}


@pytest.fixture(autouse=True)
def _mpmath_precision() -> Iterator[None]:
    """60 significant digits for the mpmath references, restored after each test."""
    with mp.workdps(60):
        yield


def _rows(p: int, max_abs_logit: float = math.inf) -> list[dict[str, str]]:
    return [r for r in REF if int(r["p"]) == p and abs(float(r["rho_logit"])) <= max_abs_logit]


def _col(rows: list[dict[str, str]], name: str, dtype: torch.dtype = F64) -> torch.Tensor:
    return torch.tensor([float(r[name]) for r in rows], dtype=dtype)


def _rel(got: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """Relative error in float64 (absolute where the reference is exactly 0)."""
    got, ref = got.double(), ref.double()
    return torch.where(ref != 0, (got - ref).abs() / ref.abs().clamp_min(1e-300), got.abs())


def _axis_loc(n: int, p: int, dtype: torch.dtype) -> torch.Tensor:
    loc = torch.zeros(n, p, dtype=dtype)
    loc[:, 0] = 1
    return loc


def test_reference_table_covers_the_documented_grid() -> None:
    # A truncated or regenerated CSV must not silently shrink what the tests below cover.
    assert len(REF) == 28 * 22
    assert {2, 3, 4, 5, 7, 9, 15, 16, 17, 65, 513, 2049, 10000} <= set(DIMS)
    logits = {float(r["rho_logit"]) for r in REF}
    assert min(logits) == -40.0 and max(logits) == 80.0


# ---------------------------------------------------------------------------------------------
# spcauchy_kl_uniform against the CSV
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [F64, F32], ids=["float64", "float32"])
def test_kl_and_gradient_logit_path_match_reference(dtype: torch.dtype) -> None:
    # float32 rows: |x| ≤ 80 (the whole table; sigmoid(-x) is a normal float32 there).
    limit = math.inf if dtype == F64 else 80.0
    for p in DIMS:
        rows = _rows(p, limit)
        x = _col(rows, "rho_logit", dtype).requires_grad_()
        kl = spcauchy_kl_uniform(p, rho_logit=x)
        (grad,) = torch.autograd.grad(kl.sum(), x)
        assert kl.dtype == dtype and grad.dtype == dtype
        err = _rel(kl, _col(rows, "kl"))
        assert err.max() <= TOL_KL[dtype], (p, err.max().item())
        err = _rel(grad, _col(rows, "dkl_dlogit"))
        assert err.max() <= TOL_DKL[dtype], (p, err.max().item())


def test_kl_rho_path_matches_reference_at_the_rounded_rho() -> None:
    """spcauchy_kl_uniform(p, rho=ρ̂) with ρ̂ = fl(sigmoid(x)) against the CSV, consistently.

    ρ̂ differs from the reference point ρ = sigmoid(x) by δ ≤ 2^-54 (half an ulp), which moves
    1-ρ by δ/(1-ρ) relative: 1e-3 at x = 30, far above 1e-12. So the reference is moved to ρ̂
    with the first-order term KL'(ρ)·δ (KL' = dKL/dx / (ρ(1-ρ)) from the CSV, δ exact in mpmath);
    the neglected second-order term is bounded by |KL''| ≤ 10(p-1)/(1-ρ)² (each of the two terms
    of KL''/(p-1) is ≤ 6/(1-ρ)² resp. 4/(1-ρ)² because D = 1+ρ²+2ρt ≥ (1-ρ)² and
    (ρ+t)² ≤ D), and rows where it could exceed 1e-14·KL are skipped (x ≥ 25 in practice).
    The remaining rows of x ≤ 30 are checked against the exact series in
    test_kl_rho_path_matches_exact_series_at_the_same_point.
    """
    checked = 0
    for p in DIMS:
        rows = _rows(p)
        rows = [r for r in rows if float(r["rho_logit"]) <= 30]
        x = _col(rows, "rho_logit")
        rho_hat = torch.sigmoid(x)
        kl = spcauchy_kl_uniform(p, rho_hat)
        for i, r in enumerate(rows):
            xm = mp.mpf(r["rho_logit"])
            rho, rho_bar = 1 / (1 + mp.exp(-xm)), 1 / (1 + mp.exp(xm))
            delta = mp.mpf(rho_hat[i].item()) - rho
            kl_ref = mp.mpf(r["kl"])
            dkl_drho = mp.mpf(r["dkl_dlogit"]) / (rho * rho_bar)
            second_order = 5 * (p - 1) * delta**2 / rho_bar**2
            if second_order > mp.mpf("1e-14") * kl_ref:
                continue
            ref = kl_ref + dkl_drho * delta
            err = abs(mp.mpf(kl[i].item()) - ref) / ref
            assert err <= TOL_KL[F64], (p, r["rho_logit"], float(err))
            checked += 1
    assert checked >= 28 * 17, checked  # at least every dimension at every logit up to 20


def test_kl_rho_path_matches_exact_series_at_the_same_point() -> None:
    """Value and autograd gradient of the ρ path, rows x ≤ 30, at the float64 ρ̂ itself.

    kl_exact evaluates the exact series (ρ²-series, or the η-expansion for small odd p) at
    (ρ̂, 1-ρ̂, log1p(-ρ̂)): 1-ρ̂ is exact for ρ̂ ≥ 1/2 (Sterbenz), so both sides describe the same
    point and rounding of ρ cannot matter. kl_exact itself is tied to the CSV through the logit
    path (the table is built from it) and through the dense check below.
    """
    for p in DIMS:
        x = _col([r for r in _rows(p) if float(r["rho_logit"]) <= 30], "rho_logit")
        rho = torch.sigmoid(x).requires_grad_()
        kl = spcauchy_kl_uniform(p, rho)
        (grad,) = torch.autograd.grad(kl.sum(), rho)
        with torch.no_grad():
            k, dk = kl_exact(p, *rho_parts(rho, None))
        assert _rel(kl, (p - 1) * k).max() <= TOL_KL[F64], p
        assert _rel(grad, (p - 1) * dk).max() <= TOL_DKL[F64], p


# ---------------------------------------------------------------------------------------------
# the tabulated path against the exact series, densely
# ---------------------------------------------------------------------------------------------

DENSE_DIMS = [2, 3, 4, 5, 7, 9, 15, 16, 17, 65, 513, 2049, 10000]


@pytest.mark.parametrize("p", DENSE_DIMS)
def test_table_matches_exact_series_densely(p: int) -> None:
    # 5000 logits in [-25, 45]: beyond the table on both sides (it spans [-20, 40]) and across
    # all 64 cells per unit. Tolerance 1e-13: the documented table accuracy is 1.7e-14.
    g = torch.Generator().manual_seed(1000 + p)
    x = torch.empty(5000, dtype=F64).uniform_(-25.0, 45.0, generator=g)
    x = torch.cat([x, torch.tensor([-25.0, -20.0, 0.0, 40.0 - 2.0**-12, 40.0, 45.0], dtype=F64)])
    kl, dkl = kl_and_derivative(p, x, True)
    rho, rho_bar, log_rho_bar = rho_parts(None, x)
    k, dk = kl_exact(p, rho, rho_bar, log_rho_bar)
    assert _rel(kl, (p - 1) * k).max() <= 1e-13
    assert _rel(dkl, (p - 1) * dk * rho * rho_bar).max() <= 1e-13
    # the ρ path of the same table, where ρ is representable away from 1
    r = rho[x <= 30]
    kl_r, dkl_r = kl_and_derivative(p, r, False)
    k, dk = kl_exact(p, *rho_parts(r, None))
    assert _rel(kl_r, (p - 1) * k).max() <= 1e-13
    assert _rel(dkl_r, (p - 1) * dk).max() <= 1e-13
    # float32 table at the float32 logits, against the float64 series at the same points
    x32 = x.float()
    kl32, dkl32 = kl_and_derivative(p, x32, True)
    rho, rho_bar, log_rho_bar = rho_parts(None, x32.double())
    k, dk = kl_exact(p, rho, rho_bar, log_rho_bar)
    assert _rel(kl32, (p - 1) * k).max() <= TOL_KL[F32]
    assert _rel(dkl32, (p - 1) * dk * rho * rho_bar).max() <= TOL_DKL[F32]


# ---------------------------------------------------------------------------------------------
# moments against the CSV
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [F64, F32], ids=["float64", "float32"])
def test_mean_resultant_length_matches_reference(dtype: torch.dtype) -> None:
    # float64 1e-13: m is ρ plus a small series correction, no cancellation. float32 1e-5.
    tol = {F64: 1e-13, F32: 1e-5}[dtype]
    for p in DIMS:
        rows = _rows(p)
        x = _col(rows, "rho_logit", dtype)
        q = SphericalCauchy(_axis_loc(len(rows), p, dtype), rho_logit=x)
        m = q.mean_resultant_length
        assert m.dtype == dtype
        err = _rel(m, _col(rows, "mean_length"))
        assert err.max() <= tol, (p, err.max().item())
        torch.testing.assert_close(q.mean[:, 0], m, rtol=0, atol=0)


def _check_transverse_variance(dtype: torch.dtype, dims: list[int]) -> None:
    """variance[..., 1] for loc = e_0 is the variance of a coordinate orthogonal to μ."""
    tol = {F64: 1e-11, F32: 1e-5}[dtype]
    tiny = torch.finfo(dtype).tiny
    worst = (0.0, None)
    for p in dims:
        rows = _rows(p)
        x = _col(rows, "rho_logit", dtype)
        var = SphericalCauchy(_axis_loc(len(rows), p, dtype), rho_logit=x).variance
        assert var.dtype == dtype and not var.isnan().any()
        ref = _col(rows, "transverse_var")
        # all orthogonal coordinates share the same variance
        if p > 2:
            assert (var[:, 2:] == var[:, 1:2]).all()
        normal = ref > tiny
        # below float32 tiny the value must underflow gracefully: 0 or subnormal, never NaN/Inf
        assert ((var[~normal, 1] >= 0) & (var[~normal, 1] <= tiny)).all(), p
        err = _rel(var[normal, 1], ref[normal])
        if err.max().item() > worst[0]:
            worst = (err.max().item(), p)
    assert worst[0] <= tol, worst


def test_transverse_variance_float64_matches_reference() -> None:
    # 1e-11: the variance is a product of positive factors and one series; the series for large
    # p alternates in sign near ρ = 1, so some cancellation (≈1e-12 at p = 10⁴) is tolerated.
    _check_transverse_variance(F64, DIMS)


def test_transverse_variance_float32_matches_reference_small_dims() -> None:
    _check_transverse_variance(F32, [p for p in DIMS if p < 256])


def test_transverse_variance_float32_matches_reference_large_dims() -> None:
    _check_transverse_variance(F32, [p for p in DIMS if p >= 256])


def _longitudinal_variance_ref(p: int, x: float) -> float:
    """Var(μᵀx) by 60-digit quadrature over the uniform law (independent of the code).

    60 digits: E s² - (E s)² cancels about two digits, and mp.quad's own error at 40 digits
    reached 6e-6 relative at (p=16, x=20).

    With w ~ Beta(a, a), a = (p-1)/2 (w = (1-μᵀu)/2 for u uniform), the Möbius map gives
    s = 1 - μᵀx = 2w(1-ρ)² / ((1-ρ)² + 4ρ(1-w)) without cancellation; Var = E s² - (E s)².
    """
    with mp.workdps(60):
        xm = mp.mpf(x)
        rho, rho_bar = 1 / (1 + mp.exp(-xm)), 1 / (1 + mp.exp(xm))
        a = mp.mpf(p - 1) / 2

        def s(w: mp.mpf) -> mp.mpf:
            return 2 * w * rho_bar**2 / (rho_bar**2 + 4 * rho * (1 - w))

        def moment(k: int) -> mp.mpf:
            weight = mp.beta(a, a)
            return mp.quad(lambda w: s(w) ** k * (w * (1 - w)) ** (a - 1), [0, 0.5, 1]) / weight

        return float(moment(2) - moment(1) ** 2)


def _check_longitudinal_variance(logits: list[float]) -> None:
    # float64 1e-10, float32 1e-4: the longitudinal variance is an honest positive quantity
    # with a cancellation-free formula (above), so a few digits more than the transverse
    # tolerance are already generous.
    for p in (2, 3, 4, 5, 7, 16, 65):
        ref = torch.tensor([_longitudinal_variance_ref(p, x) for x in logits], dtype=F64)
        for dtype, tol in ((F64, 1e-10), (F32, 1e-4)):
            q = SphericalCauchy(_axis_loc(len(logits), p, dtype),
                                rho_logit=torch.tensor(logits, dtype=dtype))
            err = _rel(q.variance[:, 0], ref)
            assert err.max() <= tol, (p, dtype, err.max().item())


def test_longitudinal_variance_moderate_concentration() -> None:
    _check_longitudinal_variance([-2.0, 0.0, 1.0])


def test_longitudinal_variance_high_concentration() -> None:
    _check_longitudinal_variance([3.0, 5.0, 8.0, 12.0, 20.0])


# ---------------------------------------------------------------------------------------------
# limits and closed forms (DESIGN §3)
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("p", [2, 3, 4, 7, 16, 65, 10000])
def test_small_rho_limit(p: int) -> None:
    """KL = (p-1) Σ_k (1-c_k) ρ^{2k}/k with 0 ≤ 1-c_k ≤ 2 and 1-c_1 = 2(p-1)/p ≥ 1, so

    1 ≤ KL / (2(p-1)²/p ρ²) ≤ 1 + ρ²/(1-ρ²)   (plus 1e-14 for rounding).
    """
    x = torch.tensor([-60.0, -40.0, -30.0, -20.0, -10.0, -7.0, -5.0, -3.0], dtype=F64)
    rho = torch.sigmoid(x)
    for kl in (spcauchy_kl_uniform(p, rho_logit=x), spcauchy_kl_uniform(p, rho)):
        ratio = kl / (2 * (p - 1) ** 2 / p * rho * rho)
        assert (ratio >= 1 - 1e-14).all()
        assert (ratio <= 1 + rho**2 / (1 - rho**2) + 1e-14).all()


@pytest.mark.parametrize("p", DENSE_DIMS)
def test_large_p_upper_bound(p: int) -> None:
    """g_p(ρ) = E log(1+ρ²+2ρt) ≤ log(1+ρ²) by Jensen (E t = 0): KL/(p-1) ≤ log((1+ρ²)/(1-ρ²)).

    The second-order term -2ρ² E t²/(1+ρ²)² with E t² = 1/p says the gap is ≈ 2ρ²/(p(1+ρ²)²)
    ≤ 1/(2p); for large p it must close at that rate (checked as gap ≤ 1/p for p ≥ 65).
    """
    x = torch.linspace(-30, 40, 1401, dtype=F64)
    rho, _rho_bar, log_rho_bar = rho_parts(None, x)
    # -log(1-ρ²) without cancellation on either side of ρ = 1/2
    log1m_rho2 = torch.where(rho < 0.5, torch.log1p(-rho * rho), log_rho_bar + torch.log1p(rho))
    bound = torch.log1p(rho * rho) - log1m_rho2
    per_dim = spcauchy_kl_uniform(p, rho_logit=x) / (p - 1)
    assert (per_dim <= bound * (1 + 1e-13)).all()
    if p >= 65:
        assert (bound - per_dim <= 1 / p).all()


@pytest.mark.parametrize("p", DENSE_DIMS)
def test_rho_to_one_asymptote(p: int) -> None:
    """KL = (p-1)[log((1+ρ)/(1-ρ)) + ψ(a) - ψ(2a)] + o(1), a = (p-1)/2; o(1) < 1e-15 at x ≥ 38."""
    x = torch.tensor([38.0, 40.0, 45.0, 60.0, 200.0], dtype=F64)
    log_ratio = torch.log1p(torch.sigmoid(x)) - F.logsigmoid(-x)
    a = (p - 1) / 2
    asym = (p - 1) * (log_ratio + float(digamma(a) - digamma(2 * a)))
    assert _rel(spcauchy_kl_uniform(p, rho_logit=x), asym).max() <= 1e-12


def _closed_form(p: int, x: mp.mpf) -> mp.mpf:
    rho, rho_bar = 1 / (1 + mp.exp(-x)), 1 / (1 + mp.exp(x))
    log1m_rho2 = mp.log(rho_bar) + mp.log1p(rho)
    if p == 2:
        return -log1m_rho2
    if p == 3:
        return (1 + rho**2) / rho * (mp.log1p(rho) - mp.log(rho_bar)) - 2
    return 3 * (-log1m_rho2 + rho**2 / 2)


@pytest.mark.parametrize("p", [2, 3, 4])
@pytest.mark.parametrize("dtype", [F64, F32], ids=["float64", "float32"])
def test_closed_forms_low_dimensions(p: int, dtype: torch.dtype) -> None:
    """KL₂ = -log(1-ρ²), KL₃ = ((1+ρ²)/ρ) log((1+ρ)/(1-ρ)) - 2, KL₄ = 3[-log(1-ρ²) + ρ²/2].

    The closed forms cancel badly at small ρ (KL₃), so they are evaluated in mpmath (60 digits)
    at the logits as rounded to ``dtype``.
    """
    x = torch.linspace(-30, 60, 181, dtype=F64).to(dtype)
    ref = torch.tensor([float(_closed_form(p, mp.mpf(v))) for v in x.tolist()], dtype=F64)
    assert _rel(spcauchy_kl_uniform(p, rho_logit=x), ref).max() <= TOL_KL[dtype]
    rho = torch.sigmoid(x.double())
    keep = x.double() <= 30  # ρ path: the reference is taken at the exact logit of ρ̂ itself
    ref_rho = torch.tensor([float(_closed_form(p, mp.log(mp.mpf(r) / (1 - mp.mpf(r)))))
                            for r in rho[keep].tolist()], dtype=F64)
    assert _rel(spcauchy_kl_uniform(p, rho[keep]), ref_rho).max() <= TOL_KL[F64]


# ---------------------------------------------------------------------------------------------
# never NaN / Inf
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("dtype", "limit"), [(F32, 80.0), (F64, 700.0)],
                         ids=["float32", "float64"])
def test_kl_never_nan_over_the_logit_range(dtype: torch.dtype, limit: float) -> None:
    x = torch.cat([torch.linspace(-limit, limit, 4001, dtype=dtype),
                   torch.tensor([-limit, -1e-30, 0.0, 1e-30, limit], dtype=dtype)]).sort().values
    for p in DENSE_DIMS:
        xg = x.clone().requires_grad_()
        kl = spcauchy_kl_uniform(p, rho_logit=xg)
        (grad,) = torch.autograd.grad(kl.sum(), xg)
        assert kl.isfinite().all() and grad.isfinite().all(), p
        assert (kl >= 0).all() and (grad >= 0).all(), p  # KL increases with ρ
        # monotone in the logit up to rounding
        assert (kl.diff() >= -4 * torch.finfo(dtype).eps * kl[1:]).all(), p


@pytest.mark.parametrize("dtype", [F32, F64], ids=["float32", "float64"])
def test_kl_at_rho_zero_and_near_one(dtype: torch.dtype) -> None:
    one_minus = 1 - torch.finfo(dtype).eps / 2  # the largest float below 1
    for p in DENSE_DIMS:
        rho = torch.tensor([0.0, 1e-30, 0.5, one_minus], dtype=dtype, requires_grad=True)
        kl = spcauchy_kl_uniform(p, rho)
        (grad,) = torch.autograd.grad(kl.sum(), rho)
        assert kl.isfinite().all() and grad.isfinite().all(), p
        assert kl[0] == 0 and grad[0] == 0, p  # ρ = 0 is the uniform: a minimum of the KL
        eta = torch.tensor([0.0, -1e4, 1e4], dtype=dtype, requires_grad=True)
        kl = spcauchy_kl_uniform(p, rho_logit=eta)
        (grad,) = torch.autograd.grad(kl.sum(), eta)
        assert kl.isfinite().all() and grad.isfinite().all(), p
        assert kl[1] == 0 and grad[1] == 0, p


def test_kl_uniform_argument_errors() -> None:
    rho = torch.tensor([0.5], dtype=F64)
    for bad_dim in (1, 0, 2.0, True, "3"):
        with pytest.raises(ValueError, match="dim"):
            spcauchy_kl_uniform(bad_dim, rho)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="exactly one"):
        spcauchy_kl_uniform(3)
    with pytest.raises(ValueError, match="exactly one"):
        spcauchy_kl_uniform(3, rho, rho_logit=rho)
    with pytest.raises(ValueError, match="rho_logit"):
        spcauchy_kl_uniform(3, rho_logit=torch.tensor([1]))
    with pytest.raises(ValueError, match="rho"):
        spcauchy_kl_uniform(3, 0.5)  # type: ignore[arg-type]
