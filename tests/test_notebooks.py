"""Executes every notebook under `notebooks/` at small sizes, with the nbmake pytest plugin.

Each notebook runs in its own `python -m pytest --nbmake` subprocess (a fresh Jupyter kernel, the
notebook's folder as working directory) with `CHROMNAS_NOTEBOOK_SMALL=1`, which the notebooks'
parameter cells read.  A cell that raises fails the test, and the failing cell's traceback is in
the assertion message.  The kernel inherits this process's environment (`tests/conftest.py`:
JAX on the CPU, the shared compilation cache).
"""

import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
EXPECTED = {"01_building_blocks.ipynb", "02_train_and_search.ipynb", "03_deploy.ipynb"}
TIMEOUT_S = 300  # per notebook; all three take about a minute and a half on 2 idle cores


def test_notebooks_present():
  assert EXPECTED <= {p.name for p in NOTEBOOKS}


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs(notebook, tmp_path):
  pytest.importorskip("nbmake", reason="the notebook tests need nbmake (pip install -e '.[test]')")
  # TMPDIR: the notebooks' temporary workdirs land in pytest's tmp_path (old ones are pruned).
  env = {**os.environ, "CHROMNAS_NOTEBOOK_SMALL": "1", "TMPDIR": str(tmp_path)}
  cmd = [
    sys.executable,
    "-m",
    "pytest",
    "-q",
    "-p",
    "no:cacheprovider",
    "--nbmake",
    f"--nbmake-timeout={TIMEOUT_S}",
    str(notebook),
  ]
  proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=TIMEOUT_S + 120)
  assert proc.returncode == 0, f"{notebook.name} failed:\n{proc.stdout[-8000:]}\n{proc.stderr[-2000:]}"
