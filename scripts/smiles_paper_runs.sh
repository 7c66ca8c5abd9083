#!/usr/bin/env bash
# The spCauchy paper's SMILES experiment (preset smiles-paper), on one budget for every model:
# spCauchy on S^127, the Gaussian with d = 128 (the same latent vector length) and with d = 64
# (the same number of posterior parameters), seed 0, into results/smiles/paper (one cell per
# model, then the tables). EPOCHS (default: the preset's 500, the paper's budget; about two
# hours' worth on this 2-core CPU is ~8) and PRECISION (default bf16; fp32 on a GPU if preferred)
# set the budget; further arguments go to `spcauchy compare` (e.g. --set progress=false).
# Restartable like every compare grid: finished cells are reused, interrupted ones resumed.
set -euo pipefail
cd "$(dirname "$0")/.."
cmd=${SPCAUCHY:-spcauchy}
out=${OUT:-results/smiles/paper}
budget=(--set "precision=${PRECISION:-bf16}")
if [ -n "${EPOCHS:-}" ]; then budget+=(--set "epochs=$EPOCHS"); fi
$cmd compare --config smiles-paper --families spcauchy --dims 127 --seeds 0 --jobs 1 \
  "${budget[@]}" --out "$out" "$@"
$cmd compare --config smiles-paper --families normal --dims 128 64 --seeds 0 --jobs 1 \
  "${budget[@]}" --out "$out" "$@"
