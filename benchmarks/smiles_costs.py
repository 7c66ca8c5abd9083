"""Wall-clock costs of the molecule pipeline on this machine: MOSES selection, GRU VAE training
throughput (encoder + teacher-forced decoder, forward + backward), sampling, and the metric table.

Run: OMP_NUM_THREADS=2 PYTHONPATH=src python benchmarks/smiles_costs.py [--n-metric 1000]
"""

from __future__ import annotations

import argparse
import time

import torch

from spcauchy.experiments.data.tokenizer import Tokenizer
from spcauchy.experiments.datasets.smiles import TokenSplit, load_smiles, select_smiles
from spcauchy.experiments.metrics.fcd import FCDScorer
from spcauchy.experiments.metrics.table import metrics_table, reference_set
from spcauchy.experiments.models.smiles_gru import SmilesVAE


def _timed(label: str, fn):
    t = time.perf_counter()
    out = fn()
    print(f"{label}: {time.perf_counter() - t:.2f} s")
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n-train", type=int, default=20000)
    ap.add_argument("--n-metric", type=int, default=1000)
    ap.add_argument("--n-reference", type=int, default=10000)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--embed", type=int, default=64)
    ap.add_argument("--family", default="spcauchy")
    ap.add_argument("--latent-dim", type=int, default=127)
    ap.add_argument("--skip-metrics", action="store_true")
    args = ap.parse_args()
    torch.manual_seed(0)

    train_all = _timed("load MOSES train", lambda: load_smiles("moses", "train"))
    train, stats = _timed(f"select {args.n_train}",
                          lambda: select_smiles(train_all, n=args.n_train, max_len=100, seed=0))
    print("selection stats:", stats.as_dict())
    tok = Tokenizer.from_smiles(train)
    data = TokenSplit.encode(train, tok)
    model = SmilesVAE(len(tok), args.family, args.latent_dim, embed_dim=args.embed,
                      hidden_dim=args.hidden)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    batches = data.batches(args.batch, shuffle=True)
    t = time.perf_counter()
    for _ in range(args.steps):
        loss = model(next(batches))["loss"]  # encoder, KL, teacher-forced decoder
        opt.zero_grad()
        loss.backward()
        opt.step()
    dt = time.perf_counter() - t
    print(f"training: {args.steps * args.batch / dt:.0f} molecules/s ({args.family}, d "
          f"{args.latent_dim}, batch {args.batch}, hidden {args.hidden}, embed {args.embed}, "
          f"{torch.get_num_threads()} threads)")
    with torch.no_grad():
        z = model.prior(next(model.parameters())).sample((1000,))
        _timed("sample 1000 (temperature 1, max_len 100)",
               lambda: model.generate(z, max_len=100, temperature=1.0))
    if args.skip_metrics:
        return

    test = load_smiles("moses", "test")[: args.n_reference]
    fcd = FCDScorer()
    refs = _timed(f"reference summary of {len(test)} test molecules (with FCD)",
                  lambda: [reference_set("Test", test, fcd)])
    generated = load_smiles("moses", "test_scaffolds")[: args.n_metric]
    _timed(f"metric table, {args.n_metric} molecules + same-size reference row",
           lambda: metrics_table({"model": generated}, train, refs, fcd=fcd))


if __name__ == "__main__":
    main()
