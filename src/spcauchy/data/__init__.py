"""Datasets (MOSES / QM9 SMILES) and the SMILES tokenizer."""
