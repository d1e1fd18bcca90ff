r"""One-at-a-time sweep of the ES settings around a row's config, at a fixed env-step budget.

  python -m experiments.sweep --row=halfcheetah_h41h41_chromatic17 --budget=3000000 \
      --grid="num_directions=8,32,64;sigma=0.01,0.1;learning_rate=0.01,0.05;top_directions=8"

Each setting (the row's own config first, then every value of every field on its own) trains
through `experiments.reproduce` in `--runs_dir/<row>/<field>=<value>` (so a rerun resumes and
skips finished settings), and is judged like a zoo policy: `--episodes` fresh episodes on the
host environment.  The table it prints (and writes to `<runs_dir>/<row>/sweep.md`) has, per
setting, the zoo mean and max, the best training evaluation and the wall time.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys

from absl import app, flags

from chromnas.reproduction import grid

_ROW = flags.DEFINE_string("row", None, "Config name of the row to sweep around (configs/<row>.py).", required=True)
_BUDGET = flags.DEFINE_integer("budget", 3_000_000, "Env steps per setting.")
_GRID = flags.DEFINE_string(
  "grid",
  "num_directions=8,32;sigma=0.01,0.1;learning_rate=0.01,0.05;top_directions=8",
  "field=v1,v2;field=v1,...: the values tried, one field at a time.",
)
_SEED = flags.DEFINE_integer("seed", 0, "Training seed of every setting.")
_EPISODES = flags.DEFINE_integer("episodes", 5, "Fresh host episodes judging each setting's policy.")
_RUNS_DIR = flags.DEFINE_string("runs_dir", "runs/sweep", "Where the settings' workdirs go.")
_WORKERS = flags.DEFINE_integer("num_workers", 0, "Host workers per run (0 = all cores).")


def main(argv):
  del argv
  try:
    settings = [("row", "as configured")] + grid.parse_grid(_GRID.value)
  except ValueError as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(2)
  root = os.path.join(_RUNS_DIR.value, _ROW.value)
  lines = [
    f"Sweep around `{_ROW.value}`, {_BUDGET.value / 1e6:g}M env steps per setting, seed {_SEED.value}, "
    f"{_EPISODES.value} host episodes each.",
    "",
    "| setting | zoo mean | zoo max | best train eval | wall |",
    "|---|---|---|---|---|",
  ]
  for field, value in settings:
    name = "row" if field == "row" else f"{field}={value}"
    where = os.path.join(root, name)
    args = [
      sys.executable,
      "-m",
      "experiments.reproduce",
      "--table=all",
      f"--rows={_ROW.value}",
      f"--runs_dir={where}/runs",
      f"--results_dir={where}",
      f"--episodes={_EPISODES.value}",
      f"--num_workers={_WORKERS.value}",
      f"--set=max_env_steps={_BUDGET.value}",
      f"--set=seed={_SEED.value}",
      "--print_every=50",
    ]
    if field != "row":
      args.append(f"--set={field}={value}")
    print(f"[sweep {_ROW.value}] {name}", flush=True)
    if subprocess.call(args) != 0:
      lines.append(f"| {name} | failed | | | |")
      continue
    with open(os.path.join(where, "reproduction.csv")) as f:
      record = next(r for r in csv.DictReader(f) if r["config"] == _ROW.value)
    lines.append(
      f"| {name} | {float(record['zoo_mean']):.1f} | {float(record['zoo_max']):.1f} | "
      f"{float(record['best_train_eval']):.1f} | {float(record['wall_s']) / 60:.1f} min |"
    )
  table = "\n".join(lines)
  with open(os.path.join(root, "sweep.md"), "w") as f:
    f.write(table + "\n")
  print(table)


if __name__ == "__main__":
  app.run(main)
