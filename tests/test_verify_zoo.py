"""`experiments.verify_zoo` on a copy of one committed zoo file and its csv record."""

import csv
import pathlib
import shutil
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
ROW = "reacher_l_chromatic11"  # 10 judged episodes of 50 steps: a fraction of a second


@pytest.fixture
def results(tmp_path):
  """A results dir holding the committed zoo file of ROW and every csv record of ROW."""
  pytest.importorskip("gymnasium")
  (tmp_path / "zoo").mkdir()
  shutil.copy(REPO / "results" / "zoo" / f"{ROW}.chromnas", tmp_path / "zoo")
  with open(REPO / "results" / "reproduction.csv") as f:
    reader = csv.DictReader(f)
    rows = [r for r in reader if r["config"] == ROW]
    fields = reader.fieldnames
  for r in rows:
    r["workdir"] = ""  # the seeds' workdirs are not on this machine
  with open(tmp_path / "reproduction.csv", "w", newline="") as f:
    writer = csv.DictWriter(f, fieldnames=fields)
    writer.writeheader()
    writer.writerows(rows)
  return tmp_path


def _verify(results, *extra):
  args = [sys.executable, "-m", "experiments.verify_zoo", f"--results_dir={results}", f"--rows={ROW}", *extra]
  return subprocess.run(args, capture_output=True, text=True, cwd=REPO, timeout=300)


def _zoo_record(results):
  with open(results / "reproduction.csv") as f:
    rows = list(csv.DictReader(f))
  return max(rows, key=lambda r: float(r["zoo_mean"]))


def test_committed_zoo_file_judges_to_its_record_exactly(results):
  out = _verify(results, "--rtol=0")
  assert out.returncode == 0, out.stdout + out.stderr
  assert "1 of 1 policies re-judge to the csv within rtol 0; 0 differ" in out.stdout


def test_a_wrong_figure_fails_and_update_rewrites_it(results):
  with open(results / "reproduction.csv") as f:
    rows = list(csv.DictReader(f))
  best = _zoo_record(results)
  truth = best["zoo_mean"]
  for r in rows:
    if r["seed"] == best["seed"] and r["source"] == best["source"]:
      r["zoo_mean"] = str(float(truth) * 0.9)  # still the row's best: the row's returns are negative
  with open(results / "reproduction.csv", "w", newline="") as f:
    writer = csv.DictWriter(f, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
  out = _verify(results)
  assert out.returncode == 1 and "DIFF" in out.stdout, out.stdout + out.stderr
  out = _verify(results, "--update")
  assert out.returncode == 0, out.stdout + out.stderr
  assert float(_zoo_record(results)["zoo_mean"]) == float(truth)
  assert _verify(results, "--rtol=0").returncode == 0


def test_missing_zoo_file_and_bad_input(results, tmp_path):
  (results / "zoo" / f"{ROW}.chromnas").unlink()
  out = _verify(results)
  assert out.returncode == 1 and "is missing" in out.stdout
  out = _verify(tmp_path / "nowhere")
  assert out.returncode == 2 and out.stderr.strip().startswith("error:") and "reproduction.csv not found" in out.stderr
  out = _verify(results, "--rtol=-1")
  assert out.returncode == 2 and "--rtol must be >= 0" in out.stderr
