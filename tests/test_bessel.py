"""log-Bessel numerics against the mpmath references of scripts/make_baseline_reference.py."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import mpmath as mp
import pytest
import torch

from spcauchy import VonMisesFisher
from spcauchy.special.bessel import bessel_terms

REF = Path(__file__).parent / "data" / "baseline_reference.csv"
ROWS = list(csv.DictReader(REF.open()))
DIMS = sorted({int(r["p"]) for r in ROWS})
# Tolerance policy: float64 relative error ≤ 1e-10 (absolute where the reference is 0);
# float32 relative error ≤ 1e-4 and always finite.
TOL = {torch.float64: 1e-10, torch.float32: 1e-4}
FIELDS = ["log_f", "log_f_scaled", "ratio", "ratio_comp", "kappa_dratio"]


def _rows(p: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    rows = [r for r in ROWS if int(r["p"]) == p]
    kappa = torch.tensor([float(r["kappa"]) for r in rows], dtype=torch.float64)
    cols = {k: torch.tensor([float(r[k]) for r in rows], dtype=torch.float64) for k in rows[0]}
    return kappa, cols


def _rel_err(got: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    got = got.double()
    both_inf = torch.isinf(ref) & (got == ref)
    err = (got - ref).abs() / ref.abs().clamp_min(1e-300)
    err = torch.where(ref == 0, got.abs(), err)
    return torch.where(both_inf, torch.zeros_like(err), err)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("p", DIMS)
def test_bessel_terms_match_mpmath(p: int, dtype: torch.dtype) -> None:
    kappa, ref = _rows(p)
    got = bessel_terms(p / 2 - 1, kappa.to(dtype))
    for name in FIELDS:
        value = getattr(got, name)
        assert value.isfinite().all(), name
        err = _rel_err(value, ref[name]).max().item()
        assert err <= TOL[dtype], f"{name}: relative error {err:.3g}"


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("p", DIMS)
def test_vmf_kl_matches_mpmath(p: int, dtype: torch.dtype) -> None:
    kappa, ref = _rows(p)
    kl = _vmf_kl(p, kappa.to(dtype))
    assert kl.isfinite().all() and (kl >= 0).all()
    err_kl = _rel_err(kl, ref["kl_vmf"]).max().item()
    assert err_kl <= TOL[dtype], err_kl


def _vmf_kl(p: int, kappa: torch.Tensor) -> torch.Tensor:
    loc = torch.zeros(*kappa.shape, p, dtype=kappa.dtype)
    loc[..., 0] = 1
    return VonMisesFisher(loc, kappa).kl_to_uniform()


@pytest.mark.parametrize("nu", [0.0, 0.5, 3.0, 14.5, 15.0, 40.0])
def test_vmf_kl_gradcheck(nu: float) -> None:
    kappa = torch.tensor([0.3, 2.0, 17.0, 400.0], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda k: _vmf_kl(int(2 * nu + 2), k), (kappa,))


@pytest.mark.parametrize("bad", [-1.0, math.nan, math.inf])
def test_invalid_order_raises(bad: float) -> None:
    with pytest.raises(ValueError, match="nu"):
        bessel_terms(bad, torch.ones(1))


def _d2ratio_reference(p: int, row: dict[str, str]) -> float:
    """A''(κ): second derivative of the ₀F₁ quotient for κ ≤ 40; above, from the Riccati equation
    A' = 1 - A² - (p-1)A/κ differentiated, A'' = -2AA' - (p-1)(κA' - A)/κ², on the 25-digit
    reference A and κA' (the cancellation there costs at most log10 κ ≤ 8 digits)."""
    with mp.workdps(40):
        k, nu = mp.mpf(row["kappa"]), mp.mpf(p) / 2 - 1
        if k == 0:
            return 0.0
        if k <= 40:
            return float(mp.diff(lambda x: x / (2 * nu + 2) * mp.hyp0f1(nu + 2, x**2 / 4)
                                 / mp.hyp0f1(nu + 1, x**2 / 4), k, 2))
        a, pk = mp.mpf(row["ratio"]), mp.mpf(row["kappa_dratio"])
        return float(-2 * a * pk / k - (p - 1) * (pk - a) / k**2)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_second_derivative_of_ratio_matches_mpmath(dtype: torch.dtype) -> None:
    """A''(κ) (the derivative of the vMF axial variance A') over every reference (p, κ)."""
    for p in DIMS:
        kappa, _ = _rows(p)
        ref = torch.tensor([_d2ratio_reference(p, r) for r in ROWS if int(r["p"]) == p],
                           dtype=torch.float64)
        got = bessel_terms(p / 2 - 1, kappa.to(dtype), second=True).d2ratio
        assert got.isfinite().all() and (got <= 0).all(), p
        err = _rel_err(got, ref).max().item()
        assert err <= TOL[dtype], (p, err)
