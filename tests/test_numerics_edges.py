"""Numerical edge cases across the four distributions: higher-order derivatives, parameters at the
ends of their ranges, and a property test over the whole valid range.

Tolerance policy: derivatives are compared with fourth-order central differences of the next lower
derivative in float64, allowing 1e-6 relative error plus the differences' rounding bound (8 ulp of
the largest value in the stencil, times the stencil's weights). The property tests assert
finiteness of values and gradients; they are derandomized, so every run checks the same examples.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.autograd import gradgradcheck
from torch.distributions import kl_divergence

from spcauchy import (
    HypersphericalUniform,
    PowerSpherical,
    SphericalCauchy,
    VonMisesFisher,
    spcauchy_kl_uniform,
    spcauchy_latent,
)
from spcauchy.special.mobius import mobius_sample

F64, F32 = torch.float64, torch.float32


def _loc(p: int, batch: tuple[int, ...] = (), dtype: torch.dtype = F64, seed: int = 0
         ) -> torch.Tensor:
    g = torch.Generator().manual_seed(1000 * seed + p)
    return F.normalize(torch.randn(*batch, p, generator=g, dtype=F64), dim=-1).to(dtype)


def _derivative(fn, x: torch.Tensor, create_graph: bool = False) -> torch.Tensor:
    """d fn/dx for an elementwise fn (the gradient of the sum is the diagonal of the Jacobian);
    with ``create_graph``, differentiable in x."""
    if not x.requires_grad:
        x = x.detach().requires_grad_()
    (g,) = torch.autograd.grad(fn(x).sum(), x, create_graph=create_graph)
    return g


def _assert_matches_central_difference(deriv: torch.Tensor, fn, x: torch.Tensor,
                                       h: torch.Tensor, what: str = "",
                                       atol: torch.Tensor | float = 0.0) -> None:
    """``deriv`` ≈ d fn/dx by the fourth-order central difference with step h (elementwise)."""
    vals = [fn(x + j * h).detach() for j in (-2, -1, 1, 2)]
    fd = (vals[0] - 8 * vals[1] + 8 * vals[2] - vals[3]) / (12 * h)
    rounding = 8 * torch.finfo(x.dtype).eps * torch.stack(vals).abs().amax(0) * 18 / (12 * h)
    err = (deriv - fd).abs()
    assert (err <= 1e-6 * fd.abs() + rounding + atol).all(), (what, x[err.argmax()], deriv, fd)


# ---------------------------------------------------------------------------------------------
# second derivatives: correct where implemented, an error where not — never a silent zero
# ---------------------------------------------------------------------------------------------

P_LIST = [2, 3, 5, 16, 100]
KAPPAS = torch.tensor([0.05, 0.7, 4.0, 30.0, 700.0, 2e4], dtype=F64)
_X = {p: F.normalize(torch.randn(len(KAPPAS), p, generator=torch.Generator().manual_seed(p),
                                 dtype=F64), dim=-1) for p in P_LIST}


def _concentration_functions(p: int) -> dict[str, object]:
    """Elementwise functions of κ (one batch element per κ) whose second derivative must exist."""
    loc, x = _loc(p, (len(KAPPAS),)), _X[p]
    out = {}
    for cls in (VonMisesFisher, PowerSpherical):
        name = cls.__name__
        out[f"{name}.log_prob"] = lambda k, c=cls: c(loc, k).log_prob(x)
        out[f"{name}.entropy"] = lambda k, c=cls: c(loc, k).entropy()
        out[f"{name}.kl_to_uniform"] = lambda k, c=cls: c(loc, k).kl_to_uniform()
        out[f"{name}.mean_resultant_length"] = lambda k, c=cls: c(loc, k).mean_resultant_length
    return out


@pytest.mark.parametrize("p", P_LIST)
def test_second_derivatives_in_concentration_match_finite_differences(p: int) -> None:
    """d²/dκ² of vMF and Power Spherical log_prob, entropy, KL and mean, and of log I_ν: double
    backward (create_graph=True) against differences of the first derivative, over κ from 0.05 to
    2e4 (each family's series, recurrence and asymptotic branches)."""
    h = 1e-3 * KAPPAS
    for name, fn in _concentration_functions(p).items():
        second = _derivative(lambda k, fn=fn: _derivative(fn, k, create_graph=True), KAPPAS)
        assert second.isfinite().all(), name
        _assert_matches_central_difference(second, lambda k, fn=fn: _derivative(fn, k), KAPPAS, h,
                                           name)


@pytest.mark.parametrize("p", [2, 3, 7, 64, 1000])
def test_second_derivatives_of_spcauchy_kl_match_finite_differences(p: int) -> None:
    """d²KL(spCauchy ‖ uniform)/dη² over η ∈ [-25, 45] (inside, below and above the table) and
    d²/dρ² over ρ ∈ [0.01, 0.99]. The table's L'' is the derivative of a degree-5 fit of L' on
    cells of width 1/64, so beyond the usual bound the error may reach 1e-10 of the first
    derivative's scale (measured: 2e-12; it matters only for η ≳ 25, where d²KL/dη² < 1e-10)."""
    def first(e: torch.Tensor) -> torch.Tensor:
        return _derivative(lambda x: spcauchy_kl_uniform(p, rho_logit=x), e)

    eta = torch.linspace(-25, 45, 141, dtype=F64)
    def kl(x):
        return spcauchy_kl_uniform(p, rho_logit=x)

    second = _derivative(lambda e: _derivative(kl, e, True), eta)
    _assert_matches_central_difference(second, first, eta, torch.full_like(eta, 1e-3),
                                       atol=1e-10 * first(eta).abs())
    rho = torch.linspace(0.01, 0.99, 99, dtype=F64)
    second = _derivative(lambda r: _derivative(lambda x: spcauchy_kl_uniform(p, x), r, True), rho)
    _assert_matches_central_difference(
        second, lambda r: _derivative(lambda x: spcauchy_kl_uniform(p, x), r), rho,
        torch.minimum(torch.full_like(rho, 1e-4), (1 - rho) / 4))


def test_hessian_is_not_silently_zero() -> None:
    """torch.autograd.functional.hessian used to return exactly 0 for these scalars."""
    p, x = 3, _X[3][0]
    loc = _loc(3)
    k0, eta0 = torch.tensor(2.0, dtype=F64), torch.tensor(0.3, dtype=F64)
    for fn, arg in [(lambda k: VonMisesFisher(loc, k).log_prob(x), k0),
                    (lambda k: PowerSpherical(loc, k).log_prob(x), k0),
                    (lambda e: spcauchy_kl_uniform(p, rho_logit=e), eta0)]:
        hess = torch.autograd.functional.hessian(fn, arg)
        _assert_matches_central_difference(hess.reshape(1), lambda a, fn=fn: _derivative(fn, a),
                                           arg.reshape(1), torch.full((1,), 1e-3, dtype=F64))
        assert hess != 0


def test_gradgradcheck_spcauchy_sampler_kl_and_fused_layer() -> None:
    """Second derivatives of the Möbius sampler (loc and either parameterization), the fused latent
    layer and the spCauchy–spCauchy KL, checked by torch.autograd.gradgradcheck in float64."""
    p = 5
    loc = _loc(p, (4,)).requires_grad_()
    other = _loc(p, (4,), seed=1).requires_grad_()
    u = _loc(p, (4,), seed=2)
    eta = torch.tensor([-2.0, 0.3, 2.0, 6.0], dtype=F64, requires_grad=True)
    eta_b = torch.tensor([1.0, -1.0, 3.0, 0.5], dtype=F64, requires_grad=True)
    rho = torch.tensor([0.1, 0.3, 0.6, 0.9], dtype=F64, requires_grad=True)
    assert gradgradcheck(lambda m, e: mobius_sample(m, u, rho_logit=e), (loc, eta))
    assert gradgradcheck(lambda m, r: mobius_sample(m, u, r), (loc, rho))
    h = torch.randn(4, p, dtype=F64, generator=torch.Generator().manual_seed(3),
                    requires_grad=True)

    def latent(h: torch.Tensor, e: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        torch.manual_seed(4)  # the same noise at every evaluation
        return spcauchy_latent(h, e)

    assert gradgradcheck(latent, (h, eta))
    assert gradgradcheck(
        lambda a, b, ea, eb: kl_divergence(SphericalCauchy(a, rho_logit=ea, validate_args=False),
                                           SphericalCauchy(b, rho_logit=eb, validate_args=False)),
        (loc, other, eta, eta_b))
    assert gradgradcheck(lambda m, e: SphericalCauchy(m, rho_logit=e, validate_args=False)
                         .log_prob(u), (loc, eta))


def test_unavailable_second_derivatives_raise() -> None:
    """Where a second derivative is not implemented, asking for it raises a RuntimeError that says
    so (the vMF sampler's implicit κ-gradient, the vMF variance; torch's gamma sampler under the
    Power Spherical), and third derivatives of the twice-differentiable special functions raise."""
    p = 4
    loc = _loc(p)
    kappa = torch.tensor(3.0, dtype=F64)

    def vmf_sample(k: torch.Tensor) -> torch.Tensor:
        torch.manual_seed(0)
        return VonMisesFisher(loc, k).rsample() @ loc

    def ps_sample(k: torch.Tensor) -> torch.Tensor:
        torch.manual_seed(0)
        return PowerSpherical(loc, k).rsample() @ loc

    for fn in (vmf_sample, ps_sample, lambda k: VonMisesFisher(loc, k).variance.sum()):
        with pytest.raises(RuntimeError, match="not implemented"):
            torch.autograd.functional.hessian(fn, kappa)

    def third(fn, x: torch.Tensor) -> torch.Tensor:
        x = x.detach().requires_grad_()
        (g,) = torch.autograd.grad(fn(x), x, create_graph=True)
        (g2,) = torch.autograd.grad(g, x, create_graph=True)
        return torch.autograd.grad(g2, x)[0]

    for fn in (lambda e: spcauchy_kl_uniform(p, rho_logit=e),
               lambda k: PowerSpherical(loc, k).entropy(),
               lambda k: VonMisesFisher(loc, k).entropy()):
        with pytest.raises(RuntimeError, match="not implemented"):
            third(fn, kappa)


# ---------------------------------------------------------------------------------------------
# property test over the whole valid range: finite values and finite first derivatives
# ---------------------------------------------------------------------------------------------

# both ends of every range are drawn often: p at the expansion switches (15-17) and the extremes,
# κ and logits at 0, tiny, subnormal and maximal values (hypothesis favours boundary floats), κ
# log-uniformly as well (a uniform draw from [0, 1e8] is almost always above 1e6) and logits in
# [40, 50] (1-ρ below float32's normal range in squares); locs random, axis-aligned (where
# float32 keeps differences of order 1-ρ from μ) or sparse
_DIMS = st.one_of(st.sampled_from([2, 3, 4, 5, 15, 16, 17, 31, 800, 4096]), st.integers(2, 4096))
_KAPPAS = st.lists(st.one_of(st.floats(0.0, 1e8), st.floats(-12.0, 8.0).map(lambda e: 10.0**e)),
                   min_size=1, max_size=3)
_LOGITS = st.lists(st.one_of(st.floats(-50.0, 50.0), st.floats(40.0, 50.0)), min_size=1,
                   max_size=3)
_DTYPES = st.sampled_from([F32, F64])
_LOC_KINDS = st.sampled_from(["random", "axis", "sparse"])


def _direction(kind: str, n: int, p: int, dtype: torch.dtype, seed: int) -> torch.Tensor:
    """A leaf (n, p) whose normalization is the loc: Gaussian, ±e_i, or two nonzero entries."""
    g = torch.Generator().manual_seed(seed)
    h = torch.randn(n, p, generator=g, dtype=dtype)
    if kind != "random":
        keep = 1 if kind == "axis" else 2
        top = h.abs().topk(min(keep, p), dim=-1).indices
        h = torch.zeros_like(h).scatter(-1, top, h.gather(-1, top))
    return h.requires_grad_()


def _assert_finite_with_gradients(outputs: dict[str, torch.Tensor],
                                  params: dict[str, torch.Tensor]) -> None:
    """Every output finite, and the gradient of each output's sum w.r.t. each parameter finite
    (None only where the output does not depend on it, e.g. entropy on loc)."""
    for name, out in outputs.items():
        assert out.isfinite().all(), name
        grads = torch.autograd.grad(out.sum(), list(params.values()), retain_graph=True,
                                    allow_unused=True)
        for (pname, _), g in zip(params.items(), grads, strict=True):
            assert g is None or g.isfinite().all(), (name, pname)


def _outputs(q, p: int, dtype: torch.dtype) -> dict[str, torch.Tensor]:
    x = q.rsample((2,))
    return {"rsample": x, "log_prob": q.log_prob(x), "entropy": q.entropy(),
            "spcauchy_kl_uniform": kl_divergence(q, HypersphericalUniform(p, dtype=dtype)),
            "mean": q.mean, "variance": q.variance}


@settings(max_examples=150, deadline=None, derandomize=True)
@given(p=_DIMS, dtype=_DTYPES, kappas=_KAPPAS, family=st.sampled_from(["vmf", "ps"]),
       loc_kind=_LOC_KINDS)
def test_property_concentration_families_finite(p: int, dtype: torch.dtype, kappas: list[float],
                                                family: str, loc_kind: str) -> None:
    """vMF and Power Spherical over p ∈ [2, 4096], κ ∈ [0, 1e8], float32 and float64: rsample,
    log_prob of own samples, entropy, KL to the uniform, mean and variance are finite, and so are
    their gradients w.r.t. loc (through its normalization) and κ."""
    cls = VonMisesFisher if family == "vmf" else PowerSpherical
    direction = _direction(loc_kind, len(kappas), p, dtype, seed=p + len(kappas))
    kappa = torch.tensor(kappas, dtype=dtype).requires_grad_()
    torch.manual_seed(p)
    q = cls(F.normalize(direction, dim=-1), kappa)
    _assert_finite_with_gradients(_outputs(q, p, dtype), {"loc": direction, "kappa": kappa})


@settings(max_examples=150, deadline=None, derandomize=True)
@given(p=_DIMS, dtype=_DTYPES, logits=_LOGITS, other_logits=_LOGITS, loc_kind=_LOC_KINDS,
       other=st.sampled_from(["random", "equal", "near", "antipodal"]))
def test_property_spcauchy_finite(p: int, dtype: torch.dtype, logits: list[float],
                                  other_logits: list[float], loc_kind: str, other: str) -> None:
    """SphericalCauchy over p ∈ [2, 4096], rho_logit ∈ [-50, 50], float32 and float64: the same
    outputs plus KL to another spCauchy (random, equal, nearby or antipodal loc, any logit) are
    finite, with finite gradients w.r.t. both locs and both logits."""
    n = len(logits)
    direction = _direction(loc_kind, n, p, dtype, seed=p + n)
    eta = torch.tensor(logits, dtype=dtype).requires_grad_()
    eta_b = torch.tensor((other_logits * n)[:n], dtype=dtype).requires_grad_()
    loc = F.normalize(direction, dim=-1)
    params = {"loc": direction, "rho_logit": eta, "rho_logit_b": eta_b}
    if other in ("random", "near"):
        g = torch.Generator().manual_seed(p)
        noise = torch.randn(n, p, generator=g, dtype=dtype)
        base = torch.zeros_like(noise) if other == "random" else direction.detach()
        params["loc_b"] = (base + (1.0 if other == "random" else 1e-3) * noise).requires_grad_()
        loc_b = F.normalize(params["loc_b"], dim=-1)
    else:
        loc_b = loc if other == "equal" else -loc
    torch.manual_seed(p)
    q = SphericalCauchy(loc, rho_logit=eta)
    outputs = _outputs(q, p, dtype)
    outputs["kl_spcauchy"] = kl_divergence(q, SphericalCauchy(loc_b, rho_logit=eta_b))
    _assert_finite_with_gradients(outputs, params)


@settings(max_examples=10, deadline=None, derandomize=True)
@given(p=_DIMS, dtype=_DTYPES)
def test_property_uniform_finite(p: int, dtype: torch.dtype) -> None:
    """HypersphericalUniform has no parameters: its samples, log_prob, entropy, mean, variance
    and KL to itself are finite (the KL exactly 0), and samples lie on the sphere."""
    u = HypersphericalUniform(p, (2,), dtype=dtype)
    x = u.rsample((3,))
    for t in (x, u.log_prob(x), u.entropy(), u.mean, u.variance):
        assert t.isfinite().all() and t.dtype == dtype
    assert ((x.norm(dim=-1) - 1).abs() <= 1e3 * torch.finfo(dtype).eps).all()
    assert (kl_divergence(u, HypersphericalUniform(p, dtype=dtype)) == 0).all()
