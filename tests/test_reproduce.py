"""The reproduction binary on tiny rows, its report, the zoo, and `evaluate --policy`."""

import csv
import math
import os
import subprocess
import sys

import binaries
import jax.numpy as jnp
import numpy as np
import pytest

from chromnas import reproduction
from chromnas.es import ask_tell

TINY = [
  "--set=episode_length=10",
  "--set=num_directions=2",
  "--set=max_env_steps=60",
  "--set=noise_size=10000",
  "--episodes=2",
]
ROWS = "swimmer_l_chromatic8,reacher_l_chromatic11"


def _reproduce(tmp_path, *extra, rows=ROWS):
  args = [
    sys.executable,
    "-m",
    "experiments.reproduce",
    f"--rows={rows}",
    f"--runs_dir={tmp_path / 'runs'}",
    f"--results_dir={tmp_path / 'results'}",
    *TINY,
    *extra,
  ]
  return subprocess.run(args, capture_output=True, text=True, timeout=600)


def test_reproduce_writes_csv_report_zoo_and_resumes(tmp_path):
  out = _reproduce(tmp_path)
  assert out.returncode == 0, out.stderr[-3000:]
  assert "set ETA" in out.stdout and "0 finished already" in out.stdout
  results = tmp_path / "results"
  with open(results / "reproduction.csv") as f:
    records = list(csv.DictReader(f))
  assert [r["config"] for r in records] == ["swimmer_l_chromatic8", "reacher_l_chromatic11"]
  for r in records:
    assert int(r["env_steps"]) >= 60 and int(r["budget_env_steps"]) == 60
    assert math.isfinite(float(r["zoo_mean"])) and int(r["zoo_episodes"]) == 2
  assert records[0]["judge_env"] == "Swimmer-v5" and records[1]["judge_env"] == "Reacher-v5"
  assert [r["source"] for r in records] == ["enas", "enas"]  # the rows' own partition source
  report = (results / "REPRODUCTION.md").read_text()
  assert "Swimmer (8,2) L K=8" in report and "not run" in report and "How to read the numbers" in report
  zoo = sorted(os.listdir(results / "zoo"))
  assert zoo == ["reacher_l_chromatic11.chromnas", "swimmer_l_chromatic8.chromnas"]
  metrics = tmp_path / "runs" / "swimmer_l_chromatic8" / "seed0" / "metrics.csv"
  before = metrics.read_bytes()

  again = _reproduce(tmp_path)
  assert again.returncode == 0, again.stderr[-3000:]
  assert "2 finished already" in again.stdout and "training" not in again.stdout
  assert metrics.read_bytes() == before

  # The zoo file is judged by the NumPy runtime; the report's figures come from the same function.
  ev = subprocess.run(
    [
      sys.executable,
      "-m",
      "experiments.evaluate",
      f"--policy={results / 'zoo' / zoo[1]}",
      "--episodes=2",
      "--seed=1000000",
    ],
    capture_output=True,
    text=True,
    timeout=300,
  )
  assert ev.returncode == 0, ev.stderr[-2000:]
  mean = float(ev.stdout.split("return ")[1].split()[0])
  assert mean == pytest.approx(float(records[0]["zoo_mean"]), abs=0.06)

  # `--source=fixed` trains in <row>/fixed/seed<k>, records its source beside the row's own, and
  # the zoo takes the row's best policy over both sources.
  fixed = _reproduce(tmp_path, "--source=fixed", rows="swimmer_l_chromatic8")
  assert fixed.returncode == 0, fixed.stderr[-3000:]
  assert "0 finished already" in fixed.stdout and "(fixed)" in fixed.stdout
  assert (tmp_path / "runs" / "swimmer_l_chromatic8" / "fixed" / "seed0" / "done.json").exists()
  swimmer = [r for r in reproduction.read_csv(str(results / "reproduction.csv"), {}) if r["task"] == "swimmer"]
  assert sorted((r["source"], r["seed"]) for r in swimmer) == [("enas", 0), ("fixed", 0)]
  best = max(swimmer, key=lambda r: r["zoo_mean"])
  assert (results / "zoo" / zoo[1]).read_bytes() == (tmp_path / best["workdir"] / "policy.chromnas").read_bytes()
  assert f"| {best['source']}, seed 0 (`--seed=1000000`) |" in (results / "REPRODUCTION.md").read_text()

  # A seed judged at a smaller budget than its row's current one trains on from its checkpoint (no
  # iteration is redone) and is judged again.
  reacher_metrics = tmp_path / "runs" / "reacher_l_chromatic11" / "seed0" / "metrics.csv"
  with open(reacher_metrics) as f:
    its = [int(r["iteration"]) for r in csv.DictReader(f)]
  more = _reproduce(tmp_path, "--set=max_env_steps=100", rows="reacher_l_chromatic11")
  assert more.returncode == 0, more.stderr[-3000:]
  assert "resuming" in more.stdout
  with open(reacher_metrics) as f:
    assert [int(r["iteration"]) for r in csv.DictReader(f)] == [*its, its[-1] + 1]
  reacher = [r for r in reproduction.read_csv(str(results / "reproduction.csv"), {}) if r["task"] == "reacher"]
  assert [int(r["budget_env_steps"]) for r in reacher] == [100]


