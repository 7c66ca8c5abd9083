"""Conformance suite: every distribution on S^{p-1} against one contract.

``EXAMPLES`` (in the style of the EXAMPLES registry of torch's test/distributions) lists example
distributions of every family: SphericalCauchy by ``rho=`` and by ``rho_logit=``,
VonMisesFisher, PowerSpherical, HypersphericalUniform and fitted SphericalMixture models; batch
shapes (), (3,) and (2, 3), some reached by broadcasting ``loc`` against the concentration; p
from 2 to 10⁴; float32 and float64. Generic tests run over it: shapes and dtypes of
sample/rsample/log_prob/entropy/mean/variance and of the KL to the uniform, ``expand``, argument
validation, the support, Monte-Carlo moments, entropy, KL and normalization against the analytic
values, gradcheck, and the sampler's goodness of fit on the exact law of t = μᵀx. A test that
does not apply to a family skips with the reason.

Tolerance policy, stated once:

- Monte Carlo: seeded (the ``seed`` fixture); |estimate - exact| ≤ 5 standard errors estimated
  from the same draws (``sphere_stats.Z_SE``), with N_MC = 64 000 draws per batch entry, so the
  bound is also below 4 standard errors of 40 000 draws. Log-density normalization uses
  N_NORM = 100 000 uniform points.
- Goodness of fit: KS test of μᵀx against its exact CDF (``sphere_stats``), exact p-value
  above 1e-3; 20 000 draws (40 000 for the uniform, 2 000 for p > 1000, where memory grows as
  n·p). The same draws must be rejected (p-value below 1e-3) against the law with a 10% smaller
  concentration wherever E[μᵀx] ≥ 0.25, so the check has power.
- Samples lie on the sphere to a few machine epsilons (``SPHERE_EPS``).
- gradcheck in float64 with eps 1e-6, atol 1e-7, rtol 1e-6.
- Deterministic identities at the dtype's precision, stated next to each check.
"""

from __future__ import annotations

import contextlib
import functools
import math
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
import torch
from torch.distributions import Distribution, kl_divergence

from spcauchy.distributions import (
    HypersphericalUniform,
    PowerSpherical,
    SphericalCauchy,
    SphericalMixture,
    VonMisesFisher,
)
from sphere_stats import (
    F32,
    F64,
    KS_LEVEL,
    assert_within_se,
    ks_test,
    log_sphere_area,
    marginal_cdf,
    perturbed,
    sphere_error,
    unit,
)

N_MC = 64_000
N_NORM = 100_000
N_GOF = 20_000
# E[μᵀx] from which 20 000 draws resolve a 10% change of concentration: at E[μᵀx] ≈ 0.3 it was
# rejected at p < 3e-4 for each of 30 seeds and every family; at 0.2 it often is not
POWER_MIN_MEAN_LENGTH = 0.25


def _gradcheck(fn: Callable[..., Any], *inputs: torch.Tensor) -> bool:
    return torch.autograd.gradcheck(fn, inputs, eps=1e-6, atol=1e-7, rtol=1e-6)


# ---------------------------------------------------------------------------------- families


@dataclass(frozen=True)
class Family:
    """What the generic tests need to know about a family, and which tests do not apply."""

    name: str
    # |‖x‖ - 1| of samples, in machine epsilons, as a function of p
    sphere_eps: Callable[[int], float]
    # reason a generic test does not apply, by capability
    skips: Mapping[str, str] = field(default_factory=dict)
    # parameters whose gradient rsample does *not* give pathwise at fixed noise, with the reason
    implicit_rsample: Mapping[str, str] = field(default_factory=dict)


_IMPLICIT = ("implicit reparameterization: the gradient in the concentration is that of the "
             "inverse CDF at fixed u = F(s), not the derivative of the rejection sampler at fixed "
             "noise, so finite differences of a seeded draw do not reproduce it; its unbiasedness "
             "is checked in expectation in the family's own test file")
# The Householder map of vMF / Power Spherical sums p products: a few more roundings at p = 10⁴
# (measured 11 eps there, at most 7 eps up to p = 1000).
_HOUSEHOLDER_EPS = lambda p: 8.0 if p <= 1000 else 16.0  # noqa: E731

FAMILIES = {
    # normalizing Gaussian noise costs ≤ 4 eps at p ≤ 100 (measured 3 eps); the Möbius map adds a
    # handful of roundings
    "spcauchy": Family("spcauchy", lambda p: 8.0),
    "vmf": Family("vmf", _HOUSEHOLDER_EPS, implicit_rsample={"concentration": _IMPLICIT}),
    "power": Family("power", _HOUSEHOLDER_EPS, implicit_rsample={"concentration": _IMPLICIT}),
    "uniform": Family("uniform", lambda p: 4.0, skips={
        "params": "HypersphericalUniform has no parameters to differentiate",
        "value_grad": "constant log-density: no dependence on the value to check",
        "mode": "every point is a mode",
        "power": "no concentration to perturb",
        "bad_expand": "no parameters, so every batch shape is a valid expansion",
    }),
    "mixture": Family("mixture", lambda p: 8.0, skips={
        "entropy": "MixtureSameFamily has no closed-form entropy, nor a registered KL",
        "rsample": "MixtureSameFamily has no reparameterized sampler (discrete component choice)",
        "params": "SphericalMixture is fitted by EM, not built from differentiable parameters",
        "mode": "no closed-form mode",
        "marginal": "no closed-form law of μᵀx when the components have different axes",
        "power": "no single concentration to perturb",
        "validate_off": "SphericalMixture.as_distribution() takes no validate_args; its "
                        "validation follows torch's global default",
    }),
}


