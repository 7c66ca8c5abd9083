#!/usr/bin/env bash
# The spCauchy paper's MNIST table (preset mnist-cnn): 4 families × d ∈ {2, 3, 5, 10, 20} ×
# seeds {0, 1, 2}, 40 epochs, bf16 autocast, into results/mnist/cnn (the float32 check cell:
# see results/mnist/README.md).
# Restartable: rerun it and finished cells are reused, interrupted ones resumed. Cells are locked,
# so several copies of this script (or machines sharing the directory) split the work.
# JOBS cells train at once (default: one per core); SPCAUCHY=... picks the command; further
# arguments go to `spcauchy compare` (e.g. --set progress=false for a log file).
set -euo pipefail
cd "$(dirname "$0")/.."
cmd=${SPCAUCHY:-spcauchy}
jobs=${JOBS:-$(nproc)}
$cmd compare --config mnist-cnn --set precision=bf16 --families normal spcauchy vmf power \
  --dims 2 3 5 10 20 --seeds 0 1 2 --jobs "$jobs" --out results/mnist/cnn "$@"
