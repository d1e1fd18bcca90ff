"""Reproduces the poster's tables: trains every row, judges its compact policy, writes the report.

  python -m experiments.reproduce --table=all --seeds=1
  python -m experiments.reproduce --table=rewards --rows=hopper_h41_chromatic11,walker2d_h41_chromatic17
  python -m experiments.reproduce --report_only        # rebuild the csv-based report only

Each (row, seed) trains `configs/<row>.py` for the row's env-step budget (`max_env_steps` in the
config) in `<runs_dir>/<row>/seed<k>`, on all cores.  When a seed finishes, its best policy is
exported to the compact format and judged by the NumPy runtime on fresh episodes of the task's
host environment (`experiments.evaluate --policy`); the record goes to
`<results_dir>/reproduction.csv`, the report `<results_dir>/REPRODUCTION.md` is regenerated from
the csv, and the best seed's file becomes `<results_dir>/zoo/<row>.chromnas`.

Rerunning the same command resumes: finished seeds (a `done.json` in their workdir) are
skipped, unfinished ones continue from their newest checkpoint, and a seed judged at a smaller
budget than its row's current `max_env_steps` trains on to the new budget and is judged again.  Progress lines give
the row,
its env steps against the budget, and an ETA for the row and for the whole set.
"""

from __future__ import annotations

import importlib
import json
import math
import os
import platform
import shutil
import sys
import time

from absl import app, flags

from experiments import parse_flags_or_exit

_TABLE = flags.DEFINE_enum(
  "table",
  "all",
  ["rewards", "comparison", "ars", "all"],
  "Which table to run: the poster's two, the ARS reference rows, or all.",
)
_ROWS = flags.DEFINE_list("rows", [], "Config names to run (default: every row of --table).")
_SEEDS = flags.DEFINE_integer("seeds", 1, "Seeds per row (0, 1, ... seeds-1).")
_RUNS_DIR = flags.DEFINE_string("runs_dir", "runs/reproduce", "Where the training workdirs go.")
_RESULTS_DIR = flags.DEFINE_string("results_dir", "results", "Where the csv, the report and the zoo go.")
_EPISODES = flags.DEFINE_integer("episodes", 10, "Fresh episodes to judge each seed's policy on.")
_WORKERS = flags.DEFINE_integer("num_workers", 0, "Host workers per run (0 = all cores).")
_SET = flags.DEFINE_multi_string("set", [], "field=value overrides applied to every row (e.g. --set=seed=3).")
_PRINT_EVERY = flags.DEFINE_integer("print_every", 10, "Print a progress line every this many iterations.")
_REPORT_ONLY = flags.DEFINE_bool("report_only", False, "Only regenerate the report from the csv.")

# Host env-steps/s on the 2-core development machine, for the ETA of rows not started yet
# (replaced by the measured speed once a row runs).
SPEED_GUESS = {
  "halfcheetah": 45e3,
  "hopper": 40e3,
  "walker2d": 35e3,
  "swimmer": 45e3,
  "reacher": 20e3,
  "pusher": 15e3,
  "striker": 15e3,
  "thrower": 15e3,
  "ant": 8e3,
  "minitaur": 1.5e3,
}


def machine() -> str:
  """A short description of this machine (CPU model and cores; accelerators if JAX sees one)."""
  model = platform.processor() or platform.machine()
  try:
    with open("/proc/cpuinfo") as f:
      for line in f:
        if line.startswith("model name"):
          model = line.split(":", 1)[1].strip()
          break
  except OSError:
    pass
  cpu = f"{os.cpu_count()}-core CPU ({model})"
  if "jax" in sys.modules:  # a Brax row ran: name the accelerator it ran on
    import jax  # pylint: disable=g-import-not-at-top

    if jax.default_backend() != "cpu":
      return f"{jax.devices()[0].device_kind} + {cpu}"
  return cpu


def parse_overrides(items):
  """`['field=value', ...]` -> dict with values parsed as Python literals where possible."""
  import ast

  out = {}
  for item in items:
    if "=" not in item:
      raise ValueError(f"--set expects field=value, got {item!r}")
    field, value = item.split("=", 1)
    try:
      out[field.strip()] = ast.literal_eval(value)
    except (ValueError, SyntaxError):
      out[field.strip()] = value
  return out


