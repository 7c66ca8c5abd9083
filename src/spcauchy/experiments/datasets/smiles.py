"""SMILES molecules (MOSES, QM9): the data, its models, per-run metrics, the MOSES metric table,
sampling, interpolation and pictures.

MOSES comes from the ``molsets`` wheel and QM9 from ``qm9pack``, located through the installed
distributions' file lists; the packages are never imported (their code is incompatible with
current numpy/pandas and not needed).
Selection shuffles with a seed, then keeps the first ``n`` molecules that RDKit parses and whose
token count is at most ``max_len``; everything skipped is counted in ``SelectionStats``.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import math
import random
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from rdkit.Chem import Draw
from torch import Tensor, nn

from ..config import Config, ConfigError
from ..data.packages import package_file
from ..data.split import DataBundle, shard_order
from ..data.tokenizer import SPECIAL_TOKENS, Tokenizer, get_representation
from ..files import write_atomic
from ..metrics import molecules as M
from ..metrics.fcd import FCDScorer
from ..metrics.table import format_table, metrics_table, reference_set
from ..models.smiles_gru import gru_vae
from ..models.smiles_transformer import transformer_vae
from ..rng import seeded
from ..rundir import read_history, read_test_metrics
from .base import Dataset, Run, check_same_data


def _read_csv_column(stream: io.TextIOBase, column: str) -> list[str]:
    reader = csv.reader(stream)
    header = next(reader)
    idx = header.index(column)
    return [row[idx] for row in reader]


def _moses(split: str) -> list[str]:
    path = package_file("molsets", f"moses/dataset/data/{split}.csv.gz")
    with gzip.open(path, "rt", encoding="utf-8", newline="") as f:
        return _read_csv_column(f, "SMILES")


QM9_TEST_FRACTION = 0.1
QM9_SPLIT_SEED = 0


def _qm9(split: str) -> list[str]:
    """QM9 has no official split: a fixed seeded permutation, the last 10% is ``test``."""
    smiles: list[str] = []
    csv.field_size_limit(1 << 24)  # QM9 rows carry long coordinate/frequency fields
    for part in (1, 2, 3):
        path = package_file("qm9pack", f"qm9pack/data/qm9_part{part}.csv")
        with open(path, encoding="utf-8", newline="") as f:
            smiles += _read_csv_column(f, "SMILES")
    random.Random(QM9_SPLIT_SEED).shuffle(smiles)
    n_test = round(QM9_TEST_FRACTION * len(smiles))
    return smiles[-n_test:] if split == "test" else smiles[:-n_test]


# source -> (split names, reader)
SOURCES: dict[str, tuple[tuple[str, ...], Callable[[str], list[str]]]] = {
    "moses": (("train", "test", "test_scaffolds"), _moses),
    "qm9": (("train", "test"), _qm9),
}


def load_smiles(source: str = "moses", split: str = "train") -> list[str]:
    """All raw SMILES strings of one split, in file order (unfiltered)."""
    if source not in SOURCES:
        raise ValueError(f"source must be one of {sorted(SOURCES)}, got {source!r}")
    splits, reader = SOURCES[source]
    if split not in splits:
        raise ValueError(f"split for {source!r} must be one of {list(splits)}, got {split!r}")
    return reader(split)


@dataclass
class SelectionStats:
    """Counts of the strings examined by ``select_smiles``."""

    examined: int = 0
    kept: int = 0
    malformed: int = 0  # RDKit cannot parse it, or the representation cannot write it
    too_long: int = 0  # more than max_len tokens

    def as_dict(self) -> dict[str, int]:
        return dict(vars(self))


def select_smiles(
    smiles: Sequence[str],
    *,
    n: int | None = None,
    max_len: int | None = None,
    seed: int = 0,
    representation: str = "smiles",
) -> tuple[list[str], SelectionStats]:
    """Seeded subset of at most ``n`` parseable molecules of at most ``max_len`` tokens.

    The strings are shuffled with ``seed`` (file order if ``n`` is None) and examined until ``n``
    are kept; skipped strings are counted, never raised. Kept strings are returned unchanged.
    """

    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
        raise ValueError(f"n must be a positive integer or None, got {n!r}")
    if max_len is not None and (not isinstance(max_len, int) or max_len < 1):
        raise ValueError(f"max_len must be a positive integer or None, got {max_len!r}")
    rep = get_representation(representation)
    order: Iterable[int] = range(len(smiles))
    if n is not None:
        order = list(order)
        random.Random(seed).shuffle(order)
    stats, kept = SelectionStats(), []
    for i in order:
        if n is not None and len(kept) == n:
            break
        s = smiles[i]
        stats.examined += 1
        try:
            ok = M.get_mol(s) is not None
            n_tokens = len(rep.tokenize(s)) if ok else 0
        except ValueError:  # the representation cannot write or split it
            ok = False
        if not ok:
            stats.malformed += 1
        elif max_len is not None and n_tokens > max_len:
            stats.too_long += 1
        else:
            kept.append(s)
    stats.kept = len(kept)
    return kept, stats


@dataclass
class TokenSplit:
    """Molecules as padded token rows ``x`` (N, T) int64 and their source strings ``smiles``."""

    x: Tensor
    smiles: list[str]
    pad_id: int = 0

    @classmethod
    def encode(cls, smiles: Sequence[str], tokenizer: Tokenizer) -> TokenSplit:
        """Rows ``[<bos>, t1 .. tn, <eos>, <pad> ..]``, right-padded to the longest molecule."""
        ids = [torch.tensor(tokenizer.encode(s), dtype=torch.long) for s in smiles]
        x = torch.nn.utils.rnn.pad_sequence(ids, batch_first=True, padding_value=tokenizer.pad_id)
        return cls(x, list(smiles), tokenizer.pad_id)

    def __len__(self) -> int:
        return self.x.shape[0]

    def head(self, n: int) -> TokenSplit:
        return TokenSplit(self.x[:n], self.smiles[:n], self.pad_id)

    def subset(self, indices: Sequence[int]) -> TokenSplit:
        """The molecules at ``indices``, in that order."""
        return TokenSplit(self.x[list(indices)], [self.smiles[i] for i in indices], self.pad_id)

    def batches(self, batch_size: int, *, seed: int = 0, epoch: int = 0, shuffle: bool = False,
                rank: int = 0, world: int = 1) -> Iterator[dict[str, Tensor]]:
        """Yield {"x": tokens (B, T_b)}, cut to the longest molecule of the batch (see
        ``shard_order``)."""
        order = shard_order(len(self), seed=seed, epoch=epoch, shuffle=shuffle, rank=rank,
                            world=world)
        for start in range(0, len(order), batch_size):
            x = self.x[order[start:start + batch_size]]
            yield {"x": x[:, : int((x != self.pad_id).sum(1).max())]}


# Validation molecules are held out of the selected training subset: 5%, at most this many
# (unless a count is given).
MAX_VAL = 5000
# ``holdout``: where the test split comes from (the source's test split, or the validation split)
HOLDOUTS = ("validation", "test")


def load_bundle(source: str, *, n_train: int, max_len: int, representation: str = "smiles",
                vocab: Sequence[str] = (), n_test: int = 0, seed: int = 0, n_val: int = 0,
                holdout: str = "validation") -> DataBundle:
    """Train / validation / test token splits of a seeded subset of ``source``.

    ``n_train`` molecules (0: all) of at most ``max_len`` tokens train the model and a further
    ``n_val`` (0: 5%, ≤ ``MAX_VAL``) validate it, all from the source's train split. Test
    molecules come from the source's test split (``n_test``: the first n selected, 0: all), or,
    with ``holdout = "test"``, the test split *is* the validation split: a two-way protocol that
    monitors and reports on the same held-out molecules. The vocabulary is ``vocab`` or, if
    empty, the tokens of the training molecules; other tokens become ``<unk>``.
    ``config`` of the bundle records the vocabulary and the selection counts.
    """
    if holdout not in HOLDOUTS:
        raise ValueError(f"holdout must be one of {', '.join(HOLDOUTS)}, got {holdout!r}")
    pool = load_smiles(source, "train")
    n_val = n_val or min(MAX_VAL, max(1, (n_train or len(pool)) // 20))
    picked, stats = select_smiles(pool, n=(n_train + n_val) if n_train else None,
                                  max_len=max_len, seed=seed, representation=representation)
    if len(picked) < 2:
        raise ValueError(f"only {len(picked)} usable molecules in {source} train")
    n_val = min(n_val, len(picked) // 2)
    train, val = picked[:-n_val], picked[-n_val:]
    tok = (Tokenizer(vocab, representation) if vocab
           else Tokenizer.from_smiles(train, representation))
    info: dict = {"train_selection": stats.as_dict(), "n_val": n_val}
    if holdout == "test":
        splits = [TokenSplit.encode(part, tok) for part in (train, val)]
        splits.append(splits[1])
        info["test_selection"] = "the validation split"
    else:
        test, test_stats = select_smiles(load_smiles(source, "test"), n=n_test or None,
                                         max_len=max_len, seed=seed,
                                         representation=representation)
        splits = [TokenSplit.encode(part, tok) for part in (train, val, test)]
        info["test_selection"] = test_stats.as_dict()
    return DataBundle(*splits, config={"vocab": tok.itos[len(SPECIAL_TOKENS):]}, info=info)


def _load(cfg: Config) -> DataBundle:
    # data seeds are constants: every run of a SMILES preset sees the same molecules
    return load_bundle(cfg.source, n_train=cfg.train_limit, max_len=cfg.max_len,
                       representation=cfg.representation, vocab=cfg.vocab,
                       n_test=cfg.eval_limit, n_val=cfg.val_limit, holdout=cfg.holdout)


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
    gen = torch.Generator(_device(model)).manual_seed(seed)
    like = next(model.parameters())
    out: list[str] = []
    with seeded(seed, like.device):
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


def epoch_metrics(model: nn.Module, cfg: Config, val: TokenSplit) -> dict[str, float]:
    """``recon_accuracy``: exact reconstruction of ``val`` (greedy decoding of the posterior
    mode, canonical match); deterministic, so it can follow every epoch of training."""
    recon = reconstruct(model, tokenizer_of(cfg), val, max_len=cfg.max_len + 1)
    return {"recon_accuracy": M.reconstruction_accuracy(val.smiles, recon)}


def default_metrics(run: Run, test: TokenSplit) -> dict[str, float]:
    """Exact reconstruction of held-out molecules (``epoch_metrics``) and validity and variety
    along geodesic/linear interpolations."""
    return epoch_metrics(run.model, run.cfg, test) | interpolation_metrics(
        run.model, tokenizer_of(run.cfg), test, max_len=run.cfg.max_len + 1)


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


def sc_vae_metrics(run: Run, test: TokenSplit) -> dict[str, float]:
    """The spCauchy paper's per-run metrics: exact reconstruction (greedy decoding of the
    posterior mode; ``recon_accuracy``: canonical match, ``recon_string_accuracy``: the same
    string, the authors' test) of ``test`` and of a seeded subset of the training molecules
    (``*_train``), and ``interpolation_protocol`` on ``test``."""
    model, tok, max_len = run.model, tokenizer_of(run.cfg), run.cfg.max_len + 1
    train = run.data.train
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


def run_metrics(run: Run, test: TokenSplit) -> dict[str, float]:
    """Per-run molecule metrics on the held-out molecules, by the config's protocol."""
    return RUN_PROTOCOLS[run.cfg.molecule_metrics](run, test)


