"""Wall-clock costs of the molecule pipeline on this machine: MOSES selection, GRU VAE training
throughput (encoder + teacher-forced decoder, forward + backward), sampling, and the metric table.

Run: OMP_NUM_THREADS=2 PYTHONPATH=src python benchmarks/smiles_costs.py [--n-metric 1000]
"""

from __future__ import annotations

import argparse
import time

import torch

from spcauchy.data.smiles import SmilesDataset, load_smiles, select_smiles
from spcauchy.data.tokenizer import Tokenizer
from spcauchy.metrics.fcd import FCDScorer
from spcauchy.metrics.table import metrics_table, reference_set
from spcauchy.vae.smiles import SmilesVAE


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
    ap.add_argument("--skip-metrics", action="store_true")
    args = ap.parse_args()
    torch.manual_seed(0)

    train_all = _timed("load MOSES train", lambda: load_smiles("moses", "train"))
    train, stats = _timed(f"select {args.n_train}",
                          lambda: select_smiles(train_all, n=args.n_train, max_len=100, seed=0))
    print("selection stats:", stats.as_dict())
    tok = Tokenizer.from_smiles(train)
    ds = SmilesDataset(train, tok)
    model = SmilesVAE(len(tok), n_params=2 * 64, z_dim=64, embed_dim=args.embed,
                      hidden_dim=args.hidden)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loader = torch.utils.data.DataLoader(ds, batch_size=args.batch, shuffle=True,
                                         collate_fn=ds.collate)
    it = iter(loader)
    t = time.perf_counter()
    for _ in range(args.steps):
        batch = next(it)
        z = model.encode(batch.tokens, batch.lengths)[:, :64]
        loss = -model.log_likelihood(model.decode_logits(z, batch.tokens), batch.tokens).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    dt = time.perf_counter() - t
    print(f"training: {args.steps * args.batch / dt:.0f} molecules/s (batch {args.batch}, "
          f"hidden {args.hidden}, embed {args.embed}, {torch.get_num_threads()} threads)")
    with torch.no_grad():
        _timed("sample 1000 (temperature 1, max_len 100)",
               lambda: model.generate(torch.randn(1000, 64), max_len=100, temperature=1.0))
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