def test_bad_reproduce_input_is_one_line(tmp_path):
  rows, runs = "--rows=swimmer_l_chromatic8", f"--runs_dir={tmp_path}"
  cases = [
    (["--rows=nope", runs], "unknown row 'nope'"),
    (["--source=nope", runs], "--source"),
    ([rows, "--set=controller.nope=1", runs], "config.controller.nope: unknown field"),
    ([rows, "--set=seed=1.5", runs], "config.seed: 1.5 is not"),
    ([rows, "--set=sigma", runs], "--set expects field=value"),
    ([rows, "--set=sigma=-1.0", runs], "config.sigma"),
    ([rows, "--source=enas", "--set=partition_source=random", runs], "contradicts --source=enas"),
  ]
  # One server process runs them all (`binaries.run_many`), each as `python -m experiments.reproduce`.
  results = binaries.run_many(
    [("reproduce", args) for args, _ in cases] + [("evaluate", [f"--policy={tmp_path / 'x.chromnas'}"])]
  )
  for (args, words), out in zip(cases, results, strict=False):
    assert out.returncode == 2 and out.stderr.strip().count("\n") == 0, (args, out.stderr[-2000:])
    assert words in out.stderr, (args, out.stderr)
  bad = results[-1]
  assert bad.returncode == 2 and "no such file" in bad.stderr


def test_rows_cover_both_tables():
  assert len(reproduction.REWARD_ROWS) == 16 and len(reproduction.COMPARISON_CELLS) == 20
  configs = {r.config for r in reproduction.ALL_ROWS}
  assert len(configs) == 35  # the 4 chromatic comparison cells are reward rows too; 3 ARS rows
  for name in configs:
    assert os.path.exists(os.path.join(os.path.dirname(__file__), "..", "configs", f"{name}.py")), name
  assert [r.config for r in reproduction.rows_for("all", ["walker2d_h41_toeplitz", "swimmer_l_chromatic8"])] == [
    "walker2d_h41_toeplitz",
    "swimmer_l_chromatic8",
  ]
  with pytest.raises(ValueError, match="unknown row"):
    reproduction.rows_for("all", ["nope"])


def test_reward_shift_removes_the_per_step_bonus():
  returns, lengths = jnp.array([1000.0, 30.0, jnp.nan]), jnp.array([1000, 20, 5])
  np.testing.assert_allclose(ask_tell.training_returns(returns, lengths, 1.0), [0.0, 10.0, np.nan])
  np.testing.assert_allclose(ask_tell.training_returns(returns, lengths, 0.0), returns)
