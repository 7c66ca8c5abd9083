"""Smoke test of an installed (non-editable) wheel: every preset loads and trains one step."""

import torch

from spcauchy.experiments.config import load, preset_names
from spcauchy.experiments.datasets import build_model, load_data
from spcauchy.experiments.train import OPTIMIZERS

names = preset_names()
assert {"demo", "mnist-mlp", "mnist-cnn", "smiles-moses"} <= set(names), names
for name in names:
    cfg = load(name, ["train_limit=64", "eval_limit=16"])
    data = load_data(cfg)
    cfg = cfg.__class__(**{**cfg.to_dict(), **data.config})
    model = build_model(cfg)
    batch = next(iter(data.train.batches(8)))
    out = model(batch)
    out["loss"].backward()
    OPTIMIZERS[cfg.optimizer](model.parameters(), cfg).step()
    assert torch.isfinite(out["loss"]), name
    print(f"{name}: one training step, loss {out['loss'].item():.2f}")
