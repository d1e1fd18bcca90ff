"""Reproduces the poster's tables: trains every row, judges its compact policy, writes the report.

  python -m experiments.reproduce --table=all --seeds=1
  python -m experiments.reproduce --table=rewards --rows=hopper_h41_chromatic11,walker2d_h41_chromatic17
  python -m experiments.reproduce --table=rewards --source=enas --seeds=3   # the ENAS column
  python -m experiments.reproduce --report_only        # rebuild the csv-based report only

Each (row, seed) trains `configs/<row>.py` for the row's env-step budget (`max_env_steps` in the
config) in `<runs_dir>/<row>/seed<k>`, on all cores.  `--source=enas|evolution|fixed|random`
replaces a chromatic row's partition source and trains in `<runs_dir>/<row>/<source>/seed<k>`
(rows of the other families keep their own layout and source).  Configs are loaded by
`chromnas.train.build.load_config`, with `--set field=value` overrides, and checked by
`config.validate` before any row trains.

When a seed finishes, its best policy is exported to the compact format and judged by the
NumPy runtime on fresh episodes of the task's host environment (`experiments.evaluate
--policy`); the record (keyed by row, partition source and seed) goes to
`<results_dir>/reproduction.csv`, the report `<results_dir>/REPRODUCTION.md` is regenerated
from the csv, and the row's best policy over every source and seed becomes
`<results_dir>/zoo/<row>.chromnas`.

Rerunning the same command resumes: finished seeds (a `done.json` in their workdir) are
skipped, unfinished ones continue from their newest checkpoint, and a seed judged at a smaller
budget than its row's current `max_env_steps` trains on to the new budget and is judged again.
On another machine, where the workdirs are not, `--skip_recorded` also skips the seeds the csv
already holds at their row's budget.
Progress lines give the row, its env steps against the budget, and an ETA for the row and for
the whole set.
"""

from __future__ import annotations

import json
import math
import os
import platform
import shutil
import sys
import time

from absl import app, flags

from chromnas import reproduction
from chromnas.envs import tasks
from experiments import parse_flags_or_exit

_TABLE = flags.DEFINE_enum(
  "table",
  "all",
  ["rewards", "comparison", "ars", "all"],
  "Which table to run: the poster's two, the ARS reference rows, or all.",
)
_ROWS = flags.DEFINE_list("rows", [], "Config names to run (default: every row of --table).")
_SEEDS = flags.DEFINE_integer("seeds", 1, "Seeds per row (0, 1, ... seeds-1).")
_SOURCE = flags.DEFINE_enum(
  "source",
  reproduction.ROW,
  [reproduction.ROW, *reproduction.SOURCES],
  "Partition source of the chromatic rows: 'row' (each config's own) or one that replaces it, trained in "
  "<runs_dir>/<row>/<source>/seed<k>.",
)
_RUNS_DIR = flags.DEFINE_string("runs_dir", "runs/reproduce", "Where the training workdirs go.")
_RESULTS_DIR = flags.DEFINE_string("results_dir", "results", "Where the csv, the report and the zoo go.")
_EPISODES = flags.DEFINE_integer("episodes", 10, "Fresh episodes to judge each seed's policy on.")
_WORKERS = flags.DEFINE_integer("num_workers", 0, "Host workers per run (0 = all cores).")
_SET = flags.DEFINE_multi_string(
  "set",
  [],
  "field=value overrides applied to every row (e.g. --set=seed=3, --set=controller.learning_rate=0.01).",
)
_PRINT_EVERY = flags.DEFINE_integer("print_every", 10, "Print a progress line every this many iterations.")
_REPORT_ONLY = flags.DEFINE_bool("report_only", False, "Only regenerate the report from the csv.")
_SKIP_RECORDED = flags.DEFINE_bool(
  "skip_recorded",
  False,
  "Also skip the seeds whose record is in <results_dir>/reproduction.csv at the row's budget, where "
  "their workdir is not here (a set continued on another machine); their zoo files stay as they are.",
)


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


def parse_overrides(items) -> dict:
  """`['field=value', ...]` -> `{field: value}`, each value a Python literal where it parses as
  one (`true`/`false` as booleans, the way `--config.field=` reads them), else the string."""
  import ast  # pylint: disable=g-import-not-at-top

  out = {}
  for item in items:
    if "=" not in item:
      raise ValueError(f"--set expects field=value, got {item!r}")
    field, value = (part.strip() for part in item.split("=", 1))
    try:
      out[field] = ast.literal_eval(value.capitalize() if value in ("true", "false") else value)
    except (ValueError, SyntaxError):
      out[field] = value
  return out


