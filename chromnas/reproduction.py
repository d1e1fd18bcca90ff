"""The poster's two tables as data, and the report that compares our runs with them.

`REWARD_ROWS` (16, the poster's "Rewards when using Chromatic Networks") and
`COMPARISON_CELLS` (20, "Comparisons to other methods") name the config of each row and the
poster's numbers.  `summarize_seed` turns a finished training workdir plus the NumPy-runtime
evaluation of its compact policy into one csv record; `write_csv` / `read_csv` and
`render_report` turn the records into `results/reproduction.csv` and `results/REPRODUCTION.md`.
Nothing here imports JAX: the report can be regenerated on any machine from the csv.
"""

from __future__ import annotations

import csv
import dataclasses
import math
import os
import statistics
from collections.abc import Iterable, Sequence

from chromnas.train import metrics as metrics_lib


@dataclasses.dataclass(frozen=True)
class Row:
  """One line of a poster table.

  `config` names `configs/<config>.py`; `poster_mean` / `poster_max` are the reward table's
  "Mean Reward" / "Max Reward" (a comparison cell has only `poster_max`, its "Reward", which for
  the chromatic cells equals the reward table's Max Reward of the same row).
  """

  config: str
  table: str  # "rewards" or "comparison"
  task: str
  label: str
  poster_mean: float | None
  poster_max: float | None
  differs: str = ""  # how our task differs from the poster's, if it does


_REACHER = "Gymnasium Reacher-v5: 10 observations where the poster's (gym v2) had 11."
_ANT = "Gymnasium Ant-v5: 105 observations (27 + 78 contact forces) where the poster's Ant-v2 had 111."
_STRIKER = (
  "gym's Striker-v2 no longer exists; ours is rebuilt on Gymnasium's Pusher arm with its own reward "
  "(chromnas/envs/arm_tasks.py): the scale of the returns need not match the poster's."
)
_THROWER = _STRIKER.replace("Striker-v2", "Thrower-v2")
_MINITAUR = (
  "pybullet_envs' Minitaur no longer imports; ours is rebuilt on pybullet with its layout (28 observations, "
  "8 leg-model actions; the poster lists (7, 13)), reward = forward progress - 0.005 x energy."
)
_PUSHER = "Gymnasium Pusher-v5 (100 steps) where the poster used gym's Pusher-v2 (same rules)."

REWARD_ROWS: tuple[Row, ...] = (
  Row("swimmer_l_chromatic8", "rewards", "swimmer", "Swimmer (8,2) L K=8", 97, 365),
  Row("reacher_l_chromatic11", "rewards", "reacher", "Reacher (11,2) L K=11", -144, -6, _REACHER),
  Row("hopper_l_chromatic11", "rewards", "hopper", "Hopper (11,3) L K=11", 216, 999),
  Row("hopper_h41_chromatic11", "rewards", "hopper", "Hopper (11,3) H41 K=11", 247, 3408),
  Row("halfcheetah_l_chromatic17", "rewards", "halfcheetah", "HalfCheetah (17,6) L K=17", 1812, 3653),
  Row("halfcheetah_l_chromatic50", "rewards", "halfcheetah", "HalfCheetah (17,6) L K=50", 1383, 4318),
  Row("halfcheetah_h41_chromatic17", "rewards", "halfcheetah", "HalfCheetah (17,6) H41 K=17", 2148, 3779),
  Row("halfcheetah_h41h41_chromatic17", "rewards", "halfcheetah", "HalfCheetah (17,6) H41,H41 K=17", 3036, 5285),
  Row("walker2d_h41_chromatic17", "rewards", "walker2d", "Walker2d (17,6) H41 K=17", 1943, 3695),
  Row("pusher_h41_chromatic23", "rewards", "pusher", "Pusher (23,7) H41 K=23", -419, -144, _PUSHER),
  Row("striker_h41_chromatic23", "rewards", "striker", "Striker (23,7) H41 K=23", -1926, -248, _STRIKER),
  Row("thrower_h41_chromatic23", "rewards", "thrower", "Thrower (23,7) H41 K=23", -1651, -61, _THROWER),
  Row("ant_h41h41_chromatic50", "rewards", "ant", "Ant (111,8) H41,H41 K=50", 1047, 1440, _ANT),
  Row("minitaur_l_chromatic13", "rewards", "minitaur", "Minitaur (7,13) L K=13", 4.84, 7.2, _MINITAUR),
  Row("minitaur_l_chromatic50", "rewards", "minitaur", "Minitaur (7,13) L K=50", 6.08, 7.91, _MINITAUR),
  Row("minitaur_h41_chromatic13", "rewards", "minitaur", "Minitaur (7,13) H41 K=13", 7.12, 9.34, _MINITAUR),
)

