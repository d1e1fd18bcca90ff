"""Judges the zoo files again and compares their returns with the figures the csv and the report give.

  python -m experiments.verify_zoo                                   # every row of every table
  python -m experiments.verify_zoo --rows=ars_hopper_l_unstructured,minitaur_l_chromatic50
  python -m experiments.verify_zoo --update --workdirs               # re-judge and rewrite the csv

For each row, the record that `reproduction.zoo_record` picks from `<results_dir>/reproduction.csv`
(the best judged mean over every source and seed: the record the zoo file came from) gives the
number of episodes and the training seed `k`; `<results_dir>/zoo/<row>.chromnas` is judged again
on those episodes from episode seed `reproduction.judge_seed(k)`, as `experiments.evaluate
--policy=... --seed=...` does (`chromnas.deploy.evaluate_policy_file`, whose fixed-order products
give the same actions on every CPU). A row passes when the new mean is within `--rtol` of the
record's `zoo_mean` (default 0.005: the report prints three significant figures).

`--workdirs` also judges every other record of the rows whose workdir still holds its
`policy.chromnas` on this machine. `--update` writes the new figures (`zoo_mean`, `zoo_std`,
`zoo_max`) into the csv and, where a row's best record is then another one whose policy is here,
copies that policy into the zoo; regenerate the report with `experiments.reproduce --report_only`.

One line per judged policy, then a summary. Exit status: 1 if any differs (without `--update`) or
a row's best record has no policy here to become its zoo file; 2 on bad input.
"""

from __future__ import annotations

import os
import shutil

from absl import app, flags

from chromnas import reproduction
from experiments import fail, parse_flags_or_exit

_TABLE = flags.DEFINE_enum("table", "all", list(reproduction.TABLES), "Which table's rows to check.")
_ROWS = flags.DEFINE_list("rows", [], "Config names to check (default: every row of --table).")
_RESULTS_DIR = flags.DEFINE_string("results_dir", "results", "Holds reproduction.csv and zoo/.")
_RTOL = flags.DEFINE_float("rtol", 0.005, "Largest relative difference of the means that passes.")
_WORKDIRS = flags.DEFINE_bool("workdirs", False, "Also judge the records whose workdir policy is on this machine.")
_UPDATE = flags.DEFINE_bool("update", False, "Write the new figures into the csv and keep the zoo on the best record.")


def main(argv):
  if len(argv) > 1:
    fail(f"unexpected arguments {argv[1:]}")
  if not _RTOL.value >= 0:
    fail(f"--rtol must be >= 0, got {_RTOL.value}")
  try:
    rows = reproduction.rows_for(_TABLE.value, _ROWS.value)
  except ValueError as e:
    fail(str(e))
  csv_path = os.path.join(_RESULTS_DIR.value, "reproduction.csv")
  zoo_dir = os.path.join(_RESULTS_DIR.value, "zoo")
  if not os.path.isfile(csv_path):
    fail(f"{csv_path} not found: --results_dir must hold reproduction.csv and zoo/")
  # The zoo record is the best over every source, so an old record's inferred source does not matter here.
  records = reproduction.read_csv(csv_path, {})
  differ = missing = judged = 0
  for row in rows:
    zoo_rec = reproduction.zoo_record(row, records)
    if zoo_rec is None:
      print(f"none  {row.config}: no record in the csv")
      continue
    zoo_path = os.path.join(zoo_dir, f"{row.config}.chromnas")
    targets = [(zoo_rec, zoo_path)]
    if _WORKDIRS.value:
      for rec in records:
        path = reproduction.workdir_policy(rec)
        if rec["config"] == row.config and rec is not zoo_rec and path:
          targets.append((rec, path))
    for rec, path in targets:
      if not os.path.isfile(path):
        print(f"FAIL  {row.config}: {path} is missing")
        missing += 1
        continue
      new = reproduction.judge_policy(rec, path)
      judged += 1
      same = reproduction.agrees(new["zoo_mean"], float(rec["zoo_mean"]), _RTOL.value)
      differ += not same
      seed = int(rec["seed"])
      print(
        f"{'ok' if same else 'DIFF':>4}  {row.config} ({rec['source']}, seed {seed}): {new['zoo_mean']:.3f} over "
        f"{int(rec['zoo_episodes'])} episodes from --seed={reproduction.judge_seed(seed)} on {new['env']}, "
        f"the csv {float(rec['zoo_mean']):.3f} ({os.path.relpath(path)}; {new['seconds']:.1f} s)",
        flush=True,
      )
      if _UPDATE.value:
        rec.update({k: new[k] for k in ("zoo_mean", "zoo_std", "zoo_max")})
    if _UPDATE.value:
      best = reproduction.zoo_record(row, records)
      if best is not zoo_rec:  # another record judges higher now: its policy becomes the zoo file
        path = reproduction.workdir_policy(best)
        if path:
          shutil.copyfile(path, zoo_path)
          print(f"zoo   {row.config}: now {best['source']} seed {best['seed']} ({best['zoo_mean']:.3f}), from {path}")
        else:
          print(
            f"FAIL  {row.config}: the best record is now {best['source']} seed {best['seed']}, whose policy is not here"
          )
          missing += 1
  if _UPDATE.value:
    reproduction.write_csv(csv_path, records)
    print(f"wrote {csv_path}: {judged} records re-judged ({differ} changed beyond rtol {_RTOL.value:g})")
  else:
    print(f"{judged - differ} of {judged} policies re-judge to the csv within rtol {_RTOL.value:g}; {differ} differ")
  if missing or (differ and not _UPDATE.value):
    raise SystemExit(1)


if __name__ == "__main__":
  app.run(main, flags_parser=parse_flags_or_exit)
