"""Molecules from a trained SMILES VAE: prior samples, reconstructions, latent interpolations,
pictures, and the MOSES metric table of several runs with its training-subsample reference row.

Latent points come from ``model.posterior`` / ``model.prior`` (the densities the model was
trained with); decoding is the model's ``generate`` (greedy or with a temperature): token by
token for the GRU, all positions at once for the transformer.
"""

from __future__ import annotations

import json
import math
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


def default_metrics(model: nn.Module, cfg: Config, test: TokenSplit) -> dict[str, float]:
    """Exact reconstruction of held-out molecules (greedy decoding of the posterior mode,
    canonical match) and validity and variety along geodesic/linear interpolations."""
    tok, max_len = tokenizer_of(cfg), cfg.max_len + 1
    recon = reconstruct(model, tok, test, max_len=max_len)
    return {"recon_accuracy": M.reconstruction_accuracy(test.smiles, recon),
            **interpolation_metrics(model, tok, test, max_len=max_len)}


# The spCauchy paper's protocol (the authors' examples/SMILES.ipynb): exact reconstruction of the
# training and validation molecules; 30 random pairs of validation molecules whose posterior
# means have cosine similarity ≤ 0.5, 0.2, 0 (up to 100 draws per pair, else the pair is
# skipped), 11 points from one to the other, the mean ± std over pairs of the fraction of the 11
# decoded points that are valid molecules.
SC_VAE_TRAIN_RECON = 3175  # seeded subset of training molecules (the authors use all 12,698)
SC_VAE_PAIRS, SC_VAE_STEPS, SC_VAE_TRIES = 30, 11, 100
SC_VAE_THRESHOLDS = (0.5, 0.2, 0.0)
SC_VAE_SEED = 42  # the authors' seed (their molecules differ from ours anyway)
# bins (low, high] of the cosine of unconstrained pairs, for the validity of the inner points
COSINE_BINS = {"le_0": (-math.inf, 0.0), "0_0.2": (0.0, 0.2), "0.2_0.5": (0.2, 0.5),
               "gt_0.5": (0.5, math.inf)}


@torch.no_grad()
def _posterior_points(model: nn.Module, split: TokenSplit, batch_size: int = 500
                      ) -> tuple[torch.Tensor, torch.Tensor]:
    """Posterior modes (interpolation ends) and unit posterior means (for cosines), (N, D)."""
    modes, means = [], []
    for batch in split.batches(batch_size):
        q = model.posterior(batch["x"].to(_device(model)))
        modes.append(q.mode)
        means.append(q.mean)
    return torch.cat(modes), torch.nn.functional.normalize(torch.cat(means), dim=-1)


def _pairs(unit: torch.Tensor, rng: random.Random, pairs: int, threshold: float, tries: int
           ) -> list[tuple[int, int, float]]:
    """Random pairs (i, j, cosine) with cosine ≤ threshold; a pair not found in ``tries`` draws is
    skipped (as the authors do)."""
    out = []
    for _ in range(pairs):
        for _ in range(tries):
            i, j = rng.sample(range(len(unit)), 2)
            cos = float(unit[i] @ unit[j])
            if cos <= threshold:
                out.append((i, j, cos))
                break
    return out


@torch.no_grad()
def _path_smiles(model: nn.Module, tok: Tokenizer, a: torch.Tensor, b: torch.Tensor, steps: int,
                 max_len: int) -> list[str]:
    t = torch.linspace(0, 1, steps, dtype=a.dtype, device=a.device)
    return tok.decode_batch(model.generate(model.latent.path(a, b, t), max_len))