_COMPARISON = {  # task -> (config prefix, label, {family: (config suffix, poster reward)})
  "striker": (
    "striker_h41",
    "Striker",
    _STRIKER,
    {
      "chromatic": ("chromatic23", -248),
      "masked": ("masked25", -967),
      "toeplitz": ("toeplitz", -129),
      "circulant": ("circulant", -120),
      "unstructured": ("unstructured", -117),
    },
  ),
  "halfcheetah": (
    "halfcheetah_h41",
    "HalfCheetah",
    "",
    {
      "chromatic": ("chromatic17", 3779),
      "masked": ("masked40", 4806),
      "toeplitz": ("toeplitz", 2525),
      "circulant": ("circulant", 1728),
      "unstructured": ("unstructured", 3614),
    },
  ),
  "hopper": (
    "hopper_h41",
    "Hopper",
    "",
    {
      "chromatic": ("chromatic11", 3408),
      "masked": ("masked17", 2196),
      "toeplitz": ("toeplitz", 2749),
      "circulant": ("circulant", 2680),
      "unstructured": ("unstructured", 2691),
    },
  ),
  "walker2d": (
    "walker2d_h41",
    "Walker2d",
    "",
    {
      "chromatic": ("chromatic17", 3695),
      "masked": ("masked19", 1781),
      "toeplitz": ("toeplitz", 1),
      "circulant": ("circulant", 3),
      "unstructured": ("unstructured", 2230),
    },
  ),
}
FAMILIES = ("chromatic", "masked", "toeplitz", "circulant", "unstructured")

COMPARISON_CELLS: tuple[Row, ...] = tuple(
  Row(f"{prefix}_{suffix}", "comparison", task, f"{label} H41 {family}", None, reward, differs)
  for task, (prefix, label, differs, cells) in _COMPARISON.items()
  for family, (suffix, reward) in ((f, cells[f]) for f in FAMILIES)
)

# The ES core alone against the published ARS benchmark (Mania et al. 2018, linear policies):
# average return at the same env steps.  `poster_mean` holds ARS's figure.
ARS_ROWS: tuple[Row, ...] = (
  Row(
    "ars_halfcheetah_l_unstructured", "ars", "halfcheetah", "HalfCheetah L unstructured (ARS: 12M steps)", 4815, None
  ),
  Row("ars_hopper_l_unstructured", "ars", "hopper", "Hopper L unstructured (ARS: 7M steps)", 3344, None),
  Row("ars_swimmer_l_unstructured", "ars", "swimmer", "Swimmer L unstructured (ARS: 2M steps)", 355, None),
)

ALL_ROWS = REWARD_ROWS + COMPARISON_CELLS + ARS_ROWS


TABLES = ("rewards", "comparison", "ars", "all")


def rows_for(table: str, names: Sequence[str] = ()) -> list[Row]:
  """The rows of `table` ('rewards', 'comparison', 'ars' or 'all'), restricted to config `names` if given.

  A config shared by both tables (the chromatic comparison cells) is listed once."""
  if table not in TABLES:
    raise ValueError(f"table must be one of {', '.join(TABLES)}, got {table!r}")
  pool = {"rewards": REWARD_ROWS, "comparison": COMPARISON_CELLS, "ars": ARS_ROWS, "all": ALL_ROWS}[table]
  known = {r.config for r in ALL_ROWS}
  unknown = [n for n in names if n not in known]
  if unknown:
    raise ValueError(f"unknown row {unknown[0]!r}; rows are the configs {', '.join(sorted(known))}")
  if names:  # in the order given
    by_name = {r.config: r for r in reversed(pool)}
    return [by_name[n] for n in dict.fromkeys(names) if n in by_name]
  seen, out = set(), []
  for r in pool:
    if r.config not in seen:
      seen.add(r.config)
      out.append(r)
  return out


# ---------------------------------------------------------------------------------------------
# One seed's record.

