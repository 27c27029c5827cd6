# Sourced by setup.sh, test.sh and app.sh: sets PY, the Python that installs and runs EQN Studio.
#   $PYTHON when set; inside a virtual environment (or conda) its python3; else the project's .venv when there is
#   one; else python3 -- unless pip may not install into it (PEP 668 "externally managed", as on Debian and
#   Ubuntu, or PIP_REQUIRE_VIRTUALENV): then, when EQN_CREATE_VENV=1 (setup.sh sets it), the project virtual
#   environment .venv is created and used.
eqn_python() {
  if [ -n "${PYTHON:-}" ]; then echo "$PYTHON"; return 0; fi
  if [ -n "${VIRTUAL_ENV:-}${CONDA_PREFIX:-}" ]; then echo python3; return 0; fi
  if [ -x .venv/bin/python ]; then echo .venv/bin/python; return 0; fi
  if python3 - <<'PYEOF'
import os, sys, sysconfig
in_environment = sys.prefix != sys.base_prefix
marked = os.path.exists(os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED"))
required = os.environ.get("PIP_REQUIRE_VIRTUALENV", "").lower() in ("1", "true", "yes", "on")
sys.exit(0 if not in_environment and (marked or required) else 1)
PYEOF
  then
    if [ "${EQN_CREATE_VENV:-0}" = 1 ]; then
      echo "setup: pip may not install into the system Python here (PEP 668); creating the project environment .venv" >&2
      if ! python3 -m venv .venv >&2; then
        echo "setup: could not create .venv; install Python's venv module (Debian/Ubuntu: apt-get install python3-venv)" \
             "and run this again" >&2
        rm -rf .venv
        return 1
      fi
      echo .venv/bin/python
      return 0
    fi
  fi
  echo python3
}
PY=$(eqn_python) || exit 1
