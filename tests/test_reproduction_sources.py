"""The partition-source dimension of the reproduction: records keyed by source, old csvs read
compatibly, the ENAS and evolution columns of the report, the zoo chosen across sources."""

import csv
import json
import os
import shutil

import pytest

from chromnas import reproduction

ZOO = os.path.join(os.path.dirname(__file__), "..", "results", "zoo")
SWIMMER = reproduction.REWARD_ROWS[0]  # poster 97 / 365
SOURCES = {"swimmer_l_chromatic8": "enas", "hopper_h41_chromatic11": "evolution", "hopper_h41_masked17": "enas"}


def _record(config="swimmer_l_chromatic8", source="enas", seed=0, zoo_mean=100.0, zoo_max=None, **extra):
  rec = dict(
    config=config,
    source=source,
    seed=seed,
    task="swimmer",
    env_steps=100,
    budget_env_steps=100,
    wall_s=60.0,
    machine="m",
    engine="host",
    iterations=1,
    final_reward_mean=50.0,
    max_reward_max=400.0,
    best_train_eval=120.0,
    zoo_mean=zoo_mean,
    zoo_std=1.0,
    zoo_max=zoo_mean + 1.0 if zoo_max is None else zoo_max,
    zoo_episodes=5,
    judge_env="Swimmer-v5",
    steps_to_poster_mean=50.0,
    wall_to_poster_mean=30.0,
    policy_bytes=151,
    workdir="",
  )
  rec.update(extra)
  return rec


def _line(report: str, start: str) -> list[str]:
  """The cells of the report line that starts with `start`."""
  line = next(x for x in report.splitlines() if x.startswith(start))
  return [c.strip() for c in line.strip().strip("|").split("|")]


def _header(report: str) -> list[str]:
  return _line(report, "| row | poster mean")


def test_old_records_get_their_source_from_the_config(tmp_path):
  """A csv from before the source column: evolution configs -> evolution, other chromatic rows ->
  the earlier ENAS controller, other families -> none."""
  old_fields = [f for f in reproduction.FIELDS if f not in ("source", "workdir")]
  path = tmp_path / "reproduction.csv"
  with open(path, "w", newline="") as f:
    w = csv.DictWriter(f, fieldnames=old_fields)
    w.writeheader()
    for config in SOURCES:
      w.writerow({k: v for k, v in _record(config=config).items() if k in old_fields})
  records = reproduction.read_csv(str(path), SOURCES)
  assert [(r["config"], r["source"]) for r in records] == [
    ("swimmer_l_chromatic8", reproduction.LEGACY_ENAS),
    ("hopper_h41_chromatic11", "evolution"),
    ("hopper_h41_masked17", reproduction.NO_SOURCE),
  ]
  assert reproduction.infer_source("ars_hopper_l_unstructured", "none") == "none"
  # A done.json from before the column reads the same way; a named source is kept.
  assert reproduction.with_source({"config": "swimmer_l_chromatic8"}, SOURCES)["source"] == "enas-v1"
  assert reproduction.with_source({"config": "swimmer_l_chromatic8", "source": "random"}, SOURCES)["source"] == "random"
  # Rewritten, the csv carries the column, and records of two sources for one seed stay apart.
  records.append(_record(source="enas", seed=0))
  reproduction.write_csv(str(path), records)
  again = reproduction.read_csv(str(path), {})
  assert {reproduction.key(r) for r in again} == {
    ("swimmer_l_chromatic8", "enas-v1", 0),
    ("swimmer_l_chromatic8", "enas", 0),
    ("hopper_h41_chromatic11", "evolution", 0),
    ("hopper_h41_masked17", "none", 0),
  }


def test_new_records_name_the_source_used():
  assert reproduction.source_used("swimmer_l_chromatic8", "random") == "random"
  assert reproduction.source_used("hopper_h41_masked17", "enas") == "none"  # masks are not this dimension
  assert reproduction.source_used("hopper_h41_toeplitz", "none") == "none"
  assert [r.family for r in reproduction.ALL_ROWS[:1] + reproduction.ARS_ROWS[:1]] == ["chromatic", "unstructured"]


