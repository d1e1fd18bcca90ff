"""Merges the records of another results dir into this one: runs trained elsewhere join the table.

  python -m experiments.merge_results --from=/work/enas-results                 # into results/
  python -m experiments.merge_results --from=/work/enas-results --dry_run       # what it would do

A long set runs from a clone into a results dir of its own (`experiments.reproduce
--results_dir=DIR`, started as a copy of `results/`), so that edits to the checkout do not touch
it; this brings its new records back.  A record of `--from` is taken when `--into` has no record
with its key `(config, source, seed)`, or has one at a smaller budget (`budget_env_steps`): a
longer run of the same cell replaces the shorter one.  A record with the same key and budget is
left as `--into` has it (reported as a conflict where its judged mean differs).

Each taken record is judged again first (`reproduction.judge_policy`: its workdir's
`policy.chromnas`, or `--from`'s zoo file where that came from this record; its episodes from
`reproduction.judge_seed(seed)`, with the fixed-order products that give the same actions on
every CPU).  Its mean must agree with the record's within `--rtol` (default 0: exactly), else it is
not merged.  Where a row's best record (`reproduction.zoo_record`) becomes a taken one, that
policy is copied to `<into>/zoo/<row>.chromnas`; every other zoo file is left alone.  Then
regenerate the report with `python -m experiments.reproduce --report_only`.

Exit status: 1 if a record could not be judged or did not re-judge (the others are merged), 2 on
bad input.
"""

from __future__ import annotations

import os
import shutil

from absl import app, flags

from chromnas import reproduction
from experiments import fail, parse_flags_or_exit

_FROM = flags.DEFINE_string("from", None, "Results dir to take new records from (holds reproduction.csv, zoo/).")
_INTO = flags.DEFINE_string("into", "results", "Results dir to merge them into.")
_RTOL = flags.DEFINE_float("rtol", 0.0, "Largest relative difference between a re-judged mean and its record.")
_DRY_RUN = flags.DEFINE_bool("dry_run", False, "Judge and report, but write nothing.")


def to_take(new: list[dict], old: list[dict]) -> tuple[list[dict], list[dict]]:
  """`(taken, conflicts)`: the records of `new` whose key `old` lacks or holds at a smaller
  `budget_env_steps`, and those with the same key and budget but another `zoo_mean`."""
  have = {reproduction.key(r): r for r in old}
  taken, conflicts = [], []
  for rec in new:
    mine = have.get(reproduction.key(rec))
    if mine is None or float(mine["budget_env_steps"]) < float(rec["budget_env_steps"]):
      taken.append(rec)
    elif float(mine["budget_env_steps"]) == float(rec["budget_env_steps"]) and float(mine["zoo_mean"]) != float(
      rec["zoo_mean"]
    ):
      conflicts.append(rec)
  return taken, conflicts


def policy_of(record: dict, records: list[dict], results_dir: str) -> str | None:
  """The policy file `record` was judged from: its workdir's `policy.chromnas`, else the zoo file
  of `results_dir` if its row's best record there is `record`; None if neither is on this machine."""
  path = reproduction.workdir_policy(record)
  if path:
    return path
  try:
    (row,) = reproduction.rows_for("all", [record["config"]])
  except ValueError:
    return None
  best = reproduction.zoo_record(row, records)
  zoo = os.path.join(results_dir, "zoo", f"{row.config}.chromnas")
  if best is not None and reproduction.key(best) == reproduction.key(record) and os.path.isfile(zoo):
    return zoo
  return None


def main(argv):
  if len(argv) > 1:
    fail(f"unexpected arguments {argv[1:]}")
  if not _FROM.value:
    fail("--from is required: the results dir whose records to merge")
  if not _RTOL.value >= 0:
    fail(f"--rtol must be >= 0, got {_RTOL.value}")
  paths = {name: os.path.join(d, "reproduction.csv") for name, d in (("--from", _FROM.value), ("--into", _INTO.value))}
  for name, path in paths.items():
    if not os.path.isfile(path):
      fail(f"{path} not found: {name} must be a results dir holding reproduction.csv")
  if os.path.realpath(_FROM.value) == os.path.realpath(_INTO.value):
    fail("--from and --into are the same results dir")
  new = reproduction.read_csv(paths["--from"], {})
  old = reproduction.read_csv(paths["--into"], {})
  taken, conflicts = to_take(new, old)
  for rec in conflicts:
    print(
      f"keep  {rec['config']} ({rec['source']}, seed {rec['seed']}): same budget here, judged "
      f"{rec['zoo_mean']:.3f} there; left as it is here"
    )
  merged = {reproduction.key(r): r for r in old}
  bad = 0
  for rec in taken:
    label = f"{rec['config']} ({rec['source']}, seed {rec['seed']})"
    path = policy_of(rec, new, _FROM.value)
    if path is None:
      print(f"FAIL  {label}: neither its workdir policy nor a zoo file of {_FROM.value} is on this machine")
      bad += 1
      continue
    judged = reproduction.judge_policy(rec, path)
    if not reproduction.agrees(judged["zoo_mean"], float(rec["zoo_mean"]), _RTOL.value):
      print(f"FAIL  {label}: re-judged {judged['zoo_mean']:.3f}, the record says {float(rec['zoo_mean']):.3f}")
      bad += 1
      continue
    was = merged.get(reproduction.key(rec))
    budgets = "" if was is None else f" (budget {int(was['budget_env_steps'])} -> {int(rec['budget_env_steps'])})"
    print(
      f"{'take' if was is None else 'replace'}  {label}{budgets}: {rec['zoo_mean']:.3f} over "
      f"{int(rec['zoo_episodes'])} episodes, re-judged the same"
    )
    merged[reproduction.key(rec)] = {**rec, "_policy": path}
  records = list(merged.values())
  known = {r.config for r in reproduction.rows_for("all")}
  zoo_moves = []
  for row in reproduction.rows_for("all", sorted({r["config"] for r in taken} & known)):
    best = reproduction.zoo_record(row, records)
    if best is not None and "_policy" in best:  # a merged record is the row's best now
      zoo_moves.append((row.config, best))
      print(
        f"zoo   {row.config}: now {best['source']} seed {best['seed']} ({best['zoo_mean']:.3f}), from {best['_policy']}"
      )
  count = sum("_policy" in r for r in records)
  if _DRY_RUN.value:
    print(f"dry run: {count} records to merge, {len(zoo_moves)} zoo files; nothing written")
  else:
    os.makedirs(os.path.join(_INTO.value, "zoo"), exist_ok=True)
    for config, best in zoo_moves:
      dest = os.path.join(_INTO.value, "zoo", f"{config}.chromnas")
      shutil.copyfile(best["_policy"], dest + ".tmp")
      os.replace(dest + ".tmp", dest)
    reproduction.write_csv(paths["--into"], [{k: v for k, v in r.items() if k != "_policy"} for r in records])
    print(
      f"wrote {paths['--into']}: {count} records merged, {len(zoo_moves)} zoo files; "
      "now run python -m experiments.reproduce --report_only"
    )
  if bad:
    raise SystemExit(1)


if __name__ == "__main__":
  app.run(main, flags_parser=parse_flags_or_exit)