def load_config(name: str, seed: int, overrides: dict, num_workers: int):
  """`configs/<name>.py`'s config with the seed, worker count and overrides applied."""
  cfg = importlib.import_module(f"configs.{name}").get_config()
  cfg.seed = seed
  cfg.num_workers = num_workers
  for field, value in overrides.items():
    target = cfg
    *parents, leaf = field.split(".")
    for p in parents:
      target = target[p]
    if leaf not in target:
      raise ValueError(f"--set: config has no field {field!r}")
    target[leaf] = value
  return cfg


# Training settings a row may change; the report lists the ones that differ from the defaults.
SETTING_FIELDS = (
  "partition_source",
  "reward_shift",
  "init_scale",
  "num_directions",
  "sigma",
  "learning_rate",
  "top_directions",
)


def row_settings() -> dict:
  """`{config: 'field=value, ...'}` of every row's settings that differ from `default_config()`."""
  from chromnas import reproduction
  from chromnas.train import config as config_lib

  defaults = config_lib.default_config()
  out = {}
  for row in reproduction.ALL_ROWS:
    cfg = importlib.import_module(f"configs.{row.config}").get_config()
    changed = [
      f"{f}={cfg[f]}"
      for f in SETTING_FIELDS
      if cfg[f] != defaults[f] and not (f == "partition_source" and cfg[f] in ("enas", "none"))
    ]
    out[row.config] = ", ".join(changed)
  return out


def command_line() -> str:
  """The command that reruns (or resumes) the whole set the report covers."""
  args = [f"--table={_TABLE.value}", f"--seeds={_SEEDS.value}"]
  args += [f"--set={item}" for item in _SET.value]
  if _RESULTS_DIR.value != "results":
    args.append(f"--results_dir={_RESULTS_DIR.value}")
  return " ".join(["python -m experiments.reproduce", *args])