def test_recorded_seeds_count_as_finished_at_their_budget():
  records = [
    {"config": "walker2d_h41_chromatic17", "source": "enas", "seed": 1, "budget_env_steps": 25_000_000},
    {"config": "walker2d_h41_chromatic17", "source": "evolution", "seed": 2, "budget_env_steps": 25_000_000},
  ]
  assert reproduction.recorded(records, "walker2d_h41_chromatic17", "enas", 1, 25_000_000)
  assert not reproduction.recorded(records, "walker2d_h41_chromatic17", "enas", 1, 30_000_000)  # budget raised
  assert not reproduction.recorded(records, "walker2d_h41_chromatic17", "enas", 2, 25_000_000)  # another source
  assert not reproduction.recorded([], "walker2d_h41_chromatic17", "enas", 1, 1)


def test_workdir_layout_by_source():
  assert reproduction.workdir("runs", "hopper_l_chromatic11", "row", 2) == os.path.join(
    "runs", "hopper_l_chromatic11", "seed2"
  )
  assert reproduction.workdir("runs", "hopper_l_chromatic11", "enas", 0) == os.path.join(
    "runs", "hopper_l_chromatic11", "enas", "seed0"
  )


def test_enas_column_gives_rliables_estimates_over_three_seeds():
  pytest.importorskip("rliable")
  from chromnas import seed_stats
  from chromnas.reproduction.report import _fmt

  returns = [90.0, 120.0, 150.0]  # the poster's Mean is 97; no episode reaches its Max of 365
  records = [_record(source="enas", seed=s, zoo_mean=v) for s, v in enumerate(returns)]
  records.append(_record(source="evolution", seed=0, zoo_mean=200.0, zoo_max=370.0))
  report = reproduction.render_report(records, command="cmd")
  cells = dict(zip(_header(report), _line(report, "| Swimmer")))
  est = seed_stats.interval_estimates({"enas": returns})["enas"]
  assert est["mean"].low < est["mean"].value < est["mean"].high
  assert cells["ENAS seeds"] == "3"
  for name, heading in (("mean", "ENAS mean [95% CI]"), ("iqm", "ENAS IQM [95% CI]")):
    e = est[name]
    assert cells[heading] == f"{_fmt(e.value)} [{_fmt(e.low)}, {_fmt(e.high)}]"
  assert cells["ENAS median seed"] == "120 (seed 1)"
  assert seed_stats.median_seed([0, 1, 2], returns) == 1
  assert cells["ENAS vs mean / max"] == "✅ / ❌"
  # One evolution seed: its figures without an interval; its episode reaches the Max.
  assert cells["evolution seeds"] == "1" and cells["evolution mean [95% CI]"] == "200"
  assert cells["evolution vs mean / max"] == "✅ / ✅"
  assert (
    "ENAS column: 1 of 16 rows have ENAS seeds; their mean over seeds reaches the poster's Mean Reward on **1**"
    in (report)
  )
  # A row with no ENAS seed shows '-' in all five ENAS cells.
  hopper = dict(zip(_header(report), _line(report, "| Hopper (11,3) L")))
  assert [hopper[f"ENAS {c}"] for c in ("seeds", "mean [95% CI]", "IQM [95% CI]", "median seed", "vs mean / max")] == [
    "-"
  ] * 5


def test_zoo_is_the_best_policy_over_all_sources():
  pytest.importorskip("rliable")
  records = [
    _record(source="enas", seed=0, zoo_mean=150.0),
    _record(source="enas", seed=1, zoo_mean=140.0),
    _record(source="evolution", seed=1, zoo_mean=300.0),
    _record(source="enas-v1", seed=0, zoo_mean=250.0),
  ]
  best = reproduction.zoo_record(SWIMMER, records)
  assert (best["source"], best["seed"]) == ("evolution", 1)
  report = reproduction.render_report(records, command="cmd")
  cells = dict(zip(_header(report), _line(report, "| Swimmer")))
  assert cells["zoo from"] == "evolution, seed 1 (`--seed=1001000`)"
  assert cells["zoo mean"] == "300" and cells["seeds"] == "1"


