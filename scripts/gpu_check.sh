#!/usr/bin/env bash
# On a machine with a CUDA GPU, from the repository root of an installed checkout (README, Quick
# start): the test suite, whose device-parametrized tests then run on CUDA as well, and the
# latent-layer benchmark on the GPU (eager and compiled, batch 1024 and 8192), written to
# results/benchmarks/latent_layer_gpu.md. Stops at the first failing step.
set -euo pipefail
cd "$(dirname "$0")/.."
python -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'no CUDA device')"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
python -m pytest -q -x -p no:cacheprovider
python benchmarks/latent_layer.py --device cuda --batches 1024 8192 --rounds 3 --checks 20 \
  --out results/benchmarks/latent_layer_gpu.md
