"""`pip install .` (not editable): the wheel holds every sub-package and the shipped model, and the installed package
works from anywhere: the `eqn` entry point, `python -m` launch strings and paths built from __file__."""
from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """eqn_core built as a wheel and installed (without its dependencies, which this Python has) into a folder."""
    folder = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(REPO), "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(folder / "dist")], check=True, cwd=folder, timeout=300,
                   env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"})
    wheel = next((folder / "dist").glob("eqn_studio-*.whl"))
    target = folder / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
                   check=True, timeout=300, env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"})
    return target


def run_installed(site: Path, *arguments: str, cwd: Path) -> subprocess.CompletedProcess:
    # -P: the working folder is not put on sys.path, so only the installed copy of eqn_core can be imported
    return subprocess.run([sys.executable, "-P", *arguments], cwd=cwd, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(site), "EQN_SHIPPED_MODELS": "1"})


def test_the_wheel_holds_every_module_and_the_shipped_model(installed):
    wheel = next(installed.parent.glob("dist/*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    sources = {path.relative_to(REPO).as_posix() for path in (REPO / "eqn_core").rglob("*.py")}
    assert sources - names == set()
    assets = {path.relative_to(REPO).as_posix() for path in (REPO / "eqn_core" / "store" / "assets").rglob("*")
              if path.is_file()}
    assert assets and assets - names == set()


def test_the_installed_package_annotates_from_another_folder(installed, tmp_path):
    where = run_installed(installed, "-c", "import eqn_core; print(eqn_core.__file__, eqn_core.__version__)",
                          cwd=tmp_path)
    assert where.returncode == 0, where.stderr
    assert where.stdout.startswith(str(installed)) and where.stdout.split()[1] != "0.0.0+source"
    # the shipped model's folder is found from __file__ inside the installed package
    annotated = run_installed(installed, "-m", "eqn_core.cli", "-w", str(tmp_path / "ws"), "annotate", "--run",
                              "goemotions-eqn", "--text", "Thank you so much, this made my day!", "--top", "3",
                              cwd=tmp_path)
    assert annotated.returncode == 0, annotated.stderr
    assert "gratitude" in annotated.stdout


@pytest.mark.parametrize("module", ["eqn_core.runs.process", "eqn_core.scale.launch"])
def test_the_launch_strings_the_code_uses_start_the_installed_modules(installed, tmp_path, module):
    # start_run_process and launch_command start these as `python -m MODULE RUN_DIR ...`
    result = run_installed(installed, "-m", module, "--help", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "run_dir" in result.stdout