def _skip_unless(ex: Example, capability: str) -> None:
    reason = FAMILIES[ex.family].skips.get(capability)
    if reason is not None:
        pytest.skip(reason)


@contextlib.contextmanager
def _default_validation(value: bool) -> Iterator[None]:
    """torch's global default for validate_args, which distributions built without the argument
    (validate_args=None, as SphericalMixture.as_distribution builds them) read at every call."""
    previous = Distribution._validate_args
    Distribution.set_default_validate_args(value)
    try:
        yield
    finally:
        Distribution.set_default_validate_args(previous)


# ---------------------------------------------------------------------------------- examples


@dataclass(frozen=True)
class Example:
    id: str
    family: str
    p: int
    batch_shape: torch.Size
    dtype: torch.dtype
    # build(params, validate_args, device) -> distribution; params are the tensors (moved to the
    # device) and numbers of ``params``, or replacements for them (gradcheck)
    build: Callable[[dict[str, Any], bool | None, str], Distribution]
    params: Mapping[str, Any]
    tags: frozenset[str]
    n_gof: int = N_GOF

    def make(self, validate_args: bool | None = None, device: str = "cpu") -> Distribution:
        params = {k: v.to(device) if torch.is_tensor(v) else v for k, v in self.params.items()}
        return self.build(params, validate_args, device)

    def float_params(self) -> list[str]:
        """Names of the floating-point tensor parameters (what gradcheck differentiates)."""
        return [k for k, v in self.params.items() if torch.is_tensor(v) and v.is_floating_point()]


_SHORT = {SphericalCauchy: "sc", VonMisesFisher: "vmf", PowerSpherical: "ps"}
_FAMILY_OF = {SphericalCauchy: "spcauchy", VonMisesFisher: "vmf", PowerSpherical: "power"}
_DT = {F32: "f32", F64: "f64"}


def _shape_id(shape: tuple[int, ...]) -> str:
    return "b" + "x".join(map(str, shape)) if shape else "s"


def _axial(cls: type, conc_name: str, p: int, loc_batch: tuple[int, ...], conc: Any, *,
           dtype: torch.dtype = F64, conc_dtype: torch.dtype | None = None, tags: str = "",
           tensor: bool = True, n_gof: int = N_GOF) -> Example:
    """An example of a family parameterized by (loc, concentration): loc of shape
    (*loc_batch, p) in ``dtype``, the concentration a tensor (in ``conc_dtype``, default
    ``dtype``) or, with tensor=False, a Python number."""
    conc_value = torch.tensor(conc, dtype=conc_dtype or dtype) if tensor else conc
    conc_shape = tuple(conc_value.shape) if tensor else ()
    batch = torch.broadcast_shapes(loc_batch, conc_shape)
    name = "rho" if conc_name == "rho" else "logit" if conc_name == "rho_logit" else "k"
    suffix = ""
    if not tensor:
        suffix += "-number"
    if conc_dtype not in (None, dtype):
        suffix += f"-conc{_DT[conc_dtype]}"
    ex_id = f"{_SHORT[cls]}-{name}-p{p}-{_shape_id(tuple(batch))}-{_DT[dtype]}{suffix}"
    loc = unit(loc_batch, p, zlib.crc32(ex_id.encode()), dtype)

    def build(params: dict[str, Any], validate_args: bool | None, device: str) -> Distribution:
        loc = params["loc"]
        return cls(loc, **{conc_name: params[conc_name]}, validate_args=validate_args)

    return Example(ex_id, _FAMILY_OF[cls], p, batch, dtype, build,
                   {"loc": loc, conc_name: conc_value}, frozenset(tags.split()), n_gof)


def _uniform(p: int, batch: tuple[int, ...], dtype: torch.dtype | None, tags: str = ""
             ) -> Example:
    """The uniform on S^{p-1}; its goodness of fit uses 40 000 draws (sampling is cheap)."""
    resolved = dtype or torch.get_default_dtype()
    ex_id = f"u-p{p}-{_shape_id(batch)}-{_DT[resolved] if dtype else 'default'}"

    def build(params: dict[str, Any], validate_args: bool | None, device: str) -> Distribution:
        return HypersphericalUniform(p, batch, dtype=dtype, device=device,
                                     validate_args=validate_args)

    return Example(ex_id, "uniform", p, torch.Size(batch), resolved, build, {},
                   frozenset(tags.split()), n_gof=40_000)


_MIXTURE_COMPONENTS = {  # the law the data are drawn from: k components with these concentrations
    "spcauchy": lambda loc: SphericalCauchy(loc, rho_logit=torch.full(loc.shape[:-1], 1.5,
                                                                      dtype=loc.dtype)),
    "vmf": lambda loc: VonMisesFisher(loc, torch.full(loc.shape[:-1], 8.0, dtype=loc.dtype)),
    "power": lambda loc: PowerSpherical(loc, torch.full(loc.shape[:-1], 8.0, dtype=loc.dtype)),
}


@functools.cache
def _fitted_mixture(family: str, k: int, p: int, batch: tuple[int, ...], dtype: torch.dtype,
                    device: str, seed: int) -> SphericalMixture:
    """A mixture fitted (once per session) to 200 points per component of a known mixture."""
    comp = _MIXTURE_COMPONENTS[family](unit((*batch, k), p, seed, dtype).to(device))
    with torch.random.fork_rng(devices=[]):  # leave the global stream of the tests alone
        torch.manual_seed(seed)
        x = comp.sample((200,))  # (200, *batch, k, p)
    x = x.movedim(0, -2).reshape(*batch, k * 200, p)
    return SphericalMixture(family, k).fit(x, restarts=2, max_iter=50,
                                           generator=torch.Generator().manual_seed(seed))


