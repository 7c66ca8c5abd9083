"""Latent-family registry: the one place where a VAE's posterior and prior are built.

``LATENTS[name]`` maps encoder outputs h (..., n_params(d)) to q(z|x) and gives the prior p(z).
``d`` is always the manifold dimension: Gaussian latents live in R^d, spherical ones on
S^d ⊂ R^{d+1}.
Training, evaluation, sampling and plotting all go through these objects, so the density used to
score a model is the density it was trained with.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.distributions import Distribution, Independent, Normal, kl_divergence

from ..distributions import (
    Concatenated,
    HypersphericalUniform,
    PowerSpherical,
    SphereProduct,
    SphericalCauchy,
    VonMisesFisher,
)
from .fused import spcauchy_latent

# Lower bound on Gaussian posterior scales: keeps log q finite for a collapsed coordinate.
_MIN_SCALE = 1e-5
# Posterior parameters are valid by construction (normalized μ, softplus σ, any real logit), so
# argument validation is switched off: it only adds tensor operations to every training step,
# and a non-finite encoder output is caught by the training loop's loss check instead.


class LatentFamily(Protocol):
    name: str
    spherical: bool  # True: z lives on the unit sphere (geodesic interpolation, S^2 maps)

    def n_params(self, d: int) -> int: ...
    def posterior(self, h: Tensor, d: int) -> Distribution: ...
    def prior(self, d: int, like: Tensor) -> Distribution: ...
    def ambient(self, d: int) -> int: ...
    def parts(self, d: int) -> list[int]: ...
    def sample_and_kl(self, h: Tensor, d: int, prior: Distribution) -> tuple[Tensor, Tensor]: ...
    def path(self, a: Tensor, b: Tensor, t: Tensor) -> Tensor: ...
    def init_head(self, layer: nn.Linear, d: int) -> None: ...


class _Sampling:
    """The training step's draw: z ~ q (shape (1, ..., ambient)) and KL(q ‖ prior) (shape (...)),
    and the initial bias of the encoder's scale / concentration outputs."""

    bias: float | None = None  # None: the layer's own initialization

    def parts(self, d: int) -> list[int]:
        """Sizes of z's independent parts, in z's order: one part."""
        return [self.ambient(d)]  # type: ignore[attr-defined]

    def init_head(self, layer: nn.Linear, d: int) -> None:
        """Set the bias of the outputs after the location (h[..., n_loc:]) to ``self.bias``."""
        if self.bias is not None:
            with torch.no_grad():
                layer.bias[self.ambient(d):].fill_(self.bias)  # type: ignore[attr-defined]

    def sample_and_kl(self, h: Tensor, d: int, prior: Distribution) -> tuple[Tensor, Tensor]:
        q = self.posterior(h, d)  # type: ignore[attr-defined]
        return q.rsample((1,)), kl_divergence(q, prior)


# Gaussian posterior scale from the encoder output: σ = softplus(h) or σ = exp(h / 2) (h is the
# log-variance), both floored by _MIN_SCALE.
SCALES: dict[str, Callable[[Tensor], Tensor]] = {
    "softplus": lambda h: F.softplus(h) + _MIN_SCALE,
    "logvar": lambda h: torch.exp(0.5 * h) + _MIN_SCALE,
}


class NormalLatent(_Sampling):
    """q = N(μ, diag σ²) with σ = SCALES[scale](h_σ); prior N(0, I_d)."""

    name = "normal"
    spherical = False

    def __init__(self, scale: str = "softplus"):
        self.scale = SCALES[scale]

    def n_params(self, d: int) -> int:
        return 2 * d

    def ambient(self, d: int) -> int:
        return d

    def posterior(self, h: Tensor, d: int) -> Distribution:
        scale = self.scale(h[..., d:])
        return Independent(Normal(h[..., :d], scale, validate_args=False), 1, validate_args=False)

    def prior(self, d: int, like: Tensor) -> Distribution:
        zero = torch.zeros(d, dtype=like.dtype, device=like.device)
        return Independent(Normal(zero, torch.ones_like(zero), validate_args=False), 1,
                           validate_args=False)

    def path(self, a: Tensor, b: Tensor, t: Tensor) -> Tensor:
        """Straight line between a, b (D,) at times t (T,) → (T, D)."""
        t = t.unsqueeze(-1)
        return (1 - t) * a + t * b