def draw(smiles: Sequence[str], path: str | Path, *, per_row: int = 5,
         legends: Sequence[str] | None = None) -> Path:
    """RDKit grid image of the molecules; an invalid string leaves its cell blank."""
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


def metric_table(runs: Sequence[Run], *, n: int, out: str | Path,
                 reference_size: int = REFERENCE_SIZE, seed: int = 0) -> dict[str, dict]:
    """MOSES metrics of ``n`` prior samples per run and of a same-size subsample of the runs'
    (common) training molecules.

    Writes ``out`` (markdown: the runs' held-out metrics, then the sample metrics) and ``out``
    with suffix .json (the sample metrics); the samples of each run go to
    ``<out stem>.<run>.smi`` beside it. A run without a model (kept without its weights, see
    ``load_recorded``) is scored from that file as an earlier table wrote it. References: seeded
    subsamples of ``reference_size`` molecules of the MOSES test and scaffold-test sets.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    check_same_data([run.cfg for run in runs], DATASET.same_data)
    models = [run.model for run in runs if run.model is not None]
    device = str(_device(models[0])) if models else "cpu"
    generated, recorded = {}, []
    for run in runs:
        path = out.with_name(f"{out.stem}.{run.dir.name}.smi")
        if run.model is None:
            generated[run.dir.name] = _recorded_samples(run.dir, path, n)
            recorded.append(f"`{path.name}`")
            continue
        generated[run.dir.name] = sample(run.model, tokenizer_of(run.cfg), n,
                                         max_len=run.cfg.max_len + 1,
                                         temperature=run.cfg.temperature, seed=seed)
        write_smi(generated[run.dir.name], path)
    fcd = FCDScorer(device)
    refs = []
    for ref_name, split in (("Test", "test"), ("TestSF", "test_scaffolds")):
        pool = load_smiles("moses", split)
        subset = random.Random(seed).sample(pool, min(reference_size, len(pool)))
        refs.append(reference_set(ref_name, subset, fcd, device))
    table = metrics_table(generated, runs[0].data.train.smiles, refs, seed=seed, fcd=fcd,
                          device=device)
    write_atomic(out.with_suffix(".json"), json.dumps(table, indent=2) + "\n")
    held_out = {run.dir.name: _test_metrics(run.dir) for run in runs}
    write_atomic(out, f"Held-out molecules (`spcauchy evaluate`, test_metrics.json):\n\n"
                 f"{format_table(held_out)}\n\n"
                 f"{n} prior samples per run (temperature as configured), references: "
                 f"{reference_size} molecules of MOSES test (Test) and test_scaffolds (TestSF):"
                 f"\n\n{format_table(table)}\n"
                 + (f"\nRead from the samples recorded when the weights still existed: "
                    f"{', '.join(recorded)}.\n" if recorded else ""))
    return table


def _recorded_samples(run: Path, path: Path, n: int) -> list[str]:
    """The ``n`` samples an earlier table drew from ``run`` (one SMILES per line, invalid
    strings and empty decodings included)."""
    try:
        lines = path.read_text().split("\n")[:-1] if path.is_file() else []
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text file of SMILES (recorded samples of {run})"
                          ) from None
    if len(lines) != n:
        found = f"holds {len(lines)}" if path.is_file() else "is missing"
        raise ConfigError(f"{run} has no model (best.pt missing) and its recorded samples file "
                          f"{path} {found}, not {n}: retrain the run or leave it out")
    return lines


def _test_metrics(run: Path) -> dict[str, float]:
    return {"epochs": len(read_history(run)), **read_test_metrics(run)}


def save_samples_grid(run: Run, path: str | Path, n: int = 20) -> Path:
    """Picture of ``n`` molecules decoded from prior samples (at the run's temperature)."""
    cfg = run.cfg
    smiles = sample(run.model, tokenizer_of(cfg), n, max_len=cfg.max_len + 1,
                    temperature=cfg.temperature)
    return draw(smiles, path)


def save_interpolation_grid(run: Run, path: str | Path, steps: int = 10) -> Path:
    """Picture of the path between the first two molecules of the source's test set."""
    cfg = run.cfg
    a, b = load_smiles(cfg.source, "test")[:2]
    return draw(interpolate(run.model, tokenizer_of(cfg), a, b, steps, max_len=cfg.max_len + 1),
                path)


def _sample(run: Run, n: int, out: Path | None, temperature: float | None, seed: int) -> str:
    temperature = run.cfg.temperature if temperature is None else temperature
    smiles = sample(run.model, tokenizer_of(run.cfg), n, max_len=run.cfg.max_len + 1,
                    temperature=temperature, seed=seed)
    path = write_smi(smiles, out or run.dir / "samples.smi")
    return (f"{path}: {len(smiles)} molecules, {M.validity(smiles):.1%} valid "
            f"(temperature {temperature})")


def _interpolate(run: Run, ends: list[str], steps: int, out: Path | None) -> str:
    if len(ends) != 2:
        raise ConfigError("give two SMILES strings to interpolate between")
    try:
        path = interpolate(run.model, tokenizer_of(run.cfg), *ends, steps,
                           max_len=run.cfg.max_len + 1)
    except ValueError as err:
        raise ConfigError(str(err)) from None
    picture = draw(path, out or run.dir / "interpolation.png")
    return "\n".join([*path, f"valid between the ends: {M.validity(path[1:-1]):.0%}",
                      str(picture)])


DATASET = Dataset(
    name="smiles",
    load=_load,
    models={"gru": gru_vae, "transformer": transformer_vae},
    columns=(("IS-LL", "log_lik"), ("ELBO", "elbo"), ("recon", "recon"), ("KL", "kl"),
             ("active", "active_units"), ("active (scaled)", "active_units_scaled"),
             ("exact recon", "recon_accuracy"), ("valid interp.", "interp_valid"),
             ("distinct interp.", "interp_distinct"), ("k", "k"), ("n", "n")),
    same_data=("dataset", "source", "train_limit", "val_limit", "max_len", "representation",
               "holdout"),
    figures={"samples.png": save_samples_grid, "interpolation.png": save_interpolation_grid},
    sample=_sample,
    interpolate=_interpolate,
    metrics=run_metrics,
    epoch_metrics=epoch_metrics,
    unit="molecule",
)