def _mixture(family: str, k: int, p: int, batch: tuple[int, ...], dtype: torch.dtype,
             tags: str = "") -> Example:
    ex_id = f"mix-{family}-k{k}-p{p}-{_shape_id(batch)}-{_DT[dtype]}"
    seed = zlib.crc32(ex_id.encode())

    def build(params: dict[str, Any], validate_args: bool | None, device: str) -> Distribution:
        assert validate_args is not False, "SphericalMixture has no validate_args"
        return _fitted_mixture(family, k, p, batch, dtype, device, seed).as_distribution()

    return Example(ex_id, "mixture", p, torch.Size(batch), dtype, build, {},
                   frozenset(tags.split()))


SC, VMF, PS = SphericalCauchy, VonMisesFisher, PowerSpherical
# the sampler's goodness of fit from the uniform (ρ = 0) to ρ = 0.999
RHO_GOF = [[0.0, 0.3], [0.9, 0.999]]
# Monte-Carlo moments up to ρ = 0.9: near ρ = 1 in low dimension the spCauchy tail
# (P(θ > t) ≈ (1-ρ)²/t² at p = 3) leaves about n(1-ρ)² draws far from μ, too few at ρ = 0.999
# for the mean of ‖x - μ‖²-type quantities to be near-Gaussian, which the standard-error bound
# assumes (the sample standard error then underestimates the spread)
RHO_MC = [[0.0, 0.3, 0.5], [0.7, 0.8, 0.9]]

EXAMPLES: list[Example] = [
    # --- spherical Cauchy by ρ, float64: one loc per entry, one shared loc, loc (2, 1, p)
    _axial(SC, "rho", 2, (2, 3), RHO_MC, tags="mc"),
    _axial(SC, "rho", 3, (), RHO_MC, tags="mc"),
    _axial(SC, "rho", 5, (2, 1), RHO_MC, tags="mc"),
    _axial(SC, "rho", 10, (2, 3), RHO_MC, tags="mc"),
    _axial(SC, "rho", 100, (2, 3), RHO_MC, tags="mc"),
    _axial(SC, "rho", 2, (2, 2), RHO_GOF, tags="gof"),
    _axial(SC, "rho", 3, (2, 1), RHO_GOF, tags="gof"),
    _axial(SC, "rho", 5, (), RHO_GOF, tags="gof"),
    _axial(SC, "rho", 10, (2, 2), RHO_GOF, tags="gof"),
    _axial(SC, "rho", 100, (2, 2), RHO_GOF, tags="gof"),
    # moderate ρ, where the uniform-proposal estimate of ∫q has a small variance
    _axial(SC, "rho", 2, (), 0.5, tags="norm"),
    _axial(SC, "rho", 3, (), 0.5, tags="norm", tensor=False),
    _axial(SC, "rho", 10, (), 0.3, tags="norm"),
    _axial(SC, "rho", 100, (), 0.03, tags="norm"),
    # --- by logit, float32: 1 - ρ is carried by the logit, so float32 stays exact near ρ = 1
    _axial(SC, "rho_logit", 3, (), [-2.0, 0.0, 7.0], dtype=F32, tags="gof"),
    _axial(SC, "rho_logit", 10, (), 7.0, dtype=F32, tags="gof", tensor=False),
    _axial(SC, "rho_logit", 50, (2, 3), [[-3.0, 0.0, 2.0], [4.0, 7.0, 10.0]], dtype=F32,
           tags="mc"),
    # loc (3, 1, p) against 5 concentrations: batch (3, 5)
    _axial(SC, "rho", 4, (3, 1), [0.1, 0.5, 0.9, 0.05, 0.3]),
    _axial(SC, "rho_logit", 4, (3, 1), [-2.2, 0.0, 2.2, -2.9, -0.85]),
    # the concentration as a Python number or a tensor of either dtype: the distribution takes
    # loc's dtype
    *[_axial(SC, name, 4, (3,), value, dtype=dtype, conc_dtype=conc_dtype, tensor=tensor)
      for dtype in (F32, F64)
      for name, value, conc_dtype, tensor in (("rho", 0.5, None, False),
                                             ("rho_logit", 1.5, None, False),
                                             ("rho", [0.5] * 3, F64, True),
                                             ("rho_logit", [1.0] * 3, F32, True))],
    # --- gradcheck
    _axial(SC, "rho", 5, (3,), [0.1, 0.6, 0.97], tags="grad"),
    _axial(SC, "rho_logit", 5, (3,), [-2.0, 0.4, 5.0], tags="grad"),
    _axial(SC, "rho_logit", 2, (), 1.5, tags="grad"),
    # --- von Mises–Fisher: the sampler from κ = 0 to κ = 1e8 at p up to 10⁴
    _axial(VMF, "concentration", 2, (2,), [0.0, 3.0], tags="mc gof"),
    _axial(VMF, "concentration", 3, (), 1.0, tags="mc gof norm"),
    _axial(VMF, "concentration", 4, (), 0.3, tags="gof"),
    _axial(VMF, "concentration", 5, (), 2.0, tags="gof"),
    _axial(VMF, "concentration", 6, (), 3.0, tags="mc"),
    _axial(VMF, "concentration", 10, (), 50.0, tags="mc gof"),
    _axial(VMF, "concentration", 65, (), 5.0, tags="gof"),
    _axial(VMF, "concentration", 513, (), 1e4, tags="gof"),
    _axial(VMF, "concentration", 10_000, (), 1e8, tags="gof", n_gof=2_000),
    _axial(VMF, "concentration", 3, (2, 1), [0.5, 5.0, 50.0], dtype=F32, tags="mc"),
    _axial(VMF, "concentration", 50, (3,), 10.0, dtype=F32, tags="mc", tensor=False),
    _axial(VMF, "concentration", 4, (3, 1), [1.0] * 5, conc_dtype=F32),
    _axial(VMF, "concentration", 3, (3,), [0.5, 2.0, 10.0], tags="grad"),
    _axial(VMF, "concentration", 2, (), 4.0, tags="grad"),
    # --- Power Spherical
    _axial(PS, "concentration", 2, (2,), [0.0, 3.0], tags="mc gof"),
    _axial(PS, "concentration", 3, (), 1.0, tags="mc gof"),
    _axial(PS, "concentration", 5, (), 20.0, tags="gof"),
    _axial(PS, "concentration", 7, (), 4.0, tags="mc"),
    _axial(PS, "concentration", 64, (), 7.0, tags="gof"),
    _axial(PS, "concentration", 1000, (), 1e4, tags="gof"),
    _axial(PS, "concentration", 10_000, (), 1e8, tags="gof", n_gof=2_000),
    _axial(PS, "concentration", 10, (2, 3), [[0.5, 1.0, 2.0], [3.0, 5.0, 8.0]], dtype=F32,
           tags="mc norm"),
    _axial(PS, "concentration", 50, (), 10.0, dtype=F32, tensor=False),
    _axial(PS, "concentration", 4, (3, 1), [1.0] * 5, conc_dtype=F32),
    _axial(PS, "concentration", 3, (2, 1), [0.5, 2.0, 10.0], tags="grad"),
    _axial(PS, "concentration", 2, (), 4.0, tags="grad"),
    # --- uniform
    _uniform(2, (), F64, tags="mc gof norm grad"),
    _uniform(3, (3,), F64, tags="mc gof"),
    _uniform(10, (2, 3), F64, tags="mc gof"),
    _uniform(100, (), F64, tags="mc gof"),
    _uniform(3, (2, 3), F32, tags="mc"),
    _uniform(50, (3,), F32),
    _uniform(5, (), None),  # torch's default dtype
    # --- fitted mixtures (as torch MixtureSameFamily)
    _mixture("spcauchy", 2, 3, (), F64, tags="mc gof norm grad"),
    _mixture("vmf", 2, 2, (3,), F64, tags="mc"),
    _mixture("power", 3, 10, (), F32, tags="mc norm"),
]
_ids = [ex.id for ex in EXAMPLES]
assert len(set(_ids)) == len(_ids), sorted({i for i in _ids if _ids.count(i) > 1})


