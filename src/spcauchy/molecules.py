"""Molecules from a trained SMILES VAE: prior samples, reconstructions, latent interpolations,
pictures, and the MOSES metric table of several runs with its training-subsample reference row.

Latent points come from ``model.posterior`` / ``model.prior`` (the densities the model was
trained with); decoding is ``SmilesVAE.generate`` (greedy or with a temperature).
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from .config import Config, ConfigError
from .data.smiles import TokenSplit, load_smiles
from .data.tokenizer import Tokenizer
from .files import write_atomic
from .metrics import molecules as M
from .metrics.table import format_table, metrics_table, reference_set
from .rundir import read_history, read_test_metrics

# Reference sets are seeded subsamples of MOSES test / test_scaffolds, 17x smaller than the full
# sets, so that a metric table costs minutes on a CPU.
REFERENCE_SIZE = 10_000
INTERPOLATION_PAIRS = 100  # random test pairs for the validity-along-interpolations metric


def tokenizer_of(cfg: Config) -> Tokenizer:
    """The tokenizer a SMILES run was trained with (its vocabulary is saved in the config)."""
    return Tokenizer(cfg.vocab, cfg.representation)


def _device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


@torch.no_grad()
def sample(model: nn.Module, tok: Tokenizer, n: int, *, max_len: int, temperature: float = 1.0,
           seed: int = 0, batch_size: int = 1000) -> list[str]:
    """``n`` SMILES decoded from z ~ p(z) (seeded; ``temperature = 0`` is greedy)."""
    if n < 1:
        raise ValueError(f"n must be a positive number of molecules, got {n}")
    torch.manual_seed(seed)
    gen = torch.Generator(_device(model)).manual_seed(seed)
    like = next(model.parameters())
    out: list[str] = []
    for start in range(0, n, batch_size):
        z = model.prior(like).sample((min(batch_size, n - start),))
        out += tok.decode_batch(model.generate(z, max_len, temperature, generator=gen))
    return out


@torch.no_grad()
def reconstruct(model: nn.Module, tok: Tokenizer, split: TokenSplit, *, max_len: int,
                batch_size: int = 500) -> list[str]:
    """Greedy decoding of the posterior mode of every molecule of ``split``."""
    out: list[str] = []
    for batch in split.batches(batch_size):
        z = model.posterior(batch["x"].to(_device(model))).mode
        out += tok.decode_batch(model.generate(z, max_len))
    return out


def encode_smiles(tok: Tokenizer, smiles: Sequence[str]) -> TokenSplit:
    """Token rows of user-given SMILES; ValueError for an invalid molecule or unknown token."""
    for s in smiles:
        if M.get_mol(s) is None:
            raise ValueError(f"{s!r} is not a valid SMILES string")
        unknown = [t for t in tok.tokenize(s) if t not in tok.stoi]
        if unknown:
            raise ValueError(f"{s!r} has tokens outside the model's vocabulary: {unknown}")
    return TokenSplit.encode(smiles, tok)


@torch.no_grad()
def interpolate(model: nn.Module, tok: Tokenizer, a: str, b: str, steps: int = 10, *,
                max_len: int) -> list[str]:
    """Greedy decodings of ``steps`` points on the path between the posterior modes of a and b
    (a great circle for spherical latents, a straight line for Gaussian ones)."""
    if steps < 2:
        raise ValueError(f"steps must be at least 2, got {steps}")
    pair = encode_smiles(tok, [a, b])
    z = model.posterior(pair.x.to(_device(model))).mode
    t = torch.linspace(0, 1, steps, dtype=z.dtype, device=z.device)
    return tok.decode_batch(model.generate(model.latent.path(z[0], z[1], t), max_len))


def interpolation_metrics(model: nn.Module, tok: Tokenizer, split: TokenSplit, *,
                          max_len: int, steps: int = 10, pairs: int = INTERPOLATION_PAIRS,
                          seed: int = 0) -> dict[str, float]:
    """Over random pairs of ``split``: ``interp_valid``, the fraction of valid molecules strictly
    between the ends, and ``interp_distinct``, the mean fraction of the ``steps`` points that are
    distinct valid molecules (1/steps when the decoder ignores z, 1 when every point differs)."""
    rng = random.Random(seed)
    inner: list[str] = []
    distinct = 0.0
    for _ in range(pairs):
        i, j = rng.sample(range(len(split)), 2)
        path = interpolate(model, tok, split.smiles[i], split.smiles[j], steps, max_len=max_len)
        inner += path[1:-1]
        distinct += len(set(M.valid_canonical(path))) / steps
    return {"interp_valid": M.validity(inner), "interp_distinct": distinct / pairs}


def run_metrics(model: nn.Module, cfg: Config, test: TokenSplit) -> dict[str, float]:
    """Per-run molecule metrics on held-out molecules: exact reconstruction (greedy decoding of
    the posterior mode, canonical match) and validity and variety along geodesic/linear
    interpolations."""
    tok, max_len = tokenizer_of(cfg), cfg.max_len + 1
    recon = reconstruct(model, tok, test, max_len=max_len)
    return {"recon_accuracy": M.reconstruction_accuracy(test.smiles, recon),
            **interpolation_metrics(model, tok, test, max_len=max_len)}


def draw(smiles: Sequence[str], path: str | Path, *, per_row: int = 5,
         legends: Sequence[str] | None = None) -> Path:
    """RDKit grid image of the molecules; an invalid string leaves its cell blank."""
    from rdkit.Chem import Draw

    mols = [M.get_mol(s) for s in smiles]
    legends = list(legends) if legends is not None else list(smiles)
    legends = [text if len(text) <= 40 else text[:37] + "..." for text in legends]
    image = Draw.MolsToGridImage(mols, molsPerRow=per_row, subImgSize=(220, 180),
                                 legends=legends)
    write_atomic(path, lambda fh: image.save(fh, format="PNG"))
    return Path(path)


def write_smi(smiles: Sequence[str], path: str | Path) -> Path:
    """One SMILES per line, written atomically (an invalid string is kept as generated)."""
    return write_atomic(path, "".join(f"{s}\n" for s in smiles))


def metric_table(run_dirs: Sequence[str | Path], train: Sequence[str], *, n: int,
                 out: str | Path, reference_size: int = REFERENCE_SIZE, seed: int = 0,
                 device: str = "cpu") -> dict[str, dict]:
    """MOSES metrics of ``n`` prior samples per run and of a same-size training subsample.

    Writes ``out`` (markdown: the runs' held-out metrics, then the sample metrics) and ``out``
    with suffix .json (the sample metrics); the samples of each run go to
    ``<out stem>.<run>.smi`` beside it. References: seeded subsamples of ``reference_size``
    molecules of the MOSES test and scaffold-test sets.
    """
    from .evaluate import load_run
    from .metrics.fcd import FCDScorer

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    dirs = [Path(r) for r in run_dirs]
    runs = {d.name: load_run(d, device) for d in dirs}
    check_same_data([cfg for cfg, _ in runs.values()])
    generated = {}
    for name, (cfg, model) in runs.items():
        generated[name] = sample(model, tokenizer_of(cfg), n, max_len=cfg.max_len + 1,
                                 temperature=cfg.temperature, seed=seed)
        write_smi(generated[name], out.with_name(f"{out.stem}.{name}.smi"))
    fcd = FCDScorer(device)
    refs = []
    for ref_name, split in (("Test", "test"), ("TestSF", "test_scaffolds")):
        pool = load_smiles("moses", split)
        subset = random.Random(seed).sample(pool, min(reference_size, len(pool)))
        refs.append(reference_set(ref_name, subset, fcd, device))
    table = metrics_table(generated, train, refs, seed=seed, fcd=fcd, device=device)
    write_atomic(out.with_suffix(".json"), json.dumps(table, indent=2) + "\n")
    held_out = {d.name: _test_metrics(d) for d in dirs}
    write_atomic(out, f"Held-out molecules (`spcauchy evaluate`, test_metrics.json):\n\n"
                 f"{format_table(held_out)}\n\n"
                 f"{n} prior samples per run (temperature as configured), references: "
                 f"{reference_size} molecules of MOSES test (Test) and test_scaffolds (TestSF):"
                 f"\n\n{format_table(table)}\n")
    return table


def _test_metrics(run: Path) -> dict[str, float]:
    return {"epochs": len(read_history(run)), **read_test_metrics(run)}


def check_same_data(configs: Sequence[Config]) -> None:
    """Runs compared in one table must have seen the same molecules."""
    keys = ("dataset", "source", "train_limit", "max_len", "representation")
    first = configs[0]
    for cfg in configs[1:]:
        diff = [k for k in keys if getattr(cfg, k) != getattr(first, k)]
        if diff:
            raise ConfigError(f"runs differ in their data ({', '.join(diff)}); "
                              "one metric table needs runs on the same molecules")


def save_samples_grid(run_dir: str | Path, path: str | Path, n: int = 20) -> Path:
    """Picture of ``n`` molecules decoded from prior samples (at the run's temperature)."""
    from .evaluate import load_run

    cfg, model = load_run(run_dir)
    smiles = sample(model, tokenizer_of(cfg), n, max_len=cfg.max_len + 1,
                    temperature=cfg.temperature)
    return draw(smiles, path)


def save_interpolation_grid(run_dir: str | Path, path: str | Path, steps: int = 10) -> Path:
    """Picture of the path between the first two molecules of the MOSES test set."""
    from .evaluate import load_run

    cfg, model = load_run(run_dir)
    a, b = load_smiles(cfg.source, "test")[:2]
    return draw(interpolate(model, tokenizer_of(cfg), a, b, steps, max_len=cfg.max_len + 1),
                path)
