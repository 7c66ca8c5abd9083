"""Dataset-independent data containers (splits, batches) and the SMILES tokenizer."""