def _params(examples: list[Example]) -> list[Any]:
    return [pytest.param(ex, id=ex.id) for ex in examples]


ALL = _params(EXAMPLES)


def tagged(tag: str) -> list[Any]:
    return _params([ex for ex in EXAMPLES if tag in ex.tags])


def _axial_family(ex: Example) -> bool:
    return ex.family in ("spcauchy", "vmf", "power")


def _batch_unit(ex: Example, n: int, seed: int) -> torch.Tensor:
    """n unit vectors in ex's dtype, of shape (n, 1, ..., 1, p): broadcasting against the batch."""
    return unit((n,), ex.p, seed, ex.dtype).view(n, *[1] * len(ex.batch_shape), ex.p)


def _concentrations(d: Distribution) -> tuple[torch.Tensor, ...]:
    """The concentration parameter(s) of an axial family, in every parameterization it has."""
    return (d.rho, d.rho_logit) if isinstance(d, SphericalCauchy) else (d.concentration,)


def _rounding(ex: Example, *values: torch.Tensor | float) -> float:
    """Bound on the rounding of a mean of values of these magnitudes: 4 eps of the largest."""
    scale = max([1.0] + [float(torch.as_tensor(v).abs().max()) for v in values])
    return 4 * torch.finfo(ex.dtype).eps * scale


def _assert_within(ex: Example) -> Callable[..., torch.Tensor]:
    """assert_within_se with the example's id in the message."""

    def check(samples: torch.Tensor, exact: Any, what: str, rounding: float = 0.0
              ) -> torch.Tensor:
        return assert_within_se(samples, exact, f"{ex.id}: {what}", rounding=rounding)

    return check


# ------------------------------------------------------------------------------------ shapes


@pytest.mark.parametrize("ex", ALL)
def test_batch_and_event_shapes(ex: Example, seed: int) -> None:
    d = ex.make()
    batch, p = ex.batch_shape, ex.p
    assert d.batch_shape == batch and d.event_shape == (p,)
    if ex.family != "mixture":
        assert d.dim == p
    x = d.sample()
    assert x.shape == (*batch, p) and x.dtype == ex.dtype
    xs = d.sample((2, 3))
    assert xs.shape == (2, 3, *batch, p)
    lp = d.log_prob(xs)
    assert lp.shape == (2, 3, *batch) and lp.dtype == ex.dtype
    # one value broadcast against the whole batch
    assert d.log_prob(xs.reshape(-1, p)[0]).shape == batch
    for moment in (d.mean, d.variance):
        assert moment.shape == (*batch, p) and moment.dtype == ex.dtype
    if _axial_family(ex):  # parameters broadcast to the batch, in loc's dtype
        assert d.loc.shape == (*batch, p) and d.loc.dtype == ex.dtype
        for conc in _concentrations(d):
            assert conc.shape == batch and conc.dtype == ex.dtype
    # sampling is reproducible under a fixed seed and never records a graph
    torch.manual_seed(seed)
    a = d.sample((2,))
    torch.manual_seed(seed)
    assert torch.equal(a, d.sample((2,))) and not a.requires_grad


