#!/usr/bin/env bash
# The CPU benchmark suite, in the order the results page uses. Each step writes benchmarks/results/<name>.{md,json}.
# SEEDS=13,14,15 for spread (the figures in RESULTS.md say how many seeds they used).
set -euo pipefail
cd "$(dirname "$0")/.."
WS=benchmarks/out/ws-frozen   # one workspace: frozen-encoder embeddings are computed once and reused
SEEDS=${SEEDS:-13}
python benchmarks/quality.py --name goemotions_frozen --modes bce,coeqn,eqn --seeds "$SEEDS" --workspace $WS
python benchmarks/eqn_choices.py --seeds "$SEEDS" --workspace $WS
python benchmarks/table3_grid.py --datasets emotion6,tfn3,goemotions --workspace $WS
