"""Dataset registry: one file per dataset (``mnist.py``, ``smiles.py``), each defining
``DATASET``, a :class:`Dataset`.

A dataset file is imported when a config first names it, so MNIST needs no RDKit and the
molecules no torchvision-style image stack. ``build_model`` and ``load_run`` are the one way to
get a model from a config or a run directory.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from torch import nn

from ...latents import HEADS, LATENTS, latent_family
from .. import checkpoint
from ..config import DATA_KEYS, Config, ConfigError
from ..data.split import DataBundle
from ..rundir import read_config
from .base import Dataset, Run

# dataset name -> its module in this package (a new dataset: one file and one line here)
DATASETS: dict[str, str] = {"mnist": "mnist", "smiles": "smiles"}


def dataset(cfg: Config) -> Dataset:
    """The ``DATASET`` of ``cfg.dataset``'s file; an unknown name raises ``ConfigError``."""
    if cfg.dataset not in DATASETS:
        raise ConfigError(f"unknown dataset {cfg.dataset!r}; choose from {', '.join(DATASETS)}")
    return importlib.import_module(f".{DATASETS[cfg.dataset]}", __name__).DATASET


def load_data(cfg: Config) -> DataBundle:
    """Train / val / test splits of ``cfg``'s dataset."""
    return dataset(cfg).load(cfg)


def build_model(cfg: Config) -> nn.Module:
    """The model a config describes; unknown names raise ``ConfigError`` listing the choices."""
    if cfg.head not in HEADS:
        raise ConfigError(f"unknown head {cfg.head!r}; choose from {', '.join(HEADS)}")
    if cfg.family.partition("+")[0] not in LATENTS:
        raise ConfigError(f"unknown family {cfg.family!r}; choose from {', '.join(LATENTS)} "
                          "(or <spherical family>+normal)")
    try:
        latent_family(cfg.family, cfg.head, cfg.factors, cfg.sphere_dim).n_params(cfg.latent_dim)
    except ValueError as err:  # factors for a Gaussian, d not a multiple of factors, bad split
        raise ConfigError(str(err)) from None
    models = dataset(cfg).models
    if cfg.model not in models:
        raise ConfigError(f"unknown model {cfg.model!r} for dataset {cfg.dataset}; choose from "
                          f"{', '.join(models)}")
    return models[cfg.model](cfg)


def load_run(run_dir: str | Path, device: str = "cpu",
             shared: dict[tuple, DataBundle] | None = None) -> Run:
    """A finished (or interrupted) run: the best-validation model, or the final one if the config
    says ``eval_model = "last"``, in eval mode on ``device``. Runs loaded with the same ``shared``
    dict read their data once when they have the same data fields."""
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
    return _run(Path(run_dir), cfg, model.eval(), shared)


def load_recorded(run_dir: str | Path, shared: dict[tuple, DataBundle] | None = None) -> Run:
    """A run kept without its weights (a committed result): config.json, no model."""
    return _run(Path(run_dir), read_config(run_dir), None, shared)


def _run(run_dir: Path, cfg: Config, model: nn.Module | None,
         shared: dict[tuple, DataBundle] | None) -> Run:
    if shared is None:
        return Run(run_dir, cfg, model, lambda: load_data(cfg))
    key = tuple(str(getattr(cfg, k)) for k in DATA_KEYS)
    return Run(run_dir, cfg, model,
               lambda: shared[key] if key in shared else shared.setdefault(key, load_data(cfg)))


__all__ = ["DATASETS", "Dataset", "Run", "build_model", "dataset", "load_data", "load_recorded",
           "load_run"]