@pytest.mark.parametrize("ex", ALL)
def test_rsample(ex: Example, seed: int) -> None:
    d = ex.make()
    if ex.family == "mixture":
        assert not d.has_rsample
    _skip_unless(ex, "rsample")
    assert d.has_rsample
    x = d.rsample((2, 3))
    assert x.shape == (2, 3, *ex.batch_shape, ex.p) and x.dtype == ex.dtype
    assert not x.requires_grad  # no parameter requires grad here
    torch.manual_seed(seed)
    a = d.rsample((4,))
    torch.manual_seed(seed)
    assert torch.equal(a, d.rsample((4,)))
    # with parameters that require grad, rsample records a graph and sample does not
    names = ex.float_params()
    if names:
        params = dict(ex.params)
        params.update({k: ex.params[k].clone().requires_grad_() for k in names})
        g = ex.build(params, None, "cpu")
        assert g.rsample().requires_grad and not g.sample().requires_grad


@pytest.mark.parametrize("ex", ALL)
def test_entropy_and_kl_to_uniform_shapes(ex: Example) -> None:
    _skip_unless(ex, "entropy")
    d = ex.make()
    batch, p = ex.batch_shape, ex.p
    other = F64 if ex.dtype == F32 else F32  # the result follows d, not the uniform
    ent = d.entropy()
    assert ent.shape == batch and ent.dtype == ex.dtype and ent.isfinite().all()
    for u_batch in ((), (2, *batch), (2, *[1] * len(batch))):
        kl = kl_divergence(d, HypersphericalUniform(p, u_batch, dtype=other))
        expected = torch.broadcast_shapes(batch, u_batch)
        assert kl.shape == expected and kl.dtype == ex.dtype
        assert kl.isfinite().all() and (kl >= 0).all()
    kl = kl_divergence(d, HypersphericalUniform(p))
    # entropy = log|S| - KL(q ‖ uniform): two roundings of the largest term
    log_area = log_sphere_area(p)
    tol = 8 * torch.finfo(ex.dtype).eps * max(1.0, abs(log_area), kl.abs().max().item())
    torch.testing.assert_close((ent + kl).double(), torch.full(batch, log_area, dtype=F64),
                               rtol=0, atol=tol)
    with pytest.raises(ValueError, match="dimension"):
        kl_divergence(d, HypersphericalUniform(p + 1))


@pytest.mark.parametrize("ex", ALL)
def test_mode_and_mean_resultant_length(ex: Example) -> None:
    _skip_unless(ex, "mode")
    d = ex.make()
    assert torch.equal(d.mode, d.loc)
    m = d.mean_resultant_length
    assert m.shape == ex.batch_shape and m.dtype == ex.dtype
    assert ((m >= 0) & (m <= 1)).all()
    torch.testing.assert_close(d.mean, m.unsqueeze(-1) * d.loc, rtol=0, atol=0)


@pytest.mark.parametrize("ex", ALL)
def test_dtype_and_device(ex: Example, device: str) -> None:
    d = ex.make(device=device)
    x = d.sample((2,))
    outs = {"sample": x, "log_prob": d.log_prob(x), "mean": d.mean, "variance": d.variance}
    if "entropy" not in FAMILIES[ex.family].skips:
        outs["entropy"] = d.entropy()
        outs["kl"] = kl_divergence(d, HypersphericalUniform(ex.p, device=device))
    if _axial_family(ex):
        outs["mean_resultant_length"] = d.mean_resultant_length
        outs["loc"] = d.loc
        for i, conc in enumerate(_concentrations(d)):
            outs[f"concentration {i}"] = conc
    for name, t in outs.items():
        assert t.dtype == ex.dtype and t.device.type == device, name
        # finite, but for the logit of ρ = 0, which is -inf
        allowed = (d.rho == 0) & (t == -math.inf) if name == "concentration 1" else False
        assert (t.isfinite() | allowed).all(), name


# ------------------------------------------------------------------------------------ expand


@pytest.mark.parametrize("ex", ALL)
def test_expand(ex: Example, seed: int) -> None:
    d = ex.make()
    batch, p = ex.batch_shape, ex.p
    new = torch.Size((2, *batch) if batch else (2, 3))
    e = d.expand(new)
    assert type(e) is type(d)
    assert e.batch_shape == new and e.event_shape == (p,)
    if ex.family != "mixture":
        assert e.dim == p
    assert e.sample((3,)).shape == (3, *new, p) and e.sample().dtype == ex.dtype
    if d.has_rsample:
        assert e.rsample((3,)).shape == (3, *new, p)
    # Moments, entropy and log_prob are computed again on the larger shape, where vectorized and
    # scalar loops of exp/log may round differently (seen on AVX-512 machines: 2 ulps of the
    # spCauchy variance at p = 100): equal up to a few ulps.
    ulps = {"rtol": 8 * torch.finfo(ex.dtype).eps, "atol": 0}
    torch.testing.assert_close(e.mean, d.mean.expand(*new, p), **ulps)
    torch.testing.assert_close(e.variance, d.variance.expand(*new, p), **ulps)
    if "entropy" not in FAMILIES[ex.family].skips:
        torch.testing.assert_close(e.entropy(), d.entropy().expand(new), **ulps)
    x = d.sample((5,))
    lead = x.unsqueeze(1) if batch else x.view(5, 1, 1, p)
    torch.testing.assert_close(e.log_prob(lead), d.log_prob(x).view(5, *[1] * (len(new) - len(
        batch)), *batch).expand(5, *new), **ulps)
    if not batch:
        seven = d.expand(torch.Size([7]))
        assert seven.batch_shape == (7,) and seven.sample().shape == (7, p)
    # validation survives expansion (and so does turning it off: test_validation_can_be_disabled)
    with pytest.raises(ValueError, match="value"):
        ex.make(validate_args=True).expand(new).log_prob(2 * unit((), p, 0, ex.dtype))


