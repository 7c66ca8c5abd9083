"""Test-set evaluation of a trained run: ELBO, reconstruction, KL, IS log-likelihood, active units
(plus per-dataset metrics, e.g. exact reconstruction of held-out molecules).

Everything is computed through ``model.posterior`` / ``model.prior`` / ``model.decoder_log_prob``:
the same densities the model was trained with.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .config import ConfigError
from .data.split import Examples
from .datasets import dataset, load_run
from .distributed import resolve_device
from .files import write_atomic
from .rng import seeded

# A latent coordinate is active when its posterior mean varies across the data (Burda et al.).
ACTIVE_THRESHOLD = 0.01


@torch.no_grad()
def evaluate(model: nn.Module, split: Examples, k: int = 500, batch_size: int = 100,
             device: str | torch.device = "cpu") -> dict[str, Any]:
    """Means over ``split`` of ELBO terms and of the k-sample IS log-likelihood; active units.

    ``active_units`` counts coordinates of E_q[z] (ambient coordinates for spherical latents)
    whose variance over the split exceeds 0.01; ``active_units_scaled`` those whose variance
    exceeds 0.01 × the prior's variance of the coordinate. The two agree for N(0, I) priors; on
    S^d every coordinate of the uniform prior has variance 1/(d+1), which is below 0.01 for
    d ≥ 100, so only the scaled count can see a fully used high-dimensional sphere. For latents
    of several parts (products of spheres, mixed latents), ``active_units_by_part`` splits
    ``active_units`` by part in z's order (``LatentFamily.parts``): it shows a part that
    collapsed whole.
    """
    sums = {"elbo": 0.0, "recon": 0.0, "kl": 0.0, "log_lik": 0.0}
    means = []
    for batch in split.batches(batch_size):
        x = batch["x"].to(device)
        terms = model.terms(x)
        for key in ("elbo", "recon", "kl"):
            sums[key] += terms[key].sum().item()
        if k:
            sums["log_lik"] += model.marginal_log_likelihood(x, k).sum().item()
        means.append(model.posterior(x).mean)
    n = len(split)
    out = {key: v / n for key, v in sums.items()}
    if not k:
        del out["log_lik"]
    var = torch.cat(means).var(0)
    active = var > ACTIVE_THRESHOLD
    out["active_units"] = int(active.sum())
    sizes = model.latent.parts(model.d)
    if len(sizes) > 1:
        out["active_units_by_part"] = [int(a.sum()) for a in active.split(sizes)]
    prior_var = model.prior(var).variance.expand_as(var)
    out["active_units_scaled"] = int((var > ACTIVE_THRESHOLD * prior_var).sum())
    out["k"], out["n"] = k, n
    return out


def evaluate_run(run_dir: str | Path, k: int | None = None, limit: int | None = None,
                 device: str = "auto") -> dict[str, Any]:
    """Evaluate ``run_dir``'s model on the test set; writes ``test_metrics.json`` (another ``k`` or
    ``limit`` than the config's: ``test_metrics.k{k}.n{n}.json``).

    ``device="auto"``: the first GPU if CUDA is available, else the CPU.
    """
    device = resolve_device(device)
    run = load_run(run_dir, device)
    cfg = run.cfg
    test = run.data.test
    k = cfg.eval_k if k is None else k
    limit = cfg.eval_limit if limit is None else limit
    if k < 0 or limit < 0:
        raise ConfigError(f"k and limit must be ≥ 0, got k={k}, limit={limit}")
    if limit:
        test = test.head(limit)
    with seeded(cfg.seed, device):  # the same posterior draws at every evaluation of the run
        metrics = evaluate(run.model, test, k, device=device)
        extra = dataset(cfg).metrics
        if extra is not None:
            metrics |= extra(run, test)
    metrics["weights"] = cfg.eval_model
    # the run's own evaluation (the config's k and limit) is test_metrics.json; another one is
    # written beside it and never replaces it
    own = (k, limit) == (cfg.eval_k, cfg.eval_limit)
    path = Path(run_dir) / ("test_metrics.json" if own else f"test_metrics.k{k}.n{len(test)}.json")
    try:
        write_atomic(path, json.dumps(metrics, indent=2))
    except OSError as err:
        raise ConfigError(f"could not write {path} ({err.strerror or err}); the metrics were "
                          f"{json.dumps(metrics)}") from None
    return metrics
