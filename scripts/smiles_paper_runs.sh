#!/usr/bin/env bash
# The spCauchy paper's SMILES experiment (preset smiles-paper), on one budget for every model:
# spCauchy on S^127, the Gaussian with d = 128 (the same latent vector length) and with d = 64
# (the same number of posterior parameters), seed 0, into results/smiles/paper (one cell per
# model, then the tables). EPOCHS (default: the preset's 500, the paper's budget; about two
# hours' worth on one core of this 2-core CPU is ~8) and PRECISION (default bf16; fp32 on a GPU if
# preferred) set the budget; further arguments go to `spcauchy compare` (e.g. --set progress=false).
# DECODER=gru trains the autoregressive GRU VAE instead (spCauchy S^127, the Gaussian d = 128 and
# spCauchy on 16 × S^7, also 128 coordinates; into results/smiles/paper-gru): the same molecules,
# KL schedule and metrics, with the GRU's own recipe from smiles-moses (256 units, embeddings of
# 64, Adam 1e-3, batch 128).
# Restartable like every compare grid: finished cells are reused, interrupted ones resumed. Last,
# the MOSES metric table of their prior samples: <out>/molecule_metrics.md (10,000 per cell).
set -euo pipefail
cd "$(dirname "$0")/.."
cmd=${SPCAUCHY:-spcauchy}
budget=(--set "precision=${PRECISION:-bf16}")
if [ -n "${EPOCHS:-}" ]; then budget+=(--set "epochs=$EPOCHS"); fi
# one `compare` per cell: "family d factors"
cells=("spcauchy 127 1" "normal 128 1" "normal 64 1")
out=${OUT:-results/smiles/paper}
if [ "${DECODER:-transformer}" = gru ]; then
  cells=("spcauchy 127 1" "normal 128 1" "spcauchy 112 16")
  out=${OUT:-results/smiles/paper-gru}
  budget+=(--set model=gru --set "hidden=[256]" --set embed_dim=64 --set lr=1e-3
           --set optimizer=adam --set weight_decay=0.0 --set batch_size=128)
fi
for cell in "${cells[@]}"; do
  read -r family d factors <<< "$cell"
  $cmd compare --config smiles-paper --families "$family" --dims "$d" --seeds 0 --jobs 1 \
    --set factors="$factors" "${budget[@]}" --out "$out" "$@"
done
# the MOSES metric table of every evaluated cell's prior samples (test metrics as written)
mapfile -t done < <(find "$out" -mindepth 2 -maxdepth 2 -name test_metrics.json -printf '%h\n' | sort)
$cmd evaluate "${done[@]}" --table-only --table "$out/molecule_metrics.md"
