"""Smoke test of an installed (non-editable) wheel: every preset loads and trains one step."""

import torch

from spcauchy.config import load, preset_names
from spcauchy.data import DATASETS
from spcauchy.train import OPTIMIZERS
from spcauchy.vae import build_model

names = preset_names()
assert {"demo", "mnist-mlp", "mnist-cnn", "smiles-moses"} <= set(names), names
for name in names:
    cfg = load(name, ["train_limit=64", "eval_limit=16"])
    data = DATASETS[cfg.dataset](cfg)
    cfg = cfg.__class__(**{**cfg.to_dict(), **data.config})
    model = build_model(cfg)
    batch = next(iter(data.train.batches(8)))
    out = model(batch)
    out["loss"].backward()
    OPTIMIZERS[cfg.optimizer](model.parameters(), cfg).step()
    assert torch.isfinite(out["loss"]), name
    print(f"{name}: one training step, loss {out['loss'].item():.2f}")
