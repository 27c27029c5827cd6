"""scripts/: the README's commands pick the right Python, and the server listens on localhost unless told not to."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import tomllib

REPO = Path(__file__).resolve().parents[1]


def resolve_python(folder: Path, **env: str) -> subprocess.CompletedProcess:
    """Source scripts/python.sh in a throwaway copy of the project, as setup.sh does, and print the PY it chose."""
    (folder / "scripts").mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "scripts" / "python.sh", folder / "scripts" / "python.sh")
    clean = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "CONDA_PREFIX", "PYTHON",
                                                               "PIP_REQUIRE_VIRTUALENV")}
    return subprocess.run(["bash", "-c", 'set -euo pipefail; source scripts/python.sh; echo "PY=$PY"'], cwd=folder,
                          env={**clean, **env}, capture_output=True, text=True, timeout=300)


def test_an_externally_managed_python_gets_a_project_virtual_environment(tmp_path):
    # PIP_REQUIRE_VIRTUALENV stands in for a PEP 668 system Python: pip refuses to install outside an environment
    result = resolve_python(tmp_path, PIP_REQUIRE_VIRTUALENV="1", EQN_CREATE_VENV="1")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("PY=.venv/bin/python") and "PEP 668" in result.stderr
    pip = subprocess.run([str(tmp_path / ".venv" / "bin" / "python"), "-m", "pip", "--version"], capture_output=True,
                         text=True, env={**os.environ, "PIP_REQUIRE_VIRTUALENV": "1"})
    assert pip.returncode == 0 and ".venv" in pip.stdout  # pip works inside it
    again = resolve_python(tmp_path)  # test.sh and app.sh then use it
    assert again.stdout.strip().endswith("PY=.venv/bin/python")


def test_a_python_pip_may_change_is_used_as_it_is(tmp_path):
    result = resolve_python(tmp_path, EQN_CREATE_VENV="1")
    assert result.returncode == 0 and result.stdout.strip().endswith("PY=python3")
    assert not (tmp_path / ".venv").exists()
    assert resolve_python(tmp_path, PYTHON="/opt/py/bin/python3").stdout.strip().endswith("PY=/opt/py/bin/python3")


def test_the_server_listens_on_localhost_unless_configured():
    config = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())
    assert config["server"]["address"] == "localhost"
    app_script = (REPO / "scripts" / "app.sh").read_text()
    assert '--server.address "${EQN_ADDRESS:-localhost}"' in app_script
    assert '"--server.address", "0.0.0.0"' in (REPO / "Dockerfile").read_text()  # the container serves its host
