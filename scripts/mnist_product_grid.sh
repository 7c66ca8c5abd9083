#!/usr/bin/env bash
# Beyond one sphere (preset mnist-mlp, the S-VAE protocol of Davidson et al. 2018), trained to
# convergence: early stopping with patience 20 on the validation ELBO, at most 300 epochs, seed 0,
# into results/mnist/product (one table for every cell):
# - the Gaussian and the four single-sphere families at d ∈ {2, 5, 10, 20, 40}, so the whole S-VAE
#   table stands at one budget;
# - spCauchy and vMF on products of small spheres: d = 10 as 2 × S^5, d = 20 as 5 × S^4, d = 40 as
#   10 × S^4 (S^4: low enough that one concentration per factor fits, as in the low-d rows where
#   the spherical families lead; S^5 at d = 10, as 4 does not divide 10);
# - the mixed latent spCauchy S^{d/2} × R^{d/2};
# - last, spCauchy and vMF on 2 × S^10 at d = 20: larger factors, where spCauchy's tails are
#   light (results/mnist/product/equal_kl_tails.md), against the 5 × S^4 cells;
# - spCauchy and vMF on 5 × S^2 at d = 10: factors of d = 2, where one sphere beats the Gaussian in
#   the S-VAE paper's table.
# JOBS cells train at once (default: one per core); SEEDS (default 0) adds seeds; SPCAUCHY picks
# the command; further arguments go to every `spcauchy compare` (e.g. --set progress=false).
# Restartable: finished cells are reused, interrupted ones resumed, several copies split the work.
set -euo pipefail
cd "$(dirname "$0")/.."
cmd=${SPCAUCHY:-spcauchy}
read -r -a seeds <<< "${SEEDS:-0}"
grid=(--config mnist-mlp --set epochs=300 --set early_stop=20 --seeds "${seeds[@]}"
      --jobs "${JOBS:-$(nproc)}" --out "${OUT:-results/mnist/product}")
# the goal's cells first (d = 10, 20, 40: Gaussian, one sphere, products, mixed), one d at a time
for cell in "10 2" "20 5" "40 10"; do
  read -r d m <<< "$cell"
  $cmd compare "${grid[@]}" --families normal spcauchy --dims "$d" "$@"
  $cmd compare "${grid[@]}" --families spcauchy vmf --dims "$d" --set factors="$m" "$@"
  $cmd compare "${grid[@]}" --families spcauchy+normal --dims "$d" --set sphere_dim=$((d / 2)) "$@"
done
$cmd compare "${grid[@]}" --families normal spcauchy vmf power --dims 2 5 10 20 40 "$@"
$cmd compare "${grid[@]}" --families spcauchy vmf --dims 20 --set factors=2 "$@"
$cmd compare "${grid[@]}" --families spcauchy vmf --dims 10 --set factors=5 "$@"