@pytest.mark.parametrize("ex", _params([ex for ex in EXAMPLES if ex.batch_shape]))
def test_expand_rejects_incompatible_batch_shape(ex: Example) -> None:
    _skip_unless(ex, "bad_expand")
    batch = ex.batch_shape
    with pytest.raises((ValueError, RuntimeError)):
        ex.make().expand((*batch[:-1], batch[-1] + 1))


# -------------------------------------------------------------------------------- validation


def _loc(p: int, batch: tuple[int, ...] = (), dtype: torch.dtype = F64) -> torch.Tensor:
    return unit(batch, p, 0, dtype)


NAN, INF = math.nan, math.inf


@dataclass(frozen=True)
class Bad:
    """An invalid constructor call: ``make(validate_args)`` must raise ValueError matching
    ``match``. ``structural`` errors (shapes, types, the choice of parameterization) raise even
    with validate_args=False; the others are value checks that validate_args=False turns off.
    ``probe``: log_prob of this value must be finite once validation is off."""

    make: Callable[[bool | None], Any]
    match: str
    structural: bool = False
    probe: torch.Tensor | None = None


def _conc_bads(cls: type) -> dict[str, Bad]:
    bads = {"negative": Bad(lambda v: cls(_loc(3), torch.tensor(-1.0, dtype=F64),
                                          validate_args=v), "concentration")}
    # +inf (alone or in a batch, either dtype) and NaN are no concentration: rejected, not NaN
    for label, bad in (("inf", INF), ("nan", NAN)):
        for dtype in (F32, F64):
            bads[f"{label}-{_DT[dtype]}"] = Bad(
                lambda v, b=bad, dt=dtype: cls(_loc(3, dtype=dt), torch.tensor(b, dtype=dt),
                                               validate_args=v), "concentration")
            bads[f"{label}-in-batch-{_DT[dtype]}"] = Bad(
                lambda v, b=bad, dt=dtype: cls(_loc(3, (3,), dt), torch.tensor([1.0, b, 1e8],
                                                                               dtype=dt),
                                               validate_args=v), "concentration")
    ones = torch.ones(3, dtype=F64)
    bads["loc-not-unit"] = Bad(lambda v: cls(ones, 1.0, validate_args=v), "loc", probe=ones)
    bads["no-broadcast"] = Bad(lambda v: cls(_loc(3, (2,)), torch.ones(3), validate_args=v),
                               "broadcast", structural=True)
    bads["integer-loc"] = Bad(lambda v: cls(torch.tensor([1, 0]), 1.0, validate_args=v), "loc",
                              structural=True)
    bads["p1"] = Bad(lambda v: cls(torch.tensor([1.0]), 1.0, validate_args=v), "loc",
                     structural=True)
    return bads


def _spcauchy_bads() -> dict[str, Bad]:
    ones = torch.ones(3, dtype=F64)
    bads = {
        "loc-not-unit": Bad(lambda v: SC(torch.tensor([1.0, 1.0, 0.0], dtype=F64), 0.5,
                                         validate_args=v), "loc"),
        "loc-ones": Bad(lambda v: SC(ones, 0.5, validate_args=v), "loc", probe=ones),
        "loc-zero": Bad(lambda v: SC(torch.zeros(3, dtype=F64), 0.5, validate_args=v), "loc"),
        "loc-nan": Bad(lambda v: SC(torch.tensor([NAN, 1.0, 0.0], dtype=F64), 0.5,
                                    validate_args=v), "loc"),
        "p1": Bad(lambda v: SC(torch.tensor([1.0]), 0.5, validate_args=v), "loc",
                  structural=True),
        "integer-loc": Bad(lambda v: SC(torch.tensor([1, 0]), 0.5, validate_args=v), "loc",
                           structural=True),
        "logit-nan-in-batch": Bad(lambda v: SC(_loc(3), rho_logit=torch.tensor(
            [0.0, NAN], dtype=F64), validate_args=v), "rho_logit"),
        # -inf is ρ = 0 and allowed; +inf would be the point mass ρ = 1
        "logit-inf": Bad(lambda v: SC(_loc(3), rho_logit=torch.tensor(INF, dtype=F64),
                                      validate_args=v), "rho_logit"),
        "rho-no-broadcast": Bad(lambda v: SC(_loc(3, (3,)), torch.full((4,), 0.5, dtype=F64),
                                             validate_args=v), "rho", structural=True),
        "logit-no-broadcast": Bad(lambda v: SC(_loc(3, (3,)), rho_logit=torch.zeros(
            2, dtype=F64), validate_args=v), "rho_logit", structural=True),
        "both": Bad(lambda v: SC(_loc(3), 0.5, rho_logit=0.0, validate_args=v), "rho_logit",
                    structural=True),
        "neither": Bad(lambda v: SC(_loc(3), validate_args=v), "rho_logit", structural=True),
    }
    for bad in (-0.1, 1.0, 1.5, NAN, INF):
        bads[f"rho={bad}"] = Bad(lambda v, b=bad: SC(_loc(3), torch.tensor(b, dtype=F64),
                                                     validate_args=v), "rho")
    return bads