FIELDS = (
  "config",
  "seed",
  "task",
  "env_steps",
  "budget_env_steps",
  "wall_s",
  "machine",
  "engine",
  "iterations",
  "final_reward_mean",
  "max_reward_max",
  "best_train_eval",
  "zoo_mean",
  "zoo_std",
  "zoo_max",
  "zoo_episodes",
  "judge_env",
  "steps_to_poster_mean",
  "wall_to_poster_mean",
  "policy_bytes",
)


def parse_grid(text: str) -> list[tuple[str, str]]:
  """A sweep's settings, one field at a time: `'a=1,2;b=3'` -> `[('a', '1'), ('a', '2'), ('b', '3')]`;
  one `ValueError` naming a malformed item."""
  settings = []
  for item in filter(None, (part.strip() for part in text.split(";"))):
    if "=" not in item:
      raise ValueError(f"--grid expects field=v1,v2,... items separated by ';', got {item!r}")
    field, values = item.split("=", 1)
    settings += [(field.strip(), v.strip()) for v in values.split(",") if v.strip()]
  return settings


def read_metrics(workdir: str) -> list[dict]:
  """The rows of `workdir/metrics.csv` as dicts of floats."""
  rows = metrics_lib.read_csv(os.path.join(workdir, "metrics.csv"))
  return [{k: float(v) if v not in ("", None) else math.nan for k, v in r.items()} for r in rows]


def first_reaching(metrics: list[dict], target: float | None) -> tuple[float, float]:
  """`(env_steps, wall_s)` of the first evaluation whose return is >= `target` (NaN if none)."""
  if target is None:
    return math.nan, math.nan
  for r in metrics:
    if r.get("eval_return", math.nan) >= target:
      return r["env_steps"], r["wall_s"]
  return math.nan, math.nan


