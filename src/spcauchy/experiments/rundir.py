"""The one reader of a run directory's small files: ``config.json``, ``metrics.csv`` (one row
per epoch), ``test_metrics.json`` and ``machine.json``. A corrupt file is a ConfigError naming
it, never a traceback; the files are only read."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from .config import Config, ConfigError

MACHINE_FILE = "machine.json"  # written by experiments.machine


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object written beside a run (corrupt or not an object: ConfigError)."""
    try:
        value = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: corrupt JSON ({err})") from None
    if not isinstance(value, dict):
        raise ConfigError(f"{path}: expected a JSON object, got {type(value).__name__}")
    return value


def read_config(run: str | Path) -> Config:
    """The run's config (``config.json``)."""
    path = Path(run) / "config.json"
    if not path.is_file():
        raise ConfigError(f"{run} holds no run (config.json missing)")
    return Config.from_dict(read_json(path))


def read_history(run: str | Path) -> list[dict[str, float]]:
    """``metrics.csv`` as numbers, one dict per epoch ([] if training has not finished one)."""
    path = Path(run) / "metrics.csv"
    if not path.exists():
        return []
    try:
        with path.open(newline="") as fh:
            reader = csv.DictReader(fh)
            columns = set(reader.fieldnames or ())
            rows = [{k: float(v) for k, v in row.items()} for row in reader]
    except (ValueError, TypeError, UnicodeDecodeError, csv.Error) as err:
        raise ConfigError(f"{path}: corrupt epoch table ({err})") from None
    if not {"epoch", "val_recon", "val_loss", "seconds"} <= columns:
        raise ConfigError(f"{path}: not an epoch table (columns: {', '.join(sorted(columns))})")
    return rows


def read_test_metrics(run: str | Path) -> dict[str, Any]:
    """``test_metrics.json`` ({} if the run was not evaluated)."""
    path = Path(run) / "test_metrics.json"
    return read_json(path) if path.exists() else {}


def read_machines(run: str | Path) -> list[dict[str, Any]]:
    """The entries of ``machine.json`` (``experiments.machine``), [] for a run trained before
    machines were recorded."""
    path = Path(run) / MACHINE_FILE
    if not path.exists():
        return []
    entries = read_json(path).get("trained_on")
    if not isinstance(entries, list) or not all(
            isinstance(e, dict) and isinstance(e.get("machine"), str) for e in entries):
        raise ConfigError(f"{path}: corrupt machine record (expected trained_on: a list of "
                          "{machine, processes, from_epoch})")
    return entries