def _uniform_bads() -> dict[str, Bad]:
    dims = [1, 0, -3, 2.0, 3.5, True, "3", None, np.int64(3), torch.tensor(3)]
    return {f"dim={d!r}": Bad(lambda v, d=d: HypersphericalUniform(d, validate_args=v), "dim",
                              structural=True) for d in dims}


def _mixture_bads() -> dict[str, Bad]:
    bads = {"family": Bad(lambda v: SphericalMixture("gaussian", 2), "family", structural=True)}
    for k in (0, -1, True, 2.0):
        bads[f"k={k!r}"] = Bad(lambda v, k=k: SphericalMixture("vmf", k), "k", structural=True)
    return bads


BAD = [pytest.param(bad, id=f"{prefix}-{name}")
       for prefix, bads in (("sc", _spcauchy_bads()), ("vmf", _conc_bads(VMF)),
                            ("ps", _conc_bads(PS)), ("u", _uniform_bads()),
                            ("mix", _mixture_bads()))
       for name, bad in bads.items()]


@pytest.mark.parametrize("bad", BAD)
def test_invalid_arguments_raise_value_error(bad: Bad) -> None:
    # validation is on by default (validate_args=None) as well as when asked for
    for validate in (True, None):
        with pytest.raises(ValueError, match=bad.match):
            bad.make(validate)
    if bad.structural:
        with pytest.raises(ValueError, match=bad.match):
            bad.make(False)
    else:  # validate_args=False turns the value check off
        d = bad.make(False)
        if bad.probe is not None:
            assert d.log_prob(bad.probe).isfinite().all()


@pytest.mark.parametrize("cls", [VMF, PS], ids=["vmf", "ps"])
def test_large_finite_concentration_is_accepted(cls: type) -> None:
    assert cls(_loc(3), torch.tensor(1e30, dtype=F64)).concentration == 1e30


# ----------------------------------------------------------------------------------- support


