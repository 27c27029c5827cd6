#!/usr/bin/env bash
# Runs the whole test suite (fast logic tests, real data, the real bundled encoder, the app, the browser).
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
source scripts/python.sh
exec $PY -m pytest -q "$@"