class SphericalLatent(_Sampling):
    """Shared base of the spherical families: μ = h[:d+1]/‖h[:d+1]‖, uniform prior on S^d."""

    spherical = True

    def n_params(self, d: int) -> int:
        return d + 2

    def ambient(self, d: int) -> int:
        return d + 1

    def prior(self, d: int, like: Tensor) -> Distribution:
        return HypersphericalUniform(d + 1, dtype=like.dtype, device=like.device)

    def direction(self, h: Tensor, d: int) -> Tensor:
        return F.normalize(h[..., : d + 1], dim=-1)

    def path(self, a: Tensor, b: Tensor, t: Tensor) -> Tensor:
        """Great circle between unit vectors a, b (D,) at times t (T,) → (T, D)."""
        omega = torch.arccos((a * b).sum().clamp(-1 + 1e-7, 1 - 1e-7))
        t = t.unsqueeze(-1)
        return (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / torch.sin(omega)


class SpCauchyLatent(SphericalLatent):
    """q = spCauchy(μ, ρ) with ρ = sigmoid(h_ρ) (passed as a logit: exact as ρ → 1);
    ``bias``: initial bias of h_ρ."""

    name = "spcauchy"

    def __init__(self, bias: float | None = None):
        self.bias = bias

    def posterior(self, h: Tensor, d: int) -> Distribution:
        return SphericalCauchy(self.direction(h, d), rho_logit=h[..., d + 1], validate_args=False)

    def sample_and_kl(self, h: Tensor, d: int, prior: Distribution) -> tuple[Tensor, Tensor]:
        # The same draw and KL as posterior(h, d).rsample((1,)) and kl_divergence (the tests
        # check equality for the same seed), fused into one autograd node for speed.
        return spcauchy_latent(h[..., : d + 1], h[..., d + 1], (1,))


class _ConcentrationLatent(SphericalLatent):
    """κ = softplus(h_κ) + ``offset``; ``bias``: initial bias of h_κ."""

    def __init__(self, offset: float = 1.0, bias: float | None = None):
        self.offset, self.bias = offset, bias

    def concentration(self, h: Tensor, d: int) -> Tensor:
        return F.softplus(h[..., d + 1]) + self.offset


class VonMisesFisherLatent(_ConcentrationLatent):
    """q = vMF(μ, κ) (κ = softplus + 1 is the S-VAE parameterization)."""

    name = "vmf"

    def posterior(self, h: Tensor, d: int) -> Distribution:
        return VonMisesFisher(self.direction(h, d), self.concentration(h, d), validate_args=False)


class PowerSphericalLatent(_ConcentrationLatent):
    """q = PowerSpherical(μ, κ)."""

    name = "power"

    def posterior(self, h: Tensor, d: int) -> Distribution:
        return PowerSpherical(self.direction(h, d), self.concentration(h, d), validate_args=False)


class ProductLatent:
    """q = independent ``base`` posteriors on m spheres S^k, z = (z_1, …, z_m) ∈ R^{m(k+1)}
    (``SphereProduct``); prior: the product of uniforms. ``d`` is the total manifold dimension
    m·k. Encoder outputs are m consecutive blocks of ``base.n_params(k)`` (direction, then
    concentration); every factor has its own concentration."""

    spherical = True

    def __init__(self, base: SphericalLatent, factors: int):
        if not base.spherical:
            raise ValueError(f"factors need a spherical family, got {base.name!r}")
        self.base, self.factors = base, factors
        self.name = base.name

    def factor_dim(self, d: int) -> int:
        """k = d / m, the manifold dimension of each factor (≥ 1)."""
        if d % self.factors or d < self.factors:
            raise ValueError(f"latent_dim {d} is not a multiple ≥ 1 of factors = {self.factors}")
        return d // self.factors

    def n_params(self, d: int) -> int:
        return self.factors * self.base.n_params(self.factor_dim(d))

    def ambient(self, d: int) -> int:
        return self.factors * self.base.ambient(self.factor_dim(d))

    def parts(self, d: int) -> list[int]:
        """One part per factor sphere."""
        return [self.base.ambient(self.factor_dim(d))] * self.factors

    def _blocks(self, h: Tensor, d: int) -> tuple[Tensor, int]:
        return h.unflatten(-1, (self.factors, -1)), self.factor_dim(d)

    def posterior(self, h: Tensor, d: int) -> Distribution:
        blocks, k = self._blocks(h, d)
        return SphereProduct(self.base.posterior(blocks, k), validate_args=False)

    def prior(self, d: int, like: Tensor) -> Distribution:
        k = self.factor_dim(d)
        uniform = HypersphericalUniform(k + 1, batch_shape=(self.factors,), dtype=like.dtype,
                                        device=like.device)
        return SphereProduct(uniform, validate_args=False)

    def sample_and_kl(self, h: Tensor, d: int, prior: Distribution) -> tuple[Tensor, Tensor]:
        # the base's draw on the factor axis (the fused spCauchy layer: one node for all
        # factors), flattened; KL(q ‖ ∏ uniform) is the sum of the factors' KLs
        blocks, k = self._blocks(h, d)
        z, kl = self.base.sample_and_kl(blocks, k, prior.base)
        return z.flatten(-2), kl.sum(-1)

    def path(self, a: Tensor, b: Tensor, t: Tensor) -> Tensor:
        """Great circles in every factor between a, b (m(k+1),) at times t (T,) → (T, m(k+1))."""
        a, b = a.unflatten(-1, (self.factors, -1)), b.unflatten(-1, (self.factors, -1))
        omega = torch.arccos((a * b).sum(-1, keepdim=True).clamp(-1 + 1e-7, 1 - 1e-7))
        t = t.view(-1, 1, 1)
        path = (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / torch.sin(omega)
        return path.flatten(-2)

    def init_head(self, layer: nn.Linear, d: int) -> None:
        """The base's initial concentration bias in every factor's block."""
        k = self.factor_dim(d)
        if self.base.bias is not None:
            with torch.no_grad():
                blocks = layer.bias.view(self.factors, -1)  # type: ignore[union-attr]
                blocks[:, self.base.ambient(k):].fill_(self.base.bias)


class MixedLatent:
    """z = (z_s, z_n) ∈ S^{d_s} × R^{d - d_s}: a spherical part (one sphere or a product) and a
    Gaussian part, independent in q and in the prior (``Concatenated``); ``d`` is the total
    manifold dimension. Encoder outputs: the sphere's parameters, then the Gaussian's."""

    spherical = False  # z as a whole is not on a sphere: no S² maps, no spherical clustering

    def __init__(self, sphere: LatentFamily, normal: LatentFamily, sphere_dim: int):
        self.sphere, self.normal, self.sphere_dim = sphere, normal, sphere_dim
        self.name = f"{sphere.name}+{normal.name}"

    def _dims(self, d: int) -> tuple[int, int]:
        if not 1 <= self.sphere_dim < d:
            raise ValueError(f"sphere_dim must be in 1..latent_dim - 1 = {d - 1}, "
                             f"got {self.sphere_dim}")
        return self.sphere_dim, d - self.sphere_dim

    def _split(self, h: Tensor, d: int) -> tuple[Tensor, Tensor, int, int]:
        ds, dn = self._dims(d)
        n = self.sphere.n_params(ds)
        return h[..., :n], h[..., n:], ds, dn

    def n_params(self, d: int) -> int:
        ds, dn = self._dims(d)
        return self.sphere.n_params(ds) + self.normal.n_params(dn)

    def ambient(self, d: int) -> int:
        ds, dn = self._dims(d)
        return self.sphere.ambient(ds) + self.normal.ambient(dn)

    def parts(self, d: int) -> list[int]:
        """The spherical part's (one per factor), then the Gaussian's."""
        ds, dn = self._dims(d)
        return self.sphere.parts(ds) + self.normal.parts(dn)

    def posterior(self, h: Tensor, d: int) -> Distribution:
        hs, hn, ds, dn = self._split(h, d)
        return Concatenated([self.sphere.posterior(hs, ds), self.normal.posterior(hn, dn)],
                            validate_args=False)

    def prior(self, d: int, like: Tensor) -> Distribution:
        ds, dn = self._dims(d)
        return Concatenated([self.sphere.prior(ds, like), self.normal.prior(dn, like)],
                            validate_args=False)

    def sample_and_kl(self, h: Tensor, d: int, prior: Distribution) -> tuple[Tensor, Tensor]:
        hs, hn, ds, dn = self._split(h, d)
        ps, pn = prior.parts  # type: ignore[attr-defined]
        zs, kls = self.sphere.sample_and_kl(hs, ds, ps)  # the fused layer for spCauchy
        zn, kln = self.normal.sample_and_kl(hn, dn, pn)
        return torch.cat([zs, zn], -1), kls + kln

    def path(self, a: Tensor, b: Tensor, t: Tensor) -> Tensor:
        """Great circle(s) in the spherical part, a straight line in the Gaussian part."""
        n = self.sphere.ambient(self.sphere_dim)
        return torch.cat([self.sphere.path(a[..., :n], b[..., :n], t),
                          self.normal.path(a[..., n:], b[..., n:], t)], -1)

    def init_head(self, layer: nn.Linear, d: int) -> None:
        """Each part initializes its own block of the head's bias."""
        ds, dn = self._dims(d)
        n = self.sphere.n_params(ds)
        for part, dim, block in ((self.sphere, ds, slice(0, n)), (self.normal, dn, slice(n, None))):
            part.init_head(_BiasBlock(layer.bias[block]), dim)  # type: ignore[index, arg-type]


class _BiasBlock:
    """A slice of a layer's bias, passed to a part's ``init_head`` (which fills it in place)."""

    def __init__(self, bias: Tensor):
        self.bias = bias


def _registry(*families: LatentFamily) -> dict[str, LatentFamily]:
    return {f.name: f for f in families}


# Head parameterizations (config field ``head``): how encoder outputs become posterior
# parameters, and their initial biases.
# "softplus": σ = softplus + 1e-5, κ = softplus + 1 (S-VAE), spCauchy logit with default init.
# "sc-vae": the spCauchy paper's code (lsablica/SC-VAE, experiments/mnist): Gaussian
#   log-variance; spCauchy logit bias 2.0; vMF κ = softplus + 1; Power Spherical κ = softplus
#   with bias 0 (the authors add float eps to κ; our Power Spherical accepts κ = 0).
HEADS: dict[str, dict[str, LatentFamily]] = {
    "softplus": _registry(NormalLatent(), SpCauchyLatent(), VonMisesFisherLatent(),
                          PowerSphericalLatent()),
    "sc-vae": _registry(NormalLatent("logvar"), SpCauchyLatent(bias=2.0), VonMisesFisherLatent(),
                        PowerSphericalLatent(offset=0.0, bias=0.0)),
}
LATENTS: dict[str, LatentFamily] = HEADS["softplus"]


def latent_family(family: str, head: str = "softplus", factors: int = 1,
                  sphere_dim: int = 0) -> LatentFamily:
    """The latent family a model uses: ``HEADS[head][family]``; with ``factors`` = m > 1 the
    product of m spheres of that (spherical) family; ``"<spherical>+normal"`` a mixed latent whose
    spherical part (one sphere, or ``factors`` of them) has manifold dimension ``sphere_dim`` and
    whose Gaussian part takes the rest of ``latent_dim``. Unknown names raise ValueError."""
    sphere, plus, rest = family.partition("+")
    if plus:
        if rest != "normal":
            raise ValueError(f"mixed latents are <spherical family>+normal, got {family!r}")
        part = latent_family(sphere, head, factors)
        if not part.spherical:
            raise ValueError(f"the first part of a mixed latent must be spherical, got {sphere!r}")
        return MixedLatent(part, HEADS[head]["normal"], sphere_dim)
    if sphere_dim:
        raise ValueError(f"sphere_dim is for mixed latents (e.g. spcauchy+normal), not {family!r}")
    if head not in HEADS:
        raise ValueError(f"unknown head {head!r}; choose from {', '.join(HEADS)}")
    if family not in HEADS[head]:
        raise ValueError(f"unknown family {family!r}; choose from {', '.join(HEADS[head])}")
    if factors < 1:
        raise ValueError(f"factors must be ≥ 1, got {factors}")
    base = HEADS[head][family]
    return base if factors == 1 else ProductLatent(base, factors)  # type: ignore[arg-type]