def summarize_seed(
  row: Row,
  seed: int,
  workdir: str,
  zoo_returns: Sequence[float],
  judge_env: str,
  budget: int,
  machine: str,
  engine: str,
  policy_bytes: int,
) -> dict:
  """One csv record for a finished seed: training figures from `metrics.csv` and the
  NumPy-runtime evaluation `zoo_returns` of its exported best policy."""
  metrics = read_metrics(workdir)
  last = metrics[-1]
  tail = metrics[-max(1, len(metrics) // 10) :]
  finite = [x for x in zoo_returns if math.isfinite(x)]
  target = row.poster_mean if row.poster_mean is not None else row.poster_max
  steps_to, wall_to = first_reaching(metrics, target)
  return {
    "config": row.config,
    "seed": seed,
    "task": row.task,
    "env_steps": int(last["env_steps"]),
    "budget_env_steps": int(budget),
    "wall_s": round(last["wall_s"], 1),
    "machine": machine,
    "engine": engine,
    "iterations": int(last["iteration"]),
    "final_reward_mean": round(statistics.fmean(r["reward_mean"] for r in tail), 3),
    "max_reward_max": round(max(r["reward_max"] for r in metrics), 3),
    "best_train_eval": round(
      max((r["eval_return"] for r in metrics if math.isfinite(r["eval_return"])), default=math.nan), 3
    ),
    "zoo_mean": round(statistics.fmean(finite), 3) if finite else math.nan,
    "zoo_std": round(statistics.pstdev(finite), 3) if finite else math.nan,
    "zoo_max": round(max(finite), 3) if finite else math.nan,
    "zoo_episodes": len(zoo_returns),
    "judge_env": judge_env,
    "steps_to_poster_mean": steps_to,
    "wall_to_poster_mean": wall_to,
    "policy_bytes": int(policy_bytes),
  }


def write_csv(path: str, records: Iterable[dict]) -> None:
  """Writes the records (sorted by table order, then seed) atomically."""
  order = {r.config: i for i, r in enumerate(ALL_ROWS)}
  records = sorted(records, key=lambda rec: (order.get(rec["config"], 1 << 30), int(rec["seed"])))
  tmp = path + ".tmp"
  with open(tmp, "w", newline="") as f:
    w = csv.DictWriter(f, fieldnames=FIELDS)
    w.writeheader()
    for rec in records:
      w.writerow({k: rec.get(k, "") for k in FIELDS})
  os.replace(tmp, path)


def read_csv(path: str) -> list[dict]:
  """The records of a csv written by `write_csv` (numbers parsed)."""
  if not os.path.exists(path):
    return []
  out = []
  with open(path, newline="") as f:
    for r in csv.DictReader(f):
      rec = {}
      for k, v in r.items():
        try:
          rec[k] = float(v) if k not in ("config", "task", "machine", "engine", "judge_env") else v
        except ValueError:
          rec[k] = v
      rec["seed"] = int(rec["seed"])
      out.append(rec)
  return out


# ---------------------------------------------------------------------------------------------
# The report.


def _fmt(x: float, digits: int = 1) -> str:
  if x is None or (isinstance(x, float) and math.isnan(x)):
    return "-"
  if abs(x) >= 100 or digits == 0:
    return f"{x:.0f}"
  return f"{x:.{digits}f}" if abs(x) >= 10 else f"{x:.2f}"


def _steps(x: float) -> str:
  if x is None or math.isnan(x):
    return "-"
  return f"{x / 1e6:.2f}M"


def _minutes(x: float) -> str:
  if x is None or math.isnan(x):
    return "-"
  return f"{x / 60:.1f} min"


def _mean_spread(values: list[float]) -> str:
  values = [v for v in values if math.isfinite(v)]
  if not values:
    return "-"
  if len(values) == 1:
    return _fmt(values[0])
  return f"{_fmt(statistics.fmean(values))} ± {_fmt(statistics.pstdev(values))}"


def _mark(ours: float, poster: float | None) -> str:
  if poster is None or not math.isfinite(ours):
    return ""
  return "✅" if ours >= poster else "❌"


def _zoo_cell(a: dict) -> str:
  """The zoo mean: over seeds where there are several, then the zoo file's own figure (best seed)."""
  if a["seeds"] <= 1:
    return a["zoo_mean"]
  return f"{a['zoo_mean']}; zoo file {_fmt(a['zoo_best_mean'])} (seed {a['best_seed']})"


def aggregate(row: Row, records: list[dict]) -> dict | None:
  """Per-row summary over seeds: means and spreads, best seed, reach times (None if no seed)."""
  recs = [r for r in records if r["config"] == row.config]
  if not recs:
    return None
  zoo_means = [r["zoo_mean"] for r in recs]
  best = max(recs, key=lambda r: r["zoo_mean"] if math.isfinite(r["zoo_mean"]) else -math.inf)
  reach = [r for r in recs if math.isfinite(r["steps_to_poster_mean"])]
  return {
    "seeds": len(recs),
    "zoo_mean": _mean_spread(zoo_means),
    "zoo_best_mean": best["zoo_mean"],
    "zoo_max": max(r["zoo_max"] for r in recs),
    "best_seed": int(best["seed"]),
    "train_mean": _mean_spread([r["final_reward_mean"] for r in recs]),
    "train_max": max(r["max_reward_max"] for r in recs),
    "env_steps": statistics.fmean(r["env_steps"] for r in recs),
    "wall_s": statistics.fmean(r["wall_s"] for r in recs),
    "machine": best["machine"],
    "engine": best["engine"],
    "judge_env": best["judge_env"],
    "episodes": int(best["zoo_episodes"]),
    "bytes": int(best["policy_bytes"]),
    "steps_to": min((r["steps_to_poster_mean"] for r in reach), default=math.nan),
    "wall_to": min((r["wall_to_poster_mean"] for r in reach), default=math.nan),
    "reached": f"{len(reach)}/{len(recs)}",
  }


READING = """\
## How to read the numbers

**The poster's "Mean Reward" and "Max Reward".** The poster does not define them. Our reading:
ES with a controller evaluates, at every iteration, a population of perturbed policies each
under a partition sampled from the controller; "Mean Reward" is the average return of that
population late in training (it includes the exploration noise and the controller's sampling,
which is why it sits far below "Max Reward" on Hopper and Minitaur), and "Max Reward" is the
best return a policy reached in training. Why: the gaps between the two columns (Hopper H41:
247 vs 3408) are far too large for the spread of one trained policy's episodes, and a population
mean under exploration noise and a diffuse controller explains low means on tasks whose max is
high. This reading is ours; the poster gives no definition. The comparison table's
"Reward" of each chromatic cell equals the Max Reward of the same row, so it is the same
statistic.

**Ours.** Each row trains on a fixed budget of environment steps (column *budget*) and then
judges the best policy it evaluated during training, exported to the compact `.chromnas`
file of `results/zoo/`, with the NumPy runtime on fresh episodes:
`python -m experiments.evaluate --policy=results/zoo/<row>.chromnas --episodes=N`. The
standard tasks are judged on Gymnasium's own v5 environments, the others on ours.
*zoo mean* is the mean return over those episodes; where a row has several seeds, the mean ±
spread of the seeds' figures, then the figure of the zoo file itself (the best seed's policy,
the one `results/zoo/` ships). *zoo max* is the best single episode. These are stricter than
the poster's columns: a fixed policy under its greedy partition, no exploration noise, fresh
episodes. We mark ✅ where the zoo file's mean reaches the poster's Mean Reward and where our
best zoo episode reaches the poster's Max Reward. The training columns are the population's mean return over
the last 10% of iterations (*train mean*, the statistic closest to the poster's Mean) and the
best population member's return (*train max*, closest to the poster's Max). *reached at* is
the env steps and wall time of the first training evaluation at or above the poster's Mean
(comparison table: the poster's Reward). A training reward never includes the learning-only
reward shift of Hopper and Walker2d.
"""


def render_report(
  records: list[dict], *, command: str, rows: Sequence[Row] = ALL_ROWS, settings: dict | None = None
) -> str:
  """`results/REPRODUCTION.md` from the csv records (never edited by hand).  `settings` maps a
  config name to a short text of its non-default training settings (shown in a column)."""
  settings = settings or {}
  lines = [
    "# Reproduction of the poster's tables",
    "",
    "Generated by `python -m experiments.reproduce` from `results/reproduction.csv`; do not edit by hand.",
    f"Regenerate (resumes, skipping finished seeds): `{command}`",
    "",
  ]
  reward_rows = [r for r in rows if r.table == "rewards"]
  comp_rows = [r for r in rows if r.table == "comparison"]
  aggs = {r.config: aggregate(r, records) for r in rows}
  done_rewards = [r for r in reward_rows if aggs[r.config]]
  mean_hits = sum(1 for r in done_rewards if aggs[r.config]["zoo_best_mean"] >= r.poster_mean)
  max_hits = sum(1 for r in done_rewards if aggs[r.config]["zoo_max"] >= r.poster_max)
  lines += [
    "## Summary",
    "",
    f"- Reward table: {len(done_rewards)} of {len(reward_rows)} rows measured; the zoo policy reaches the "
    f"poster's Mean Reward on **{mean_hits}** and has an episode at or above its Max Reward on "
    f"**{max_hits}**.",
    f"- Comparison table: {sum(1 for r in comp_rows if aggs[r.config])} of {len(comp_rows)} cells measured.",
    "",
  ]
  lines += [
    "## Rewards when using Chromatic Networks",
    "",
    "| row | poster mean | poster max | zoo mean | | zoo max | | train mean | train max | budget | env steps "
    "| wall | reached poster mean at | seeds | machine | settings | task differs |",
    "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
  ]
  for r in reward_rows:
    a = aggs[r.config]
    if a is None:
      lines.append(
        f"| {r.label} (`{r.config}`) | {_fmt(r.poster_mean)} | {_fmt(r.poster_max)} | not run "
        f"| | | | | | | | | | | | {settings.get(r.config, '')} | {'yes' if r.differs else ''} |"
      )
      continue
    lines.append(
      f"| {r.label} (`{r.config}`) | {_fmt(r.poster_mean)} | {_fmt(r.poster_max)} | {_zoo_cell(a)} | "
      f"{_mark(a['zoo_best_mean'], r.poster_mean)} | {_fmt(a['zoo_max'])} | {_mark(a['zoo_max'], r.poster_max)} | "
      f"{a['train_mean']} | {_fmt(a['train_max'])} | {_steps(_budget(records, r))} | {_steps(a['env_steps'])} | "
      f"{_minutes(a['wall_s'])} | {_steps(a['steps_to'])}, {_minutes(a['wall_to'])} ({a['reached']}) | "
      f"{a['seeds']} | {a['machine']} | {settings.get(r.config, '')} | {'yes' if r.differs else ''} |"
    )
  lines += [
    "",
    "## Comparisons to other methods (H41 policies)",
    "",
    "| cell | family | poster reward | zoo mean | | zoo max | | train max | # weight-params | bytes "
    "| budget | wall | reached poster reward at | seeds | settings |",
    "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
  ]
  for r in comp_rows:
    a = aggs[r.config]
    family = r.label.split()[-1]
    if a is None:
      lines.append(
        f"| {r.label} (`{r.config}`) | {family} | {_fmt(r.poster_max)} | not run | | | | | | | | | | | "
        f"{settings.get(r.config, '')} |"
      )
      continue
    lines.append(
      f"| {r.label} (`{r.config}`) | {family} | {_fmt(r.poster_max)} | {a['zoo_mean']} | "
      f"{_mark(a['zoo_best_mean'], r.poster_max)} | {_fmt(a['zoo_max'])} | {_mark(a['zoo_max'], r.poster_max)} | "
      f"{_fmt(a['train_max'])} | {_weight_params(r)} | {a['bytes']} | {_steps(_budget(records, r))} | "
      f"{_minutes(a['wall_s'])} | {_steps(a['steps_to'])}, {_minutes(a['wall_to'])} ({a['reached']}) | "
      f"{a['seeds']} | {settings.get(r.config, '')} |"
    )
  lines += ["", "### Ranking per task (best first)", "", "| task | poster | ours (zoo mean) |", "|---|---|---|"]
  for task, (_, label, _, cells) in _COMPARISON.items():
    poster = sorted(FAMILIES, key=lambda f: -cells[f][1])
    ours_vals = {}
    for f in FAMILIES:
      row = next(r for r in comp_rows if r.config.endswith(cells[f][0]) and r.task == task) if comp_rows else None
      a = aggs.get(row.config) if row else None
      if a is not None:
        ours_vals[f] = a["zoo_best_mean"]
    ours = " > ".join(f"{f} ({_fmt(v)})" for f, v in sorted(ours_vals.items(), key=lambda kv: -kv[1]))
    lines.append(f"| {label} | {' > '.join(f'{f} ({_fmt(cells[f][1])})' for f in poster)} | {ours or '-'} |")
  ars_rows = [r for r in rows if r.table == "ars"]
  if ars_rows:
    lines += [
      "",
      "## The ES core against ARS (unstructured linear policies)",
      "",
      "The same ES machinery with no weight sharing, against the published ARS benchmark (Mania et al. 2018) "
      "at the same env steps.",
      "",
      "| row | ARS | ours (zoo mean) | | zoo max | train mean | env steps | wall | reached ARS at |",
      "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in ars_rows:
      a = aggs[r.config]
      if a is None:
        lines.append(f"| {r.label} (`{r.config}`) | {_fmt(r.poster_mean)} | not run | | | | | | |")
        continue
      lines.append(
        f"| {r.label} (`{r.config}`) | {_fmt(r.poster_mean)} | {a['zoo_mean']} | "
        f"{_mark(a['zoo_best_mean'], r.poster_mean)} | {_fmt(a['zoo_max'])} | {a['train_mean']} | "
        f"{_steps(a['env_steps'])} | {_minutes(a['wall_s'])} | {_steps(a['steps_to'])}, "
        f"{_minutes(a['wall_to'])} ({a['reached']}) |"
      )
  differs = [r for r in rows if r.differs]
  if differs:
    lines += ["", "## Where our tasks differ from the poster's", ""]
    seen = set()
    for r in differs:
      if r.differs not in seen:
        seen.add(r.differs)
        lines.append(f"- **{r.task}**: {r.differs}")
    lines += [
      "",
      "Returns on these tasks compare with the poster's only in direction (higher is better): the "
      "observation sets (Reacher, Ant) change what the policy sees but not the reward; the rebuilt Striker, "
      "Thrower and Minitaur have rewards of their own scale, so their cells are not comparable in absolute "
      "value.",
    ]
  lines += ["", READING]
  return "\n".join(lines) + "\n"


def _budget(records: list[dict], row: Row) -> float:
  vals = [r["budget_env_steps"] for r in records if r["config"] == row.config]
  return max(vals) if vals else math.nan


def _weight_params(row: Row) -> str:
  from chromnas.core import footprint  # pylint: disable=g-import-not-at-top

  try:
    for entry in footprint.comparison_table():
      if entry["env"].lower() == row.task and entry["family"] == row.label.split()[-1]:
        return str(entry["weight_params"])
  except Exception:  # pylint: disable=broad-except
    pass
  return "-"