def main(argv):
  del argv
  from chromnas import reproduction

  try:
    rows = reproduction.rows_for(_TABLE.value, _ROWS.value)
    overrides = parse_overrides(_SET.value)
  except ValueError as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(2)
  if _SEEDS.value < 1 or _EPISODES.value < 1:
    print("error: --seeds and --episodes must be >= 1", file=sys.stderr)
    sys.exit(2)
  results, zoo = _RESULTS_DIR.value, os.path.join(_RESULTS_DIR.value, "zoo")
  os.makedirs(zoo, exist_ok=True)
  csv_path = os.path.join(results, "reproduction.csv")
  report_path = os.path.join(results, "REPRODUCTION.md")

  def write_report():
    records = reproduction.read_csv(csv_path)
    with open(report_path + ".tmp", "w") as f:
      f.write(reproduction.render_report(records, command=command_line(), settings=row_settings()))
    os.replace(report_path + ".tmp", report_path)

  if _REPORT_ONLY.value:
    write_report()
    print(f"wrote {report_path}")
    return

  from chromnas import deploy
  from chromnas.core import policy_file
  from chromnas.train import loop
  from chromnas.train.progress import format_duration as duration

  try:
    configs = {r.config: load_config(r.config, 0, overrides, _WORKERS.value) for r in rows}
  except (ValueError, KeyError, ModuleNotFoundError) as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(2)
  jobs = [(r, s) for r in rows for s in range(_SEEDS.value)]

  def done_path(r, s):
    return os.path.join(_RUNS_DIR.value, r.config, f"seed{s}", "done.json")

  def budget(r):
    return int(configs[r.config].max_env_steps) or 0

  measured = {}  # task -> env-steps/s seen in this invocation

  def finished(r, s):
    """Judged at a budget at least the row's current one (a raised budget resumes training)."""
    if not os.path.exists(done_path(r, s)):
      return False
    with open(done_path(r, s)) as f:
      return int(json.load(f).get("budget_env_steps", 0)) >= budget(r)

  pending = [(r, s) for r, s in jobs if not finished(r, s)]
  print(
    f"reproduce: {len(rows)} rows x {_SEEDS.value} seeds = {len(jobs)} runs, {len(jobs) - len(pending)} "
    f"finished already; machine {machine()}",
    flush=True,
  )
  failures = []
  for index, (row, seed) in enumerate(pending):
    workdir = os.path.join(_RUNS_DIR.value, row.config, f"seed{seed}")
    cfg = load_config(row.config, seed, overrides, _WORKERS.value)
    label = f"[{index + 1}/{len(pending)} {row.config} seed {seed}]"

    def eta_rest(after_index):
      rest = 0.0
      for r, _ in pending[after_index + 1 :]:
        rest += budget(r) / measured.get(r.task, SPEED_GUESS.get(r.task, 20e3))
      return rest

    t_row = time.time()

    def progress(m, c, row=row, label=label, t_row=t_row, index=index):
      it = m["iteration"]
      if it % _PRINT_EVERY.value and not math.isfinite(m["eval_return"]):
        return
      elapsed = time.time() - t_row
      done_steps = m["env_steps"]
      speed = m["env_steps"] / max(m["wall_s"], 1e-9)
      measured[row.task] = speed
      left = max(c.max_env_steps - done_steps, 0) / max(speed, 1e-9) if c.max_env_steps else math.nan
      ev = "" if math.isnan(m["eval_return"]) else f" | eval {m['eval_return']:.1f} (best {m['best_return']:.1f})"
      print(
        f"{label} it {it} | {done_steps / 1e6:.2f}M/{c.max_env_steps / 1e6:.2f}M steps | reward mean "
        f"{m['reward_mean']:.1f} max {m['reward_max']:.1f}{ev} | {speed / 1e3:.1f}k steps/s | row ETA "
        f"{duration(left)} | set ETA {duration(left + eta_rest(index))} | {duration(elapsed)} so far",
        flush=True,
      )

    print(
      f"{label} training {cfg.task} {cfg.family} {cfg.architecture} for {cfg.max_env_steps / 1e6:.2f}M env "
      f"steps in {workdir}",
      flush=True,
    )
    try:
      loop.train(cfg, workdir, progress_fn=progress)
      policy_path = os.path.join(workdir, "policy.chromnas")
      print("  " + deploy.export_workdir(workdir, policy_path), flush=True)
      returns, judge = deploy.evaluate_policy_file(policy_path, _EPISODES.value, seed=1_000_000 + 1000 * seed)
    except KeyboardInterrupt:
      print("interrupted; rerun the same command to resume", file=sys.stderr)
      sys.exit(130)
    except Exception as e:  # pylint: disable=broad-except
      # One failing row (a diverging simulator, a lost pool) must not cost the rest of the set.
      print(f"{label} FAILED: {type(e).__name__}: {e}", file=sys.stderr, flush=True)
      failures.append(row.config)
      continue
    record = reproduction.summarize_seed(
      row, seed, workdir, list(returns), judge, budget(row), machine(), cfg.engine, os.path.getsize(policy_path)
    )
    with open(done_path(row, seed) + ".tmp", "w") as f:
      json.dump(record, f, indent=1)
    os.replace(done_path(row, seed) + ".tmp", done_path(row, seed))
    print(
      f"{label} done: zoo return {record['zoo_mean']:.1f} +- {record['zoo_std']:.1f} (max "
      f"{record['zoo_max']:.1f}) over {len(returns)} episodes on {judge}; poster "
      f"{row.poster_mean} / {row.poster_max}",
      flush=True,
    )
    _collect(rows, _SEEDS.value, done_path, csv_path, zoo, policy_file)
    write_report()
  _collect(rows, _SEEDS.value, done_path, csv_path, zoo, policy_file)
  write_report()
  print(f"wrote {csv_path}, {report_path} and {zoo}/", flush=True)
  if failures:
    print(f"error: {len(failures)} runs failed: {', '.join(failures)}; rerun to retry them", file=sys.stderr)
    sys.exit(1)


def _collect(rows, seeds, done_path, csv_path, zoo, policy_file):
  """Merges every finished seed's record into the csv and copies each row's best seed to the zoo."""
  from chromnas import reproduction

  records = {(r["config"], r["seed"]): r for r in reproduction.read_csv(csv_path)}
  for row in rows:
    best = None
    for s in range(seeds):
      path = done_path(row, s)
      if not os.path.exists(path):
        continue
      with open(path) as f:
        rec = json.load(f)
      records[(row.config, s)] = rec
      if best is None or rec["zoo_mean"] > best[1]["zoo_mean"]:
        best = (s, rec)
    if best is not None:
      src = os.path.join(os.path.dirname(done_path(row, best[0])), "policy.chromnas")
      policy_file.read_policy(src)  # a damaged file never reaches the zoo
      shutil.copyfile(src, os.path.join(zoo, f"{row.config}.chromnas.tmp"))
      os.replace(os.path.join(zoo, f"{row.config}.chromnas.tmp"), os.path.join(zoo, f"{row.config}.chromnas"))
  reproduction.write_csv(csv_path, records.values())


if __name__ == "__main__":
  app.run(main, flags_parser=parse_flags_or_exit)
