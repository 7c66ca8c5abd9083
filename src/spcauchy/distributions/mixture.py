"""Finite mixtures of one hyperspherical family, fitted by EM (docs/math.md, "Fitting")."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor
from torch.distributions import Categorical, Distribution, MixtureSameFamily

from ..special.precision import full_precision
from .fit import check_sample, fit_power, fit_spcauchy, fit_vmf
from .power_spherical import PowerSpherical
from .spherical_cauchy import SphericalCauchy
from .von_mises_fisher import VonMisesFisher

_Fit = Callable[..., tuple[Tensor, Tensor]]
_FAMILIES: dict[str, tuple[_Fit, Callable[..., Distribution]]] = {
    "spcauchy": (fit_spcauchy, lambda loc, c, v: SphericalCauchy(loc, rho_logit=c,
                                                                 validate_args=v)),
    "vmf": (fit_vmf, lambda loc, c, v: VonMisesFisher(loc, c, validate_args=v)),
    "power": (fit_power, lambda loc, c, v: PowerSpherical(loc, c, validate_args=v)),
}
_CHUNK = 1 << 22  # elements of one (rows, k, p) block of component log-densities
_M_STEP_ITERS = 2  # Newton steps per warm-started M-step: EM only needs each to increase Q


class SphericalMixture:
    r"""Mixture Σ_j π_j q_j(x) of k distributions of one family on S^{p-1}, fitted by EM.

    Args:
        family: ``"spcauchy"``, ``"vmf"`` or ``"power"``.
        k: number of components.

    ``fit(x)`` takes points x of shape (..., n, p): one independent mixture per leading index
    (``batch_shape = x.shape[:-2]``), fitted together. After it: ``logits`` (..., k) = log π,
    ``loc`` (..., k, p), ``concentration`` (..., k) (``rho_logit`` for spcauchy, κ otherwise),
    ``history`` (mean log-likelihood per point after each EM iteration, averaged over the batch,
    of the restart with the best such average; non-decreasing), ``converged`` (every mixture of
    the batch) and ``restart_log_likelihoods``; each mixture of a batch keeps its own best restart.
    The other methods take points with the same leading dims. Any device and floating dtype (that
    of the data).
    """

    def __init__(self, family: str, k: int) -> None:
        if family not in _FAMILIES:
            raise ValueError(f"family must be one of {sorted(_FAMILIES)}, got {family!r}")
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"k must be a positive integer, got {k!r}")
        self.family, self.k = family, k
        self._fit, self._make = _FAMILIES[family]
        self.logits: Tensor | None = None
        self.loc: Tensor | None = None
        self.concentration: Tensor | None = None
        self.history: list[float] = []
        self.converged = False
        self.restart_log_likelihoods: list[float] = []
        self.batch_shape = torch.Size()

    # ------------------------------------------------------------------------------ fitting

    @full_precision
    def fit(self, x: Tensor, *, restarts: int = 4, max_iter: int = 200, tol: float = 1e-7,
            generator: torch.Generator | None = None) -> SphericalMixture:
        """EM from ``restarts`` k-means++ seedings; keeps the restart with the best likelihood.

        EM stops when the mean log-likelihood per point ℓ̄ rises by at most tol·(1 + |ℓ̄|), or
        after ``max_iter`` iterations. ``generator`` (a seeded ``torch.Generator``) makes the
        seeding reproducible; without one a seed is drawn from torch's global generator.
        """
        if not torch.is_tensor(x) or x.dim() < 2:
            raise ValueError("x must be a tensor of shape (..., n, p)")
        self.batch_shape = x.shape[:-2]
        x = self._check(x, max(3, self.k))
        if restarts < 1 or max_iter < 0:
            raise ValueError(f"restarts must be ≥ 1 and max_iter ≥ 0, got {restarts}, {max_iter}")
        if generator is None:
            generator = torch.Generator().manual_seed(int(torch.randint(2**62, ()).item()))
        best = None
        self.restart_log_likelihoods = []
        for _ in range(restarts):
            centers = torch.stack([self._seed(xb, generator) for xb in x])  # (B, k, p)
            labels = (x @ centers.mT).argmax(-1)
            # a softened hard assignment, so that every component sees every point and no
            # initial fit is degenerate
            resp = 0.9 * torch.nn.functional.one_hot(labels, self.k).to(x.dtype) + 0.1 / self.k
            params = self._m_step(x, resp, None)
            run = self._em(x, params, max_iter, tol)
            self.restart_log_likelihoods.append(run[1][-1])
            if best is None:
                best = run
            else:  # keep, per mixture of the batch, the restart with the higher likelihood
                better = run[3] > best[3]
                kept = tuple(torch.where(better.view(-1, *[1] * (a.dim() - 1)), a, b)
                             for a, b in zip(run[0], best[0], strict=True))
                best = (kept, run[1] if run[1][-1] > best[1][-1] else best[1],
                        run[2] and best[2], torch.maximum(run[3], best[3]))
        assert best is not None
        shape = self.batch_shape
        logits, loc, conc = best[0]
        self.logits, self.loc = logits.reshape(*shape, self.k), loc.reshape(*shape, self.k, -1)
        self.concentration = conc.reshape(*shape, self.k)
        self.history, self.converged = best[1], best[2]
        return self

    def _check(self, x: Tensor, min_points: int = 1) -> Tensor:
        """Validated points, leading dims flattened: (B, n, p)."""
        if not torch.is_tensor(x) or x.dim() < 2 or x.shape[:-2] != self.batch_shape:
            shape = tuple(x.shape) if torch.is_tensor(x) else type(x).__name__
            raise ValueError(f"x must be a tensor of shape {(*self.batch_shape, 'n', 'p')} "
                             f"(the batch the mixture was fitted on), got {shape}")
        x = check_sample(x, None, min_points)[0]
        return x.reshape(-1, *x.shape[-2:])

    def _flat(self) -> tuple[Tensor, Tensor, Tensor]:
        """The fitted parameters with the batch flattened: (B, k), (B, k, p), (B, k)."""
        logits, loc, conc = self._fitted()
        return (logits.reshape(-1, self.k), loc.reshape(-1, self.k, loc.shape[-1]),
                conc.reshape(-1, self.k))

    def _seed(self, x: Tensor, gen: torch.Generator) -> Tensor:
        """k-means++ on the sphere: each next center is a data point drawn with probability
        ∝ min_j (1 - xᵀc_j) = min_j ‖x - c_j‖²/2 (on the generator's device)."""
        n = x.shape[0]
        idx = [int(torch.randint(n, (1,), generator=gen, device=gen.device).item())]
        dist = (1 - x @ x[idx[0]]).clamp_min(0)
        for _ in range(1, self.k):
            weights = dist if dist.sum() > 0 else torch.ones_like(dist)
            idx.append(int(torch.multinomial(weights.to(gen.device), 1, generator=gen).item()))
            dist = torch.minimum(dist, (1 - x @ x[idx[-1]]).clamp_min(0))
        return x[idx]

    def _m_step(self, x: Tensor, resp: Tensor, warm: tuple[Tensor, Tensor] | None
                ) -> tuple[Tensor, Tensor, Tensor]:
        """π_j = N_j/n and the weighted MLE of every component at once (batched over k),
        warm-started from the previous iterate. Weights are floored at the smallest normal
        number so that a component that lost all its points keeps a defined (unweighted) fit."""
        logits = torch.log(resp.sum(-2) / resp.shape[-2])
        weights = resp.mT.clamp_min(torch.finfo(x.dtype).tiny)  # (B, k, n)
        points = x.unsqueeze(-3)  # (B, 1, n, p): one weighted fit per component
        if warm is None:
            loc, conc = self._fit(points, weights)
        elif self.family == "vmf":
            loc, conc = self._fit(points, weights, init=warm)
        else:
            loc, conc = self._fit(points, weights, init=warm, max_iter=_M_STEP_ITERS)
        return logits, loc, conc

    def _em(self, x: Tensor, params: tuple[Tensor, Tensor, Tensor], max_iter: int, tol: float
            ) -> tuple[tuple[Tensor, Tensor, Tensor], list[float], bool, Tensor]:
        """EM until every mixture of the batch gains at most tol·(1 + |ℓ̄|) per iteration;
        returns the parameters, the batch-averaged history, convergence and ℓ̄ per mixture."""
        log_joint = self._log_joint(x, *params)
        ll = torch.logsumexp(log_joint, -1)
        mean = ll.mean(-1)  # (B,)
        history = [mean.mean().item()]
        for _ in range(max_iter):
            resp = torch.exp(log_joint - ll.unsqueeze(-1))
            params = self._m_step(x, resp, params[1:])
            log_joint = self._log_joint(x, *params)
            ll = torch.logsumexp(log_joint, -1)
            mean, previous = ll.mean(-1), mean
            history.append(mean.mean().item())
            if bool(((mean - previous) <= tol * (1 + mean.abs())).all()):
                return params, history, True, mean
        return params, history, False, mean

    # ----------------------------------------------------------------------- the fitted model

    def _log_joint(self, x: Tensor, logits: Tensor, loc: Tensor, conc: Tensor) -> Tensor:
        """log π_j + log q_j(x_i), (B, n, k), for x (B, n, p) and parameters (B, k), (B, k, p),
        (B, k); in row blocks of at most _CHUNK elements."""
        comp = self._make(loc.unsqueeze(-3), conc.unsqueeze(-2), False)  # batch (B, 1, k)
        log_pi = torch.log_softmax(logits, -1).unsqueeze(-2)
        rows = max(1, _CHUNK // (x.shape[0] * self.k * x.shape[-1]))
        return torch.cat([comp.log_prob(b.unsqueeze(-2)) + log_pi for b in x.split(rows, -2)],
                         dim=-2)

    def _fitted(self) -> tuple[Tensor, Tensor, Tensor]:
        if self.logits is None or self.loc is None or self.concentration is None:
            raise RuntimeError("SphericalMixture: call fit first")
        return self.logits, self.loc, self.concentration

    @property
    def weights(self) -> Tensor:
        """Mixture weights π, (..., k)."""
        return torch.softmax(self._fitted()[0], -1)

    @property
    def component_distribution(self) -> Distribution:
        """The k components as one distribution with batch_shape (..., k)."""
        _, loc, conc = self._fitted()
        return self._make(loc, conc, None)

    def as_distribution(self) -> MixtureSameFamily:
        """The fitted mixture as a ``torch.distributions.MixtureSameFamily``."""
        return MixtureSameFamily(Categorical(logits=self._fitted()[0]),
                                 self.component_distribution)

    @full_precision
    def _joint(self, x: Tensor) -> Tensor:
        """log π_j + log q_j(x_i) of points x (..., n, p) → (..., n, k)."""
        joint = self._log_joint(self._check(x), *self._flat())
        return joint.reshape(*self.batch_shape, *joint.shape[-2:])

    def predict_proba(self, x: Tensor) -> Tensor:
        """Posterior component probabilities (responsibilities), (..., n, k)."""
        return torch.softmax(self._joint(x), -1)

    def predict(self, x: Tensor) -> Tensor:
        """Most probable component of each point, (..., n) int64."""
        return self._joint(x).argmax(-1)

    def log_prob(self, x: Tensor) -> Tensor:
        """log Σ_j π_j q_j(x) (w.r.t. surface area), (..., n)."""
        return torch.logsumexp(self._joint(x), -1)

    def sample(self, n: int) -> Tensor:
        """n points from each fitted mixture, (n, ..., p) (torch's global generator)."""
        return self.as_distribution().sample((n,))

    @property
    def num_parameters(self) -> int:
        """Free parameters: k - 1 weights and, per component, p - 1 for μ and 1 concentration."""
        return self.k - 1 + self.k * self._fitted()[1].shape[-1]

    def bic(self, x: Tensor) -> float:
        """Bayesian information criterion -2 log L + (#parameters) log n (lower is better),
        summed over the mixtures of a batch."""
        ll = self.log_prob(x).sum().item()
        return -2 * ll + self.batch_shape.numel() * self.num_parameters * math.log(x.shape[-2])


def normalized_mutual_information(a: Tensor, b: Tensor) -> float:
    """NMI of two labelings a, b (n,) of nonnegative ints: I(a; b) / ((H(a) + H(b)) / 2), 1 for
    identical partitions (up to relabeling), 0 for independent ones (and when both are constant)."""
    ka, kb = int(a.max()) + 1, int(b.max()) + 1
    joint = torch.bincount(a * kb + b, minlength=ka * kb).reshape(ka, kb).double()
    joint = joint / joint.sum()
    pa, pb = joint.sum(1), joint.sum(0)

    def entropy(p: Tensor) -> Tensor:
        return -(p[p > 0] * p[p > 0].log()).sum()

    nz = joint > 0
    mutual = (joint[nz] * (joint[nz] / (pa[:, None] * pb[None, :])[nz]).log()).sum()
    scale = (entropy(pa) + entropy(pb)) / 2
    return (mutual / scale).item() if scale > 0 else 0.0


def adjusted_rand_index(a: Tensor, b: Tensor) -> float:
    """Adjusted Rand index (Hubert & Arabie 1985) of two labelings a, b (n,) of nonnegative ints:
    1 for identical partitions (up to relabeling), about 0 for independent ones."""
    ka, kb = int(a.max()) + 1, int(b.max()) + 1
    table = torch.bincount(a * kb + b, minlength=ka * kb).reshape(ka, kb).double()

    def pairs(t: Tensor) -> Tensor:
        return (t * (t - 1) / 2).sum()

    index, rows, cols = pairs(table), pairs(table.sum(1)), pairs(table.sum(0))
    expected = rows * cols / pairs(table.sum().reshape(1))
    return ((index - expected) / ((rows + cols) / 2 - expected)).item()
