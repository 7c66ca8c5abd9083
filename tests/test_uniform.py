"""HypersphericalUniform: validation, sampler moments, log-density, entropy, expand, KL, dtypes.

Monte-Carlo checks are seeded and must lie within 5 standard errors of the exact value
(estimated from the same samples); deterministic values are compared at the dtype's precision.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats
from torch.distributions import kl_divergence

from spcauchy import HypersphericalUniform
from spcauchy.distributions.uniform import log_sphere_area

F64, F32 = torch.float64, torch.float32
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.mark.parametrize("bad", [1, 0, -3, 2.0, 3.5, True, "3", None, np.int64(3),
                                 torch.tensor(3)])
def test_dim_validation(bad: object) -> None:
    with pytest.raises(ValueError, match="dim"):
        HypersphericalUniform(bad)  # type: ignore[arg-type]


def test_sphere_areas() -> None:
    # |S^{p-1}| = 2π^{p/2}/Γ(p/2): |S^1| = 2π, |S^2| = 4π, |S^3| = 2π², |S^4| = 8π²/3
    for p, area in ((2, 2 * math.pi), (3, 4 * math.pi), (4, 2 * math.pi**2),
                    (5, 8 * math.pi**2 / 3)):
        assert math.isclose(log_sphere_area(p), math.log(area), rel_tol=1e-15, abs_tol=1e-15)
    # large p stays finite (no overflow of π^{p/2} or Γ): log-space recurrence
    # |S^{p+1}| = 2π/p · |S^{p-1}|
    for p in (100, 10_000):
        step = log_sphere_area(p + 2) - log_sphere_area(p)
        assert math.isclose(step, math.log(2 * math.pi / p), rel_tol=1e-12, abs_tol=1e-12)


@pytest.mark.parametrize("p", [2, 3, 7, 64])
def test_log_prob_and_entropy(p: int) -> None:
    q = HypersphericalUniform(p, (2,), dtype=F64)
    g = torch.Generator().manual_seed(p)
    x = torch.nn.functional.normalize(torch.randn(5, 2, p, generator=g, dtype=F64), dim=-1)
    lp = q.log_prob(x)
    assert lp.shape == (5, 2) and lp.dtype == F64
    assert (lp == -log_sphere_area(p)).all()
    assert q.entropy().shape == (2,) and (q.entropy() == log_sphere_area(p)).all()
    # entropy = -E log q (the density is constant; 4 eps for the rounding of the mean)
    torch.testing.assert_close(-lp.mean(0), q.entropy(), rtol=4 * torch.finfo(F64).eps, atol=0)
    # broadcasting a single value against the batch
    assert q.log_prob(x[0, 0]).shape == (2,)
    if p == 2:
        torch.testing.assert_close(lp, torch.full((5, 2), -math.log(2 * math.pi), dtype=F64))
    if p == 3:
        torch.testing.assert_close(lp, torch.full((5, 2), -math.log(4 * math.pi), dtype=F64))


def test_log_prob_validates_the_support() -> None:
    q = HypersphericalUniform(3, validate_args=True, dtype=F64)
    for bad in (torch.ones(3, dtype=F64), torch.zeros(3, dtype=F64),
                torch.tensor([float("nan"), 0.0, 1.0], dtype=F64)):
        with pytest.raises(ValueError, match="value"):
            q.log_prob(bad)
    with pytest.raises(ValueError):
        q.log_prob(torch.tensor([1.0, 0.0], dtype=F64))  # wrong event size
    assert HypersphericalUniform(3, validate_args=False).log_prob(torch.ones(3)).isfinite()


@pytest.mark.parametrize("p", [2, 3, 10, 100])
def test_samples_on_the_sphere_with_uniform_moments(p: int) -> None:
    """E x = 0 and E xxᵀ = I/p, every entry within 5 standard errors."""
    torch.manual_seed(70 + p)
    n = 40_000
    q = HypersphericalUniform(p, dtype=F64)
    x = q.sample((n,))
    assert x.shape == (n, p)
    # normalizing Gaussian noise: |‖x‖-1| ≤ 4 eps at these dimensions (one division by a norm)
    assert ((x.norm(dim=-1) - 1).abs() <= 4 * torch.finfo(F64).eps).all()
    se = x.std(0) / math.sqrt(n)
    assert ((x.mean(0) - q.mean).abs() <= 5 * se).all()
    k = min(p, 10)  # second moments of the first k coordinates (all pairs)
    outer = x[:, :k, None] * x[:, None, :k]
    se2 = outer.std(0) / math.sqrt(n)
    exact = torch.eye(k, dtype=F64) / p
    assert ((outer.mean(0) - exact).abs() <= 5 * se2).all()
    torch.testing.assert_close(q.variance, torch.full((p,), 1 / p, dtype=F64))
    # the projection on a fixed axis has the exact law (t+1)/2 ~ Beta((p-1)/2, (p-1)/2)
    a = (p - 1) / 2
    assert stats.kstest(((x[:, 0] + 1) / 2).numpy(), "beta", args=(a, a)).pvalue > 1e-3


def test_rsample_is_independent_of_parameters_and_seeded() -> None:
    q = HypersphericalUniform(5, (3,))
    assert q.has_rsample
    torch.manual_seed(1)
    a = q.rsample((2,))
    torch.manual_seed(1)
    b = q.rsample((2,))
    assert a.shape == (2, 3, 5) and torch.equal(a, b)
    assert not a.requires_grad


def test_expand() -> None:
    q = HypersphericalUniform(4, dtype=F64, validate_args=True)
    e = q.expand((2, 3))
    assert isinstance(e, HypersphericalUniform)
    assert e.batch_shape == (2, 3) and e.event_shape == (4,) and e.dim == 4
    assert e.dtype == F64 and e._validate_args
    assert e.sample((5,)).shape == (5, 2, 3, 4)
    assert e.entropy().shape == (2, 3) and e.mean.shape == (2, 3, 4)
    assert e.variance.shape == (2, 3, 4)
    assert q.expand(torch.Size([7])).batch_shape == (7,)


def test_kl_uniform_to_uniform_is_zero() -> None:
    a = HypersphericalUniform(6, (3,), dtype=F64)
    b = HypersphericalUniform(6, (2, 1))
    kl = kl_divergence(a, b)
    assert kl.shape == (2, 3) and kl.dtype == F64 and (kl == 0).all()
    with pytest.raises(ValueError, match="dimension"):
        kl_divergence(a, HypersphericalUniform(5))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [F32, F64, None], ids=["float32", "float64", "default"])
def test_dtype_and_device(dtype: torch.dtype | None, device: str) -> None:
    q = HypersphericalUniform(3, (2,), dtype=dtype, device=device)
    expected = dtype or torch.get_default_dtype()
    for t in (q.sample((4,)), q.entropy(), q.mean, q.variance):
        assert t.dtype == expected and t.device.type == device
    # log_prob follows the value it is given
    x = q.sample((4,))
    lp = q.log_prob(x)
    assert lp.dtype == x.dtype and lp.device == x.device
    # float32 samples are normalized in float32: on the sphere to a few float32 ulps
    assert ((x.norm(dim=-1) - 1).abs() <= 4 * torch.finfo(x.dtype).eps).all()