def load_config(name: str, seed: int, items, num_workers: int, source: str = reproduction.ROW):
  """`configs/<name>.py`'s config, loaded by `build.load_config` (the loader every binary shares)
  with the seed and worker count, then the `--set` `items` (so `--set=seed=k` wins), then, on a
  chromatic row, `partition_source = source` unless `source` is 'row'.  Checked by
  `config.validate` before any row trains, so a bad value stops the set at once: one
  `ValueError('config.<field>: ...')`."""
  from chromnas.train import build  # pylint: disable=g-import-not-at-top
  from chromnas.train import config as config_lib  # pylint: disable=g-import-not-at-top

  overrides = {"seed": seed, "num_workers": num_workers, **parse_overrides(items)}
  cfg = build.load_config(f"configs.{name}", overrides)
  if source != reproduction.ROW and cfg.family == "chromatic":
    asked = overrides.get("partition_source", source)
    if asked != source:
      raise ValueError(f"--set=partition_source={asked} contradicts --source={source}; use --source alone")
    cfg.partition_source = source
  config_lib.validate(cfg)
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


def row_settings() -> tuple[dict, dict]:
  """`({config: 'field=value, ...'}, {config: partition_source})` of every row's config: the
  settings that differ from `default_config()` and the partition source the config chooses."""
  from chromnas.train import build  # pylint: disable=g-import-not-at-top
  from chromnas.train import config as config_lib  # pylint: disable=g-import-not-at-top

  defaults = config_lib.default_config()
  settings, sources = {}, {}
  for row in reproduction.ALL_ROWS:
    cfg = build.load_config(f"configs.{row.config}")
    changed = [
      f"{f}={cfg[f]}"
      for f in SETTING_FIELDS
      if cfg[f] != defaults[f] and not (f == "partition_source" and cfg[f] in ("enas", "none"))
    ]
    # The controller's own fields (used when the row trains with ENAS), e.g. its temperature.
    changed += [f"controller.{k}={v}" for k, v in sorted(cfg.controller.items()) if v != defaults.controller.get(k)]
    settings[row.config] = ", ".join(changed)
    sources[row.config] = cfg.partition_source
  return settings, sources


def command_line() -> str:
  """The command that reruns (or resumes) the whole set the report covers."""
  args = [f"--table={_TABLE.value}", f"--seeds={_SEEDS.value}"]
  if _SOURCE.value != reproduction.ROW:
    args.append(f"--source={_SOURCE.value}")
  args += [f"--set={item}" for item in _SET.value]
  if _RESULTS_DIR.value != "results":
    args.append(f"--results_dir={_RESULTS_DIR.value}")
  return " ".join(["python -m experiments.reproduce", *args])


def run_source(row: reproduction.Row, source: str) -> str:
  """The source a run of `row` trains with under `--source=source`: the row's own ('row') for the
  families without a partition to search."""
  return source if row.family == "chromatic" else reproduction.ROW


