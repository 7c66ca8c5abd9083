"""Training throughput: epoch time of each latent family on the same data, in the same process.

Epochs of the families are interleaved (A B A B ...) so machine-load drift hits all of them alike,
and timed in CPU time of this process (``time.process_time``; run with one thread), which other
jobs on a shared machine do not inflate. The report is the median epoch time, its ratio to the
Gaussian VAE at the same precision, and (with several ``--precisions``) its ratio to float32.

    PYTHONPATH=src OMP_NUM_THREADS=1 python benchmarks/train_throughput.py
    PYTHONPATH=src OMP_NUM_THREADS=1 python benchmarks/train_throughput.py --config mnist-cnn \
        --precisions fp32 bf16 --latent-dims 2 10 --train-limit 2560 --repeats 3
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch

from spcauchy.experiments.config import load
from spcauchy.experiments.datasets import build_model, load_data
from spcauchy.experiments.distributed import Context
from spcauchy.experiments.train import OPTIMIZERS, run_epoch
from spcauchy.latents import LATENTS


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", default="mnist-mlp")
    ap.add_argument("--families", nargs="+", default=["normal", *sorted(set(LATENTS) - {"normal"})])
    ap.add_argument("--latent-dims", type=int, nargs="+", default=[2, 10, 40])
    ap.add_argument("--train-limit", type=int, default=10000, help="examples per epoch")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--precisions", nargs="+", default=["fp32"], help="fp32 and/or bf16")
    args = ap.parse_args()
    base = load(args.config, [f"train_limit={args.train_limit}", "progress=false"])
    data = load_data(base)
    print(f"Command: `python benchmarks/train_throughput.py {' '.join(sys.argv[1:])}`; "
          f"{args.config}, {len(data.train)} examples/epoch, {torch.get_num_threads()} thread(s), "
          f"median of {args.repeats} epochs.\n")
    print("| d | family | precision | epoch CPU s | examples/CPU s | × normal | × fp32 |\n"
          "|---|---|---|---|---|---|---|")
    nan = float("nan")
    for d in args.latent_dims:
        times = time_families(args.config, args.families, args.precisions, d, data, args.repeats)
        for (family, precision), med in times.items():
            print(f"| {d} | {family} | {precision} | {med:.3f} | {len(data.train) / med:.0f} | "
                  f"{med / times.get(('normal', precision), nan):.3f} | "
                  f"{med / times.get((family, 'fp32'), nan):.3f} |", flush=True)


def time_families(config: str, families: list[str], precisions: list[str], d: int, data,
                  repeats: int) -> dict[tuple[str, str], float]:
    """Median CPU seconds of one training epoch per (family, precision), epochs interleaved."""
    runs = {}
    for family in families:
        for precision in precisions:
            torch.manual_seed(0)
            cfg = load(config, [f"family={family}", f"latent_dim={d}", "progress=false",
                                f"precision='{precision}'"])
            model = build_model(cfg)
            runs[family, precision] = (cfg, model,
                                       OPTIMIZERS[cfg.optimizer](model.parameters(), cfg), [])
    for rep in range(repeats + 1):  # the first round warms up and is not timed
        for cfg, model, opt, times in runs.values():
            start = time.process_time()
            run_epoch(model, data.train, cfg, Context(), rep, opt)
            if rep:
                times.append(time.process_time() - start)
    return {key: statistics.median(r[3]) for key, r in runs.items()}

if __name__ == "__main__":
    main()
