"""Test-set evaluation of a trained run: ELBO, reconstruction, KL, IS log-likelihood, active units
(plus per-dataset metrics, e.g. exact reconstruction of held-out molecules).

Everything is computed through ``model.posterior`` / ``model.prior`` / ``model.log_lik``: the same
densities the model was trained with.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from . import checkpoint
from .config import Config, ConfigError
from .data import DATASETS, Examples
from .distributed import resolve_device
from .files import write_atomic
from .vae import build_model


def _molecule_metrics(model: nn.Module, cfg: Config, test: Examples) -> dict[str, float]:
    from .molecules import run_metrics  # RDKit is needed only for molecules

    return run_metrics(model, cfg, test)


# Dataset-specific metrics of a trained model on its test split, added to the generic ones.
RUN_METRICS: dict[str, Callable[[nn.Module, Config, Examples], dict[str, float]]] = {
    "smiles": _molecule_metrics,
}

# A latent coordinate is active when its posterior mean varies across the data (Burda et al.).
ACTIVE_THRESHOLD = 0.01


def load_run(run_dir: str | Path, device: str = "cpu") -> tuple[Config, nn.Module]:
    """Config and weights of a finished (or interrupted) run: the best-validation model, or the
    final one if the config says ``eval_model = "last"``."""
    path = Path(run_dir) / "best.pt"
    if not path.exists():
        raise ConfigError(f"{run_dir} holds no trained model (best.pt missing)")
    ck = checkpoint.load(path, device, keys=("config", "model"))
    if not isinstance(ck["config"], dict):
        raise checkpoint.CheckpointError(f"{path}: its config entry is not a table")
    try:
        cfg = Config.from_dict(ck["config"])
    except ConfigError as err:
        raise checkpoint.CheckpointError(f"{path}: invalid saved config ({err})") from None
    if cfg.eval_model == "last":
        path = Path(run_dir) / "last.pt"
        ck = checkpoint.load(path, device, keys=("model",))
    model = build_model(cfg).to(device)
    checkpoint.load_weights(model, ck["model"], path)
    return cfg, model.eval()


@torch.no_grad()
def evaluate(model: nn.Module, split: Examples, k: int = 500, batch_size: int = 100,
             device: str | torch.device = "cpu") -> dict[str, float]:
    """Means over ``split`` of ELBO terms and of the k-sample IS log-likelihood; active units.

    ``active_units`` counts coordinates of E_q[z] (ambient coordinates for spherical latents)
    whose variance over the split exceeds 0.01; ``active_units_scaled`` those whose variance
    exceeds 0.01 × the prior's variance of the coordinate. The two agree for N(0, I) priors; on
    S^d every coordinate of the uniform prior has variance 1/(d+1), which is below 0.01 for
    d ≥ 100, so only the scaled count can see a fully used high-dimensional sphere.
    """
    sums = {"elbo": 0.0, "recon": 0.0, "kl": 0.0, "log_lik": 0.0}
    means = []
    for batch in split.batches(batch_size):
        x = batch["x"].to(device)
        terms = model.terms(x)
        for key in ("elbo", "recon", "kl"):
            sums[key] += terms[key].sum().item()
        if k:
            sums["log_lik"] += model.log_likelihood(x, k).sum().item()
        means.append(model.posterior(x).mean)
    n = len(split)
    out = {key: v / n for key, v in sums.items()}
    if not k:
        del out["log_lik"]
    var = torch.cat(means).var(0)
    out["active_units"] = int((var > ACTIVE_THRESHOLD).sum())
    prior_var = model.prior(var).variance.expand_as(var)
    out["active_units_scaled"] = int((var > ACTIVE_THRESHOLD * prior_var).sum())
    out["k"], out["n"] = k, n
    return out


def evaluate_run(run_dir: str | Path, k: int | None = None, limit: int | None = None,
                 device: str = "auto") -> dict[str, float]:
    """Evaluate ``run_dir``'s model on the test set; writes ``test_metrics.json`` (another ``k`` or
    ``limit`` than the config's: ``test_metrics.k{k}.n{n}.json``).

    ``device="auto"``: the first GPU if CUDA is available, else the CPU.
    """
    device = resolve_device(device)
    cfg, model = load_run(run_dir, device)
    torch.manual_seed(cfg.seed)
    test = DATASETS[cfg.dataset](cfg).test
    k = cfg.eval_k if k is None else k
    limit = cfg.eval_limit if limit is None else limit
    if k < 0 or limit < 0:
        raise ConfigError(f"k and limit must be ≥ 0, got k={k}, limit={limit}")
    if limit:
        test = test.head(limit)
    metrics = evaluate(model, test, k, device=device)
    if cfg.dataset in RUN_METRICS:
        metrics |= RUN_METRICS[cfg.dataset](model, cfg, test)
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
