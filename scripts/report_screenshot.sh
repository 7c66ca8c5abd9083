#!/usr/bin/env bash
# Headless-browser check of the HTML report's layout at 1280 px: trains tiny MNIST runs (spCauchy
# and Gaussian, d = 2, so the Mollweide map is drawn) and a tiny SMILES run, writes their reports
# and screenshots them with Chromium into docs/images/. Needs `chromium` (Debian: apt install
# chromium), the MNIST and MOSES data wheels and a few minutes of CPU. The runs are throw-away:
# the screenshots show layout, not results.
set -euo pipefail
cd "$(dirname "$0")/.."
cmd=${SPCAUCHY:-spcauchy}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for family in spcauchy normal; do
  $cmd train --config demo --out "$work/$family" --set family=$family --set latent_dim=2 \
    --set epochs=2 --set train_limit=3000 --set val_limit=1000 --set progress=false > /dev/null
  $cmd evaluate "$work/$family" > /dev/null
done
$cmd train --config smiles-moses --out "$work/smiles" --set train_limit=300 --set val_limit=100 \
  --set epochs=1 --set progress=false > /dev/null
$cmd evaluate "$work/smiles" > /dev/null
$cmd report "$work/spcauchy" "$work/normal" --out "$work/mnist.html" > /dev/null
$cmd report "$work/smiles" --out "$work/smiles.html" > /dev/null
mkdir -p docs/images
for name in mnist smiles; do
  chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1280,2400 \
    --screenshot="docs/images/report-$name-1280.png" "file://$work/$name.html" 2> /dev/null
done
echo "docs/images/report-mnist-1280.png docs/images/report-smiles-1280.png"