def main(argv):
  del argv
  try:
    rows = reproduction.rows_for(_TABLE.value, _ROWS.value)
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

  settings, config_sources = row_settings()

  def write_report():
    records = reproduction.read_csv(csv_path, config_sources)
    with open(report_path + ".tmp", "w") as f:
      f.write(reproduction.render_report(records, command=command_line(), settings=settings))
    os.replace(report_path + ".tmp", report_path)

  if _REPORT_ONLY.value:
    write_report()
    print(f"wrote {report_path}")
    return

  from chromnas import deploy
  from chromnas.train import loop
  from chromnas.train.progress import format_duration as duration

  try:
    configs = {r.config: load_config(r.config, 0, _SET.value, _WORKERS.value, _SOURCE.value) for r in rows}
  except ValueError as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(2)
  jobs = [(r, s) for r in rows for s in range(_SEEDS.value)]

  def run_dir(r, s):
    return reproduction.workdir(_RUNS_DIR.value, r.config, run_source(r, _SOURCE.value), s)

  def done_path(r, s):
    return os.path.join(run_dir(r, s), "done.json")

  def budget(r):
    return int(configs[r.config].max_env_steps) or 0

  measured = {}  # task -> env-steps/s seen in this invocation

  on_record = reproduction.read_csv(csv_path, config_sources) if _SKIP_RECORDED.value else []

  def finished(r, s):
    """Judged at a budget at least the row's current one (a raised budget resumes training)."""
    if not os.path.exists(done_path(r, s)):
      source = reproduction.source_used(r.config, configs[r.config].partition_source)
      return reproduction.recorded(on_record, r.config, source, s, budget(r))
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
    workdir = run_dir(row, seed)
    cfg = load_config(row.config, seed, _SET.value, _WORKERS.value, _SOURCE.value)
    source = reproduction.source_used(row.config, cfg.partition_source)
    label = f"[{index + 1}/{len(pending)} {row.config} {source} seed {seed}]"

    def eta_rest(after_index):
      rest = 0.0
      for r, _ in pending[after_index + 1 :]:
        rest += budget(r) / measured.get(r.task, tasks.get_task(r.task).host_steps_per_s)
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
      f"{label} training {cfg.task} {cfg.family} {cfg.architecture} ({cfg.partition_source}) for "
      f"{cfg.max_env_steps / 1e6:.2f}M env steps in {workdir}",
      flush=True,
    )
    try:
      loop.train(cfg, workdir, progress_fn=progress)
      policy_path = os.path.join(workdir, "policy.chromnas")
      print("  " + deploy.export_workdir(workdir, policy_path), flush=True)
      returns, judge = deploy.evaluate_policy_file(policy_path, _EPISODES.value, seed=reproduction.judge_seed(seed))
    except KeyboardInterrupt:
      print("interrupted; rerun the same command to resume", file=sys.stderr)
      sys.exit(130)
    except Exception as e:  # pylint: disable=broad-except
      # One failing row (a diverging simulator, a lost pool) must not cost the rest of the set.
      print(f"{label} FAILED: {type(e).__name__}: {e}", file=sys.stderr, flush=True)
      failures.append(row.config)
      continue
    record = reproduction.summarize_seed(
      row,
      seed,
      workdir,
      list(returns),
      judge,
      budget(row),
      machine(),
      cfg.engine,
      os.path.getsize(policy_path),
      source=source,
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
    _collect(rows, _SEEDS.value, _RUNS_DIR.value, _SOURCE.value, csv_path, zoo, config_sources)
    write_report()
  _collect(rows, _SEEDS.value, _RUNS_DIR.value, _SOURCE.value, csv_path, zoo, config_sources)
  write_report()
  print(f"wrote {csv_path}, {report_path} and {zoo}/", flush=True)
  if failures:
    print(f"error: {len(failures)} runs failed: {', '.join(failures)}; rerun to retry them", file=sys.stderr)
    sys.exit(1)


def _matches(workdir: str, record: dict, config_sources: dict) -> bool:
  """Whether `workdir` still holds the run of `record` (its done.json names the same run and
  figure): a workdir reused by a later run must not lend its policy to an older record."""
  path = os.path.join(workdir, "done.json")
  if not (os.path.exists(path) and os.path.exists(os.path.join(workdir, "policy.chromnas"))):
    return False
  with open(path) as f:
    done = reproduction.with_source(json.load(f), config_sources)
  return reproduction.key(done) == reproduction.key(record) and done["zoo_mean"] == record["zoo_mean"]


def _collect(rows, seeds, runs_dir, source, csv_path, zoo, config_sources):
  """Merges every finished seed of `rows` under `--source=source` into the csv (records keyed by
  config, source and seed) and copies each row's best policy over every source and seed to the zoo."""
  from chromnas.core import policy_file  # pylint: disable=g-import-not-at-top

  records = {reproduction.key(r): r for r in reproduction.read_csv(csv_path, config_sources)}
  for row in rows:
    for s in range(seeds):
      where = reproduction.workdir(runs_dir, row.config, run_source(row, source), s)
      if not os.path.exists(os.path.join(where, "done.json")):
        continue
      with open(os.path.join(where, "done.json")) as f:
        rec = reproduction.with_source(json.load(f), config_sources)
      rec.setdefault("workdir", where)
      records[reproduction.key(rec)] = rec
    best = reproduction.zoo_record(row, list(records.values()))
    if best is None:
      continue
    # Records from before the workdir column trained in the row's own layout.
    where = best.get("workdir") or reproduction.workdir(runs_dir, row.config, reproduction.ROW, best["seed"])
    if not _matches(where, best, config_sources):
      continue  # trained where this machine cannot see: the zoo keeps the file that run put there
    src = os.path.join(where, "policy.chromnas")
    policy_file.read_policy(src)  # a damaged file never reaches the zoo
    shutil.copyfile(src, os.path.join(zoo, f"{row.config}.chromnas.tmp"))
    os.replace(os.path.join(zoo, f"{row.config}.chromnas.tmp"), os.path.join(zoo, f"{row.config}.chromnas"))
  reproduction.write_csv(csv_path, records.values())


if __name__ == "__main__":
  app.run(main, flags_parser=parse_flags_or_exit)
