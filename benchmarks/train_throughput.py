"""Training throughput: epoch time of each latent family on the same data, in the same process.

Epochs of the families are interleaved (A B A B ...) so machine-load drift hits all of them alike;
the report is the median epoch time and its ratio to the Gaussian VAE.

    PYTHONPATH=src OMP_NUM_THREADS=1 python benchmarks/train_throughput.py --repeats 5
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from spcauchy.config import load
from spcauchy.data import DATASETS
from spcauchy.distributed import Context
from spcauchy.train import OPTIMIZERS, run_epoch
from spcauchy.vae import LATENTS, build_model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", default="mnist-mlp")
    ap.add_argument("--families", nargs="+", default=["normal", *sorted(set(LATENTS) - {"normal"})])
    ap.add_argument("--latent-dim", type=int, default=10)
    ap.add_argument("--train-limit", type=int, default=10000, help="examples per epoch")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    base = load(args.config, [f"latent_dim={args.latent_dim}", f"train_limit={args.train_limit}",
                              "progress=false"])
    data = DATASETS[base.dataset](base)
    ctx = Context()
    runs = {}
    for family in args.families:
        torch.manual_seed(0)
        cfg = load(args.config, [f"family={family}", f"latent_dim={args.latent_dim}",
                                 "progress=false"])
        model = build_model(cfg)
        runs[family] = (cfg, model, OPTIMIZERS[cfg.optimizer](model.parameters(), cfg), [])
    for rep in range(args.repeats + 1):  # the first round warms up and is not timed
        for cfg, model, opt, times in runs.values():
            start = time.perf_counter()
            run_epoch(model, data.train, cfg, ctx, rep, opt)
            if rep:
                times.append(time.perf_counter() - start)
    ref = statistics.median(runs["normal"][3]) if "normal" in runs else float("nan")
    print(f"{args.config}, d={args.latent_dim}, {len(data.train)} examples/epoch, "
          f"{torch.get_num_threads()} thread(s), median of {args.repeats} epochs")
    print("| family | epoch s | examples/s | × normal |\n|---|---|---|---|")
    for family, (*_, times) in runs.items():
        med = statistics.median(times)
        print(f"| {family} | {med:.3f} | {len(data.train) / med:.0f} | {med / ref:.3f} |")


if __name__ == "__main__":
    main()