def interpolation_protocol(model: nn.Module, tok: Tokenizer, split: TokenSplit, *, max_len: int,
                           pairs: int = SC_VAE_PAIRS, steps: int = SC_VAE_STEPS,
                           thresholds: Sequence[float] = SC_VAE_THRESHOLDS,
                           tries: int = SC_VAE_TRIES, seed: int = SC_VAE_SEED
                           ) -> dict[str, float]:
    """The paper's interpolation metrics on ``split`` (geodesic paths for spherical latents,
    straight lines for Gaussian ones, greedy decoding).

    ``sc_interp_le_{c}``: for pairs with cosine ≤ c, the mean (``_std``: population std) over
    pairs of the fraction of the ``steps`` points, ends included, that are valid; ``_pairs``:
    pairs found. ``interp_valid``: of unconstrained pairs, the fraction of valid points strictly
    between the ends, overall and per cosine bin (``interp_valid_bin_*``, NaN for an empty bin,
    ``interp_pairs_bin_*`` pairs); ``interp_distinct`` as in ``interpolation_metrics``.
    """
    modes, unit = _posterior_points(model, split)
    out: dict[str, float] = {}
    for threshold in (math.inf, *thresholds):
        # the authors reseed before every threshold: the same draws are tried first
        found = _pairs(unit, random.Random(seed), pairs, threshold, tries)
        paths = [_path_smiles(model, tok, modes[i], modes[j], steps, max_len)
                 for i, j, _ in found]
        valid = torch.tensor([[M.get_mol(s) is not None for s in p] for p in paths],
                             dtype=torch.float64).view(len(paths), steps)
        if threshold < math.inf:
            per_path = valid.mean(1)
            key = f"sc_interp_le_{threshold:g}"
            out[key] = per_path.mean().item() if paths else math.nan
            out[f"{key}_std"] = per_path.std(correction=0).item() if paths else math.nan
            out[f"{key}_pairs"] = len(paths)
            continue
        inner = valid[:, 1:-1]
        out["interp_valid"] = inner.mean().item() if paths else math.nan
        out["interp_distinct"] = (sum(len(set(M.valid_canonical(p))) for p in paths)
                                  / (steps * len(paths))) if paths else math.nan
        cosines = torch.tensor([c for _, _, c in found], dtype=torch.float64)
        for name, (low, high) in COSINE_BINS.items():
            rows = (cosines > low) & (cosines <= high)
            out[f"interp_valid_bin_{name}"] = inner[rows].mean().item() if rows.any() else math.nan
            out[f"interp_pairs_bin_{name}"] = int(rows.sum())
    return out


def sc_vae_metrics(model: nn.Module, cfg: Config, test: TokenSplit) -> dict[str, float]:
    """The spCauchy paper's per-run metrics: exact reconstruction (greedy decoding of the
    posterior mode; ``recon_accuracy``: canonical match, ``recon_string_accuracy``: the same
    string, the authors' test) of ``test`` and of a seeded subset of the training molecules
    (``*_train``), and ``interpolation_protocol`` on ``test``."""
    from .data import DATASETS

    tok, max_len = tokenizer_of(cfg), cfg.max_len + 1
    train = DATASETS[cfg.dataset](cfg).train
    picked = random.Random(SC_VAE_SEED).sample(range(len(train)),
                                               min(SC_VAE_TRAIN_RECON, len(train)))
    out: dict[str, float] = {}
    for suffix, split in (("", test), ("_train", train.subset(picked))):
        recon = reconstruct(model, tok, split, max_len=max_len)
        out[f"recon_accuracy{suffix}"] = M.reconstruction_accuracy(split.smiles, recon)
        out[f"recon_string_accuracy{suffix}"] = (
            sum(r == s for r, s in zip(recon, split.smiles, strict=True)) / len(recon))
    return out | interpolation_protocol(model, tok, test, max_len=max_len)


# config ``molecule_metrics`` → the per-run metrics written to test_metrics.json
RUN_PROTOCOLS = {"default": default_metrics, "sc-vae": sc_vae_metrics}


def run_metrics(model: nn.Module, cfg: Config, test: TokenSplit) -> dict[str, float]:
    """Per-run molecule metrics on the held-out molecules, by the config's protocol."""
    return RUN_PROTOCOLS[cfg.molecule_metrics](model, cfg, test)


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
    keys = ("dataset", "source", "train_limit", "val_limit", "max_len", "representation",
            "holdout")
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
