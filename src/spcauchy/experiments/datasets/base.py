"""The interface every dataset file implements, and a trained run loaded once.

A dataset is one file in this package that defines ``DATASET = Dataset(...)`` and one line in
``DATASETS`` (``datasets/__init__.py``); a model for it is one more entry in its ``models``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from torch import nn

from ..config import Config, ConfigError
from ..data.split import DataBundle, Examples


@dataclass
class Run:
    """A trained run: its directory, config and model (eval mode), and its data, read on first
    use and then kept, so a report or a command loads each checkpoint and dataset once. ``model``
    is None for a run kept without its weights (``load_recorded``): only its files can be read."""

    dir: Path
    cfg: Config
    model: nn.Module | None
    load_data: Callable[[], DataBundle] = field(repr=False)

    @cached_property
    def data(self) -> DataBundle:
        return self.load_data()


# (run, number of samples, output path or None, temperature or None, seed) -> printed summary
Sampler = Callable[[Run, int, "Path | None", "float | None", int], str]
# (run, endpoints as given on the command line, steps, output path or None) -> printed summary
Interpolator = Callable[[Run, list[str], int, "Path | None"], str]


@dataclass(frozen=True)
class Dataset:
    """What the experiment suite needs from a dataset; every member is a plain value or function.

    ``load(cfg)``: train / val / test splits. ``models[cfg.model](cfg)``: the VAE. ``columns``:
    (label, key of test_metrics.json) shown by reports. ``same_data``: config fields that define
    the examples (runs compared in one table must agree on them). ``metrics(run, test)``: extra
    test metrics beside ELBO, KL, IS-LL and active units. ``figures``: file name → writer
    ``(run, path) -> path`` drawn for every run in a report. ``sample`` / ``interpolate``: the
    ``spcauchy sample`` / ``interpolate`` commands. ``unit``: what one example is (the metrics
    are nats per example). ``epoch_metrics(model, cfg, val)``: held-out metrics recorded after
    every epoch when ``cfg.epoch_metrics`` is on (a learning curve beside the loss); they must
    not draw random numbers, so a resumed run stays the uninterrupted one.
    """

    name: str
    load: Callable[[Config], DataBundle]
    models: dict[str, Callable[[Config], nn.Module]]
    columns: tuple[tuple[str, str], ...]
    same_data: tuple[str, ...]
    figures: dict[str, Callable[[Run, Path], Path]]
    sample: Sampler
    interpolate: Interpolator
    metrics: Callable[[Run, Examples], dict[str, float]] | None = None
    epoch_metrics: Callable[[nn.Module, Config, Examples], dict[str, float]] | None = None
    unit: str = "example"


def check_same_data(configs: list[Config], fields: tuple[str, ...]) -> None:
    """Runs compared in one table must have seen the same examples (equal ``fields``)."""
    first = configs[0]
    for cfg in configs[1:]:
        diff = [k for k in fields if getattr(cfg, k) != getattr(first, k)]
        if diff:
            raise ConfigError(f"runs differ in their data ({', '.join(diff)}); "
                              "one table needs runs on the same examples")
