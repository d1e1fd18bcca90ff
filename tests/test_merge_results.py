"""`experiments.merge_results` on copies of one committed zoo file and its csv records."""

import csv
import pathlib
import shutil
import subprocess
import sys

import pytest

from experiments import merge_results

REPO = pathlib.Path(__file__).resolve().parents[1]
ROW = "reacher_l_chromatic11"  # 10 judged episodes of 50 steps: a fraction of a second


def _records():
  with open(REPO / "results" / "reproduction.csv") as f:
    reader = csv.DictReader(f)
    rows = [r for r in reader if r["config"] == ROW]
  for r in rows:
    r["workdir"] = ""  # the seeds' workdirs are not on this machine
  return reader.fieldnames, rows


def _write(folder, fields, rows):
  folder.mkdir(exist_ok=True)
  (folder / "zoo").mkdir(exist_ok=True)
  with open(folder / "reproduction.csv", "w", newline="") as f:
    writer = csv.DictWriter(f, fieldnames=fields)
    writer.writeheader()
    writer.writerows(rows)


def _best(rows):
  return max(rows, key=lambda r: float(r["zoo_mean"]))


@pytest.fixture
def dirs(tmp_path):
  """`(there, here)`: `there` holds ROW's records and zoo file; `here` the same records but the
  best one, and a placeholder zoo file."""
  pytest.importorskip("gymnasium")
  fields, rows = _records()
  best = _best(rows)
  there, here = tmp_path / "there", tmp_path / "here"
  _write(there, fields, rows)
  shutil.copy(REPO / "results" / "zoo" / f"{ROW}.chromnas", there / "zoo")
  _write(here, fields, [r for r in rows if r is not best])
  (here / "zoo" / f"{ROW}.chromnas").write_bytes(b"an older policy")
  return there, here


def _merge(*args):
  cmd = [sys.executable, "-m", "experiments.merge_results", *map(str, args)]
  return subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=300)


def test_new_best_record_is_judged_merged_and_becomes_the_zoo_file(dirs):
  there, here = dirs
  out = _merge(f"--from={there}", f"--into={here}", "--dry_run")
  assert out.returncode == 0 and "nothing written" in out.stdout, out.stdout + out.stderr
  assert (here / "zoo" / f"{ROW}.chromnas").read_bytes() == b"an older policy"
  out = _merge(f"--from={there}", f"--into={here}")
  assert out.returncode == 0, out.stdout + out.stderr
  assert "take  " in out.stdout and "re-judged the same" in out.stdout and "zoo   " + ROW in out.stdout
  assert (here / "zoo" / f"{ROW}.chromnas").read_bytes() == (there / "zoo" / f"{ROW}.chromnas").read_bytes()
  with open(here / "reproduction.csv") as f:
    merged = list(csv.DictReader(f))
  _, rows = _records()
  assert len(merged) == len(rows) and float(_best(merged)["zoo_mean"]) == float(_best(rows)["zoo_mean"])
  again = _merge(f"--from={there}", f"--into={here}")  # nothing new the second time
  assert again.returncode == 0 and "0 records merged, 0 zoo files" in again.stdout, again.stdout


def test_a_record_that_does_not_rejudge_is_not_merged(dirs):
  there, here = dirs
  fields, rows = _records()
  best = _best(rows)
  best["zoo_mean"] = str(float(best["zoo_mean"]) * 0.99)  # still the best: the returns are negative
  _write(there, fields, rows)
  before = (here / "reproduction.csv").read_text()
  out = _merge(f"--from={there}", f"--into={here}")
  assert out.returncode == 1 and "FAIL" in out.stdout and "the record says" in out.stdout, out.stdout
  assert (here / "reproduction.csv").read_text().count(ROW) == before.count(ROW)
  assert (here / "zoo" / f"{ROW}.chromnas").read_bytes() == b"an older policy"


def test_to_take_prefers_new_keys_and_longer_budgets():
  def rec(seed, budget, mean, source="enas"):
    return {"config": ROW, "source": source, "seed": seed, "budget_env_steps": budget, "zoo_mean": mean}

  old = [rec(0, 100, 1.0), rec(1, 100, 2.0), rec(2, 100, 3.0)]
  new = [rec(0, 100, 1.0), rec(1, 200, 2.5), rec(2, 100, 9.0), rec(3, 100, 4.0), rec(0, 100, 1.0, "fixed")]
  taken, conflicts = merge_results.to_take(new, old)
  assert [(r["source"], r["seed"]) for r in taken] == [("enas", 1), ("enas", 3), ("fixed", 0)]
  assert [(r["source"], r["seed"]) for r in conflicts] == [("enas", 2)]


def test_bad_input(dirs, tmp_path):
  there, here = dirs
  for args, message in [
    ([f"--into={here}"], "--from is required"),
    ([f"--from={tmp_path / 'nowhere'}", f"--into={here}"], "--from must be a results dir"),
    ([f"--from={there}", f"--into={there}"], "are the same results dir"),
    ([f"--from={there}", f"--into={here}", "--rtol=-1"], "--rtol must be >= 0"),
  ]:
    out = _merge(*args)
    assert out.returncode == 2 and out.stderr.strip().startswith("error:") and message in out.stderr, (args, out.stderr)