def _support_draws(ex: Example) -> int:
    """Draws for the support checks: up to 4096, fewer where p·batch is large (memory)."""
    return min(4096, max(64, 2**21 // (ex.p * max(1, ex.batch_shape.numel()))))


@pytest.mark.parametrize("ex", ALL)
def test_samples_on_the_sphere_and_in_the_support(ex: Example, seed: int) -> None:
    x = ex.make().sample((_support_draws(ex),))
    assert x.isfinite().all()
    assert sphere_error(x) <= FAMILIES[ex.family].sphere_eps(ex.p)
    # log_prob accepts its own samples, with validation on
    assert ex.make(validate_args=True).log_prob(x).isfinite().all()


@pytest.mark.parametrize("ex", ALL)
def test_log_prob_rejects_values_off_the_sphere(ex: Example, seed: int) -> None:
    p, dt = ex.p, ex.dtype
    d = ex.make(validate_args=True)
    nan_value = torch.zeros(p, dtype=dt)
    nan_value[0], nan_value[-1] = NAN, 1.0
    for bad in (torch.ones(p, dtype=dt), torch.zeros(p, dtype=dt),
                torch.zeros(*ex.batch_shape, p, dtype=dt), nan_value,
                1.001 * unit((), p, seed, dt)):
        with pytest.raises(ValueError, match="value"):
            d.log_prob(bad)
    for wrong in (p - 1, p + 1):  # wrong event size
        with pytest.raises(ValueError):
            d.log_prob(torch.ones(wrong, dtype=dt) / math.sqrt(wrong))
    with pytest.raises(ValueError, match="value"):
        ex.make().log_prob(torch.ones(p, dtype=dt))  # validation is on by default


@pytest.mark.parametrize("ex", ALL)
def test_validation_can_be_disabled(ex: Example) -> None:
    _skip_unless(ex, "validate_off")
    d = ex.make(validate_args=False)
    off = torch.ones(ex.p, dtype=ex.dtype)
    assert d.log_prob(off).isfinite().all()
    new = torch.Size((2, *ex.batch_shape))
    assert d.expand(new).log_prob(off).isfinite().all()


@pytest.mark.parametrize("ex", ALL)
def test_log_prob_accepts_freshly_normalized_vectors(ex: Example, seed: int) -> None:
    # the constraint's tolerance (1e3 eps) admits any vector normalized in the example's dtype
    d = ex.make(validate_args=True)
    assert d.log_prob(_batch_unit(ex, 100, seed)).isfinite().all()


# ------------------------------------------------------------------------------- Monte Carlo


@pytest.mark.parametrize("ex", tagged("mc"))
def test_monte_carlo_mean_and_variance(ex: Example, seed: int) -> None:
    d = ex.make()
    x = d.sample((N_MC,))
    assert sphere_error(x) <= FAMILIES[ex.family].sphere_eps(ex.p)
    mean = d.mean
    assert_within = _assert_within(ex)
    # draws are unit vectors only to sphere_eps machine epsilons, which is as far as any first
    # moment of them resolves: in float32 at high concentration that is above the standard error
    first = FAMILIES[ex.family].sphere_eps(ex.p) * torch.finfo(ex.dtype).eps
    assert_within(x, mean, "mean", first)
    assert_within((x - mean).square(), d.variance, "variance")
    if _axial_family(ex):
        assert_within((x * d.loc).sum(-1), d.mean_resultant_length, "E[μᵀx]", first)


@pytest.mark.parametrize("ex", tagged("mc"))
def test_monte_carlo_entropy_and_kl_to_uniform(ex: Example, seed: int) -> None:
    _skip_unless(ex, "entropy")
    d = ex.make()
    log_q = d.log_prob(d.sample((N_MC,)))
    ent = d.entropy()
    kl = kl_divergence(d, HypersphericalUniform(ex.p))
    log_area = log_sphere_area(ex.p)
    # where the density is constant (the uniform) the estimates have zero spread: only rounding
    # separates them from the exact values
    assert_within = _assert_within(ex)
    assert_within(-log_q, ent, "entropy = -E log q", _rounding(ex, ent))
    assert_within(log_q + log_area, kl, "KL = E[log q - log u]", _rounding(ex, log_area, kl))


@pytest.mark.parametrize("ex", tagged("norm"))
def test_density_integrates_to_one(ex: Example, seed: int) -> None:
    # |S|·E_uniform[q] = ∫ q dσ = 1; its second moment is |S|·E_q[q], small at moderate
    # concentration, so the estimate is sharp there
    w = torch.exp(ex.make().log_prob(_batch_unit(ex, N_NORM, seed)).double()
                  + log_sphere_area(ex.p))
    se = _assert_within(ex)(w, 1.0, "∫q dσ", _rounding(ex, log_sphere_area(ex.p)))
    assert (se < 0.02).all()  # the check above has power


# ---------------------------------------------------------------------------- goodness of fit


@pytest.mark.parametrize("ex", tagged("gof"))
def test_sampler_goodness_of_fit(ex: Example, seed: int) -> None:
    _skip_unless(ex, "marginal")
    d = ex.make()
    x = d.sample((ex.n_gof,))
    assert x.isfinite().all()
    assert sphere_error(x) <= FAMILIES[ex.family].sphere_eps(ex.p)
    stat, pvalue = ks_test(marginal_cdf(d, x))
    assert (pvalue > KS_LEVEL).all(), (ex.id, stat, pvalue)
    if "power" in FAMILIES[ex.family].skips:
        return
    # the same draws are detectably not from a 10% smaller concentration, wherever that moves
    # the law of μᵀx by more than KS can miss
    resolvable = d.mean_resultant_length >= POWER_MIN_MEAN_LENGTH
    if resolvable.any():
        _, p_wrong = ks_test(marginal_cdf(perturbed(d, 0.9), x))
        assert (p_wrong[resolvable] < KS_LEVEL).all(), (ex.id, p_wrong)


# --------------------------------------------------------------------------------- gradcheck


def _grad_examples() -> list[Example]:
    return [ex for ex in EXAMPLES if "grad" in ex.tags]


def _with(ex: Example, names: list[str], tensors: tuple[torch.Tensor, ...]) -> Distribution:
    """ex's distribution with the named parameters replaced. Built with validate_args=None and
    evaluated under ``_no_validation``: gradcheck moves loc and the value off the sphere by eps,
    and the global default is the one switch that also reaches the fitted mixture."""
    params = dict(ex.params)
    params.update(zip(names, tensors, strict=True))
    return ex.build(params, None, "cpu")


def _no_validation() -> contextlib.AbstractContextManager[None]:
    return _default_validation(False)


def _inputs(ex: Example, names: list[str]) -> list[torch.Tensor]:
    return [ex.params[k].clone().requires_grad_() for k in names]


@pytest.mark.parametrize("ex", _params(_grad_examples()))
def test_gradcheck_log_prob(ex: Example, seed: int) -> None:
    """In the parameters and in the value."""
    _skip_unless(ex, "value_grad")
    assert ex.dtype == F64
    names = ex.float_params()
    value = unit((4, *ex.batch_shape), ex.p, seed).requires_grad_()
    with _no_validation():
        assert _gradcheck(lambda *t: _with(ex, names, t[:-1]).log_prob(t[-1]),
                          *_inputs(ex, names), value)


@pytest.mark.parametrize(("ex", "name"), [
    pytest.param(ex, name, id=f"{ex.id}-{name}")
    for ex in _grad_examples() for name in ex.float_params() or [None]])
def test_gradcheck_rsample_with_fixed_seed(ex: Example, name: str | None, seed: int) -> None:
    _skip_unless(ex, "rsample")
    _skip_unless(ex, "params")
    reason = FAMILIES[ex.family].implicit_rsample.get(name)
    if reason is not None:
        pytest.skip(reason)
    assert name is not None

    def draw(t: torch.Tensor) -> torch.Tensor:
        torch.manual_seed(seed)
        return _with(ex, [name], (t,)).rsample((3,))

    with _no_validation():
        assert _gradcheck(draw, *_inputs(ex, [name]))


@pytest.mark.parametrize("ex", _params(_grad_examples()))
def test_gradcheck_entropy_kl_and_moments(ex: Example) -> None:
    _skip_unless(ex, "params")
    _skip_unless(ex, "entropy")
    names = ex.float_params()

    def summaries(*t: torch.Tensor) -> tuple[torch.Tensor, ...]:
        d = _with(ex, names, t)
        kl = kl_divergence(d, HypersphericalUniform(ex.p, dtype=F64))
        return d.entropy(), kl, d.mean, d.variance, d.mean_resultant_length

    with _no_validation():
        assert _gradcheck(summaries, *_inputs(ex, names))
