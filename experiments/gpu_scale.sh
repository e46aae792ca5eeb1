#!/usr/bin/env bash
# Issue 15 on an accelerator machine: the stream (1e6, 1e7 requests per policy) and a sweep of
# >= 50,000 episodes of the paper grid's shape, written to results/bench_gpu_scale.json.
#
#   bash experiments/gpu_scale.sh                      # from the repository root
#   EPISODES=100000 SIZES=1e6 bash experiments/gpu_scale.sh
#
# Needs jax with the accelerator's plugin (pip install -e ".[cuda13]") and nothing else: the
# data are synthetic and need no download. Takes a few minutes on one H200 (mostly the
# host-side generation of the 1e7-request stream).
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
python -m messjax bench --scale \
  --sweep-episodes "${EPISODES:-50000}" \
  --scale-sizes "${SIZES:-1e6,1e7}" \
  --json "${OUT:-results/bench_gpu_scale.json}" \
  --note "${NOTE:-experiments/gpu_scale.sh}"
