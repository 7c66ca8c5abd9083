"""SMILES data: package files, counted skipping of bad molecules, seeded subsets, batching."""


import pytest
import torch

from packages import needs
from spcauchy.experiments.data.packages import DataError, package_file
from spcauchy.experiments.data.tokenizer import Tokenizer
from spcauchy.experiments.datasets.smiles import TokenSplit, load_smiles, select_smiles

GOOD = ["CCO", "c1ccccc1", "CC(=O)Nc1ccc(O)cc1", "CCN(CC)CC", "O=C=O"]
BAD = ["C1CC", "xyz", "", "c1cccc1", "C(C"]  # unclosed ring, junk, empty, bad aromatic, branch
LONG = ["CCCCCCCCCCCCCCCCCCCC"]  # 20 tokens


def test_bad_and_long_smiles_are_skipped_and_counted():
    kept, stats = select_smiles(GOOD + BAD + LONG, max_len=18)  # longest GOOD has 18 tokens
    assert kept == GOOD  # file order when n is None
    assert stats.as_dict() == {"examined": 11, "kept": 5, "malformed": 5, "too_long": 1}


def test_unwritable_string_counts_as_malformed():
    # RDKit parses a space-separated name, the tokenizer cannot: counted, not raised
    kept, stats = select_smiles(["CCO", "CCO extra"])
    assert kept == ["CCO"] and stats.malformed == 1


def test_seeded_subset_is_reproducible_and_stops_early():
    pool = [("C" * i) for i in range(1, 41)] + BAD
    a, sa = select_smiles(pool, n=10, seed=3)
    b, _ = select_smiles(pool, n=10, seed=3)
    c, _ = select_smiles(pool, n=10, seed=4)
    assert a == b and a != c and len(a) == 10
    assert sa.kept == 10 and sa.examined == 10 + sa.malformed + sa.too_long < len(pool)


@pytest.mark.parametrize(("kwargs", "name"), [({"n": 0}, "n"), ({"max_len": 0}, "max_len"),
                                              ({"representation": "x"}, "representation")])
def test_select_invalid_arguments(kwargs, name):
    with pytest.raises(ValueError, match=name):
        select_smiles(GOOD, **kwargs)


def test_missing_package_error_tells_how_to_install():
    with pytest.raises(DataError, match="pip install"):
        package_file("no-such-data-package-xyz", "a.csv")
    with pytest.raises(ValueError, match="source"):
        load_smiles("zinc", "train")
    with pytest.raises(ValueError, match="split"):
        load_smiles("moses", "valid")


def test_token_split_pads_with_bos_eos():
    tok = Tokenizer.from_smiles(GOOD)
    split = TokenSplit.encode(GOOD, tok)
    lengths = torch.tensor([len(tok.tokenize(s)) + 2 for s in GOOD])
    assert split.x.shape == (len(GOOD), int(lengths.max())) and split.x.dtype == torch.long
    assert split.smiles == GOOD and len(split) == len(GOOD)
    assert (split.x[:, 0] == tok.bos_id).all()
    for row, n, s in zip(split.x, lengths, GOOD, strict=True):
        assert row[n - 1] == tok.eos_id and (row[n:] == tok.pad_id).all()
        assert tok.decode(row.tolist()) == s
    # batches are cut to their longest molecule
    batch = next(split.head(1).batches(1))["x"]
    assert batch.shape == (1, int(lengths[0])) and tok.decode(batch[0].tolist()) == GOOD[0]


@needs("molsets")
def test_moses_split_sizes():
    assert len(load_smiles("moses", "test")) == 176074
    assert len(load_smiles("moses", "test_scaffolds")) == 176225
    train = load_smiles("moses", "train")
    assert len(train) == 1584663
    kept, _ = select_smiles(train, n=500, max_len=100, seed=0)
    assert len(kept) == 500 and set(kept) <= set(train)


@needs("qm9pack")
def test_qm9_split_is_fixed_and_disjoint():
    train, test = load_smiles("qm9", "train"), load_smiles("qm9", "test")
    assert len(train) + len(test) == 130831
    assert round(0.1 * (len(train) + len(test))) == len(test)
    assert test == load_smiles("qm9", "test")
    kept, stats = select_smiles(test, n=200, seed=0)
    assert len(kept) == 200 and stats.malformed + stats.kept == stats.examined


def test_selfies_selection_counts_tokens_in_selfies():
    pytest.importorskip("selfies")
    kept, stats = select_smiles(["CCO", "C1CC", "c1ccccc1"], max_len=3, representation="selfies")
    assert kept == ["CCO"]  # [C][C][O]; benzene needs more than 3 SELFIES tokens
    assert stats.malformed == 1 and stats.too_long == 1