def test_report_lists_where_enas_falls_short():
  pytest.importorskip("rliable")
  # Swimmer (poster 97 / 365): seeds at 150 and 140 reach the Mean, their best episode (151) not the Max.
  records = [_record(source="enas", seed=0, zoo_mean=150.0), _record(source="enas", seed=1, zoo_mean=140.0)]
  report = reproduction.render_report(records, command="cmd")
  section = report.split("### Where ENAS falls short", 1)[1].split("## Comparisons", 1)[0]
  swimmer = next(x for x in section.splitlines() if "`swimmer_l_chromatic8`" in x)
  assert "best episode 151 below the poster's Max 365" in swimmer and "Mean" not in swimmer
  assert "- Hopper (11,3) L K=11 (`hopper_l_chromatic11`): no ENAS seed yet." in section
  assert "What was tried for the ENAS controller" in section
  # A row that reaches both is not listed; below the Mean it says so with the interval.
  records = [_record(source="enas", seed=k, zoo_mean=400.0) for k in range(3)]
  section = reproduction.render_report(records, command="cmd").split("### Where ENAS falls short", 1)[1]
  assert "`swimmer_l_chromatic8`" not in section.split("What was tried", 1)[0]
  records = [_record(source="enas", seed=k, zoo_mean=50.0 + k) for k in range(3)]
  section = reproduction.render_report(records, command="cmd").split("### Where ENAS falls short", 1)[1]
  assert "mean over seeds 51.0 [50.0, 52.0] below the poster's Mean 97.0" in section


def _fake_run(runs, config, source, seed, zoo_mean, policy):
  where = reproduction.workdir(str(runs), config, source, seed)
  os.makedirs(where)
  shutil.copyfile(policy, os.path.join(where, "policy.chromnas"))
  rec = _record(config=config, source="enas" if source == "row" else source, seed=seed, zoo_mean=zoo_mean)
  rec["workdir"] = where
  with open(os.path.join(where, "done.json"), "w") as f:
    json.dump(rec, f)
  return where


def test_collect_copies_the_best_policy_across_sources(tmp_path):
  from experiments import reproduce

  policies = sorted(os.path.join(ZOO, p) for p in os.listdir(ZOO))[:3]
  runs, zoo, csv_path = tmp_path / "runs", tmp_path / "zoo", str(tmp_path / "reproduction.csv")
  os.makedirs(zoo)
  rows = [SWIMMER]
  _fake_run(runs, SWIMMER.config, "enas", 0, 100.0, policies[0])
  _fake_run(runs, SWIMMER.config, "random", 0, 200.0, policies[1])
  reproduce._collect(rows, 1, str(runs), "enas", csv_path, str(zoo), SOURCES)
  zoo_file = zoo / f"{SWIMMER.config}.chromnas"
  assert zoo_file.read_bytes() == open(policies[0], "rb").read()  # the random run is not collected yet
  reproduce._collect(rows, 1, str(runs), "random", csv_path, str(zoo), SOURCES)
  assert zoo_file.read_bytes() == open(policies[1], "rb").read()
  # A worse source collected later leaves the zoo file with the best one.
  _fake_run(runs, SWIMMER.config, "fixed", 0, 150.0, policies[2])
  reproduce._collect(rows, 1, str(runs), "fixed", csv_path, str(zoo), SOURCES)
  assert zoo_file.read_bytes() == open(policies[1], "rb").read()
  records = reproduction.read_csv(csv_path, SOURCES)
  assert sorted((r["source"], r["zoo_mean"]) for r in records) == [("enas", 100.0), ("fixed", 150.0), ("random", 200.0)]


def test_report_marks_rows_against_the_poster():
  row = reproduction.REWARD_ROWS[0]  # swimmer: poster 97 / 365
  rec = _record(config=row.config, source="enas-v1", zoo_mean=120.0, zoo_max=121.0)
  report = reproduction.render_report([rec], command="cmd")
  line = next(x for x in report.splitlines() if x.startswith("| Swimmer"))
  assert "| 120 | ✅ | 121 | ❌ |" in line
  assert "reaches the poster's Mean Reward on **1**" in report
