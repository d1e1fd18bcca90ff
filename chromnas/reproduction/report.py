"""`results/REPRODUCTION.md`: the poster's tables beside ours, rendered from the csv records.

Nothing here imports JAX: the report can be regenerated on any machine from the csv.  Statistics
over seeds (mean, IQM, their stratified-bootstrap intervals, the median seed) come from
`chromnas.seed_stats`, which wraps rliable.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import Any

import numpy as np

from chromnas.reproduction.poster import ALL_ROWS, COMPARISON, FAMILIES, Row
from chromnas.reproduction.records import judge_seed

# The partition sources with a column of their own in the reward table, and their headings.
SOURCE_COLUMNS = (("enas", "ENAS"), ("evolution", "evolution"))
CONFIDENCE = 0.95


def _fmt(x: float | None, digits: int = 1) -> str:
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
  """The zoo mean: over the zoo source's seeds where there are several, then the zoo file's own figure."""
  if a["seeds"] <= 1:
    return a["zoo_mean"]
  return f"{a['zoo_mean']}; zoo file {_fmt(a['zoo_best_mean'])}"


def _zoo_value(record: dict) -> float:
  return record["zoo_mean"] if math.isfinite(record["zoo_mean"]) else -math.inf


def zoo_record(row: Row, records: list[dict]) -> dict | None:
  """The record whose policy is the row's zoo file: the best judged mean over every source and
  seed of the row (None if the row has no record)."""
  recs = [r for r in records if r["config"] == row.config]
  return max(recs, key=_zoo_value) if recs else None


def aggregate(row: Row, records: list[dict], source: str | None = None) -> dict | None:
  """Per-row summary over seeds (of `source` only, if given): means and spreads, best seed,
  reach times (None if no seed)."""
  recs = [r for r in records if r["config"] == row.config and (source is None or r["source"] == source)]
  if not recs:
    return None
  zoo_means = [r["zoo_mean"] for r in recs]
  best = max(recs, key=_zoo_value)
  reach = [r for r in recs if math.isfinite(r["steps_to_poster_mean"])]
  return {
    "seeds": len(recs),
    "source": best["source"],
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


def source_summary(row: Row, records: list[dict], source: str) -> dict | None:
  """The seeds of one partition source on one row, judged: `seeds` (records), the `mean` and `iqm`
  of the seeds' zoo means as `seed_stats.Estimate`s with their 95% stratified-bootstrap
  interval over seeds, the `median_seed` and its `median_return`, and `best_episode` (the
  highest judged episode of any seed).  None if the source has no record on the row; the
  estimates are None where no seed has a finite return."""
  from chromnas import seed_stats  # pylint: disable=g-import-not-at-top

  recs = sorted(
    (r for r in records if r["config"] == row.config and r["source"] == source), key=lambda r: int(r["seed"])
  )
  if not recs:
    return None
  finite = [r for r in recs if math.isfinite(r["zoo_mean"])]
  out: dict[str, Any] = {"seeds": len(recs), "mean": None, "iqm": None, "median_seed": None}
  out["median_return"] = math.nan
  out["best_episode"] = max((r["zoo_max"] for r in recs if math.isfinite(r["zoo_max"])), default=math.nan)
  if finite:
    seeds, values = [int(r["seed"]) for r in finite], [float(r["zoo_mean"]) for r in finite]
    est = seed_stats.interval_estimates({source: np.asarray(values)}, confidence=CONFIDENCE)[source]
    median = seed_stats.median_seed(seeds, values)
    out.update(mean=est["mean"], iqm=est["iqm"], median_seed=median, median_return=values[seeds.index(median)])
  return out


def _estimate(e) -> str:
  """`value [low, high]`; the value alone for a zero-width interval (one seed)."""
  if e is None:
    return "-"
  if e.low == e.high:
    return _fmt(e.value)
  return f"{_fmt(e.value)} [{_fmt(e.low)}, {_fmt(e.high)}]"


def _source_cells(s: dict | None, row: Row) -> list[str]:
  """The reward table's cells of one source: seeds, mean [CI], IQM [CI], median seed, marks."""
  if s is None:
    return ["-"] * 5
  mean = s["mean"].value if s["mean"] is not None else math.nan
  median = "-" if s["median_seed"] is None else f"{_fmt(s['median_return'])} (seed {s['median_seed']})"
  marks = f"{_mark(mean, row.poster_mean) or '-'} / {_mark(s['best_episode'], row.poster_max) or '-'}"
  return [str(s["seeds"]), _estimate(s["mean"]), _estimate(s["iqm"]), median, marks]


def _source_hits(rows: Sequence[Row], summaries: dict) -> tuple[int, int, int]:
  """`(rows with a seed, rows whose mean over seeds reaches the poster's Mean, rows with an
  episode at or above its Max)` of one source column."""
  done = [(r, summaries[r.config]) for r in rows if summaries[r.config] is not None]
  mean_hits = sum(1 for r, s in done if s["mean"] is not None and s["mean"].value >= r.poster_mean)
  max_hits = sum(1 for r, s in done if math.isfinite(s["best_episode"]) and s["best_episode"] >= r.poster_max)
  return len(done), mean_hits, max_hits


ENAS_TRIED = (
  "What was tried for the ENAS controller (`experiments/controller_trials.sh`, 2M env steps each): on "
  "HalfCheetah H41 K=17, ENAS's published settings (hidden size 64, Adam 3.5e-4, temperature 5, tanh 2.5, "
  "entropy 1e-4, baseline decay 0.99, uniform start), a pointer-network head, peaked starts (margins 6 and "
  "8), a slower controller, SGD, elite memories on uniform and peaked starts (the shipped default: elite "
  "memory 16 on a margin-6 start), elite decay and twice the controller samples per iteration; on Walker2d "
  "H41 K=17, the elite default with Adam 0.03, with entropy 1e-3, with elite decay 0.9 and with twice the "
  "samples; on all three of HalfCheetah, Walker2d and Hopper H41, temperature 1.5, which lifts Walker2d "
  "and Hopper out of their standing and hop-in-place partitions and costs HalfCheetah, so those two rows "
  "set it. The REINFORCE gradient's signal-to-noise ratio stays at the noise floor in every variant; the "
  "elite memory is what made ENAS rise steadily. Where a full-budget ENAS run falls short of the Mean "
  "(Walker2d H41 seeds 0 and 2, HalfCheetah H41,H41 seed 0), its controller was close to deterministic "
  "within the first 5M steps (mean entropy per position about 0.2 or less, of a possible 2.8), on a "
  "partition whose return then stayed flat: Walker2d seed 2's entropy fell below 0.3 by 0.4M steps and "
  "0.2 by 2.6M, and its evaluations stayed at 1045-1061 from 4M to 20M steps (judged 1164). Holding "
  "every position's entropy at 0.5 nats or more (`controller.entropy_floor`, trial `enas_t15_floor05`, "
  "the same seed, 5M steps) kept the controller open (0.67 per position) but did worse: ES trained "
  "under partitions that kept changing and its best evaluation stayed at standing (992, against the "
  "default's 1045; population mean 106 against 676 over the last tenth). The study of the partition "
  "sources is in `docs/partition_sources.md`."
)


def _enas_shortfalls(rows: Sequence[Row], summaries: dict) -> list[str]:
  """The report's list of reward rows where the ENAS column falls short of the poster (no seed yet,
  mean over seeds below its Mean, no episode at its Max), then what was tried."""
  out = ["### Where ENAS falls short", ""]
  for r in rows:
    s = summaries[r.config]
    if s is None:
      out.append(f"- {r.label} (`{r.config}`): no ENAS seed yet.")
      continue
    gaps = []
    if s["mean"] is None or s["mean"].value < r.poster_mean:
      gaps.append(f"mean over seeds {_estimate(s['mean'])} below the poster's Mean {_fmt(r.poster_mean)}")
    if not (math.isfinite(s["best_episode"]) and s["best_episode"] >= r.poster_max):
      gaps.append(f"best episode {_fmt(s['best_episode'])} below the poster's Max {_fmt(r.poster_max)}")
    if gaps:
      out.append(f"- {r.label} (`{r.config}`): " + "; ".join(gaps) + ".")
  if len(out) == 2:
    out.append("- None: every reward row reaches the poster's Mean and Max with ENAS.")
  return [*out, "", ENAS_TRIED]


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
`python -m experiments.evaluate --policy=results/zoo/<row>.chromnas --episodes=N --seed=S`, with
the episode seed S that *zoo from* gives (seed k's policy is judged from `--seed=1000000+1000k`). The
standard tasks are judged on Gymnasium's own v5 environments, the others on ours. The judge's
products run in a fixed order, so the zoo files judge the same on every CPU
(`python -m experiments.verify_zoo` checks them); seeds recorded before that judge existed
(December 2026) and whose policy is not a zoo file keep the figure BLAS products gave on their
machine: the same policy and episodes, other rounding.
*zoo mean* is the mean return over those episodes; where a row has several seeds, the mean ±
spread of the seeds' figures, then the figure of the zoo file itself. The zoo file is the row's
best policy over every partition source and seed, the one `results/zoo/` ships; *zoo from*
names the source and seed that produced it, and the columns from *zoo mean* on (the source
columns aside) describe that source's seeds. *zoo max* is the best single episode. These are
stricter than the poster's columns: a fixed policy under its greedy partition, no exploration noise, fresh
episodes. We mark ✅ where the zoo file's mean reaches the poster's Mean Reward and where our
best zoo episode reaches the poster's Max Reward. The training columns are the population's mean return over
the last 10% of iterations (*train mean*, the statistic closest to the poster's Mean) and the
best population member's return (*train max*, closest to the poster's Max). *reached at* is
the env steps and wall time of the first training evaluation at or above the poster's Mean
(comparison table: the poster's Reward). A training reward never includes the learning-only
reward shift of Hopper and Walker2d.

**Partition sources.** A chromatic row's partition is searched by one of four sources (the
`--source` of `experiments.reproduce`): `enas`, the controller trained by REINFORCE beside ES (the
poster's method); `evolution`, regularized evolution over partitions; `fixed`, one random
partition drawn once; `random`, a fresh random partition per member, never trained. The *ENAS*
and *evolution* columns of the reward table gather the seeds trained with that source: how many,
the mean and the IQM over seeds of each seed's zoo mean, each with its 95% stratified-bootstrap
confidence interval over seeds (rliable; with three seeds the IQM equals the mean), the median
seed and its return, and two marks: the mean over seeds against the poster's Mean Reward, and
the best judged episode of any seed against its Max Reward. "-" means no seed of that source
yet. Chromatic runs recorded before records named their source are labelled `enas-v1` (an
earlier ENAS controller, whose defaults have since changed) unless their config chose
evolution: they count for the zoo and its columns, not for the ENAS column. Rows of the other families have the
source `none`.
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
  zoo = {r.config: zoo_record(r, records) for r in rows}
  # The zoo columns describe the seeds of the source that produced the row's zoo file.
  aggs = {r.config: aggregate(r, records, z["source"]) if (z := zoo[r.config]) else None for r in rows}
  by_source = {src: {r.config: source_summary(r, records, src) for r in reward_rows} for src, _ in SOURCE_COLUMNS}
  done_rewards = [(r, a) for r in reward_rows if (a := aggs[r.config]) is not None]
  mean_hits = sum(1 for r, a in done_rewards if a["zoo_best_mean"] >= r.poster_mean)
  max_hits = sum(1 for r, a in done_rewards if a["zoo_max"] >= r.poster_max)
  source_lines = []
  for src, heading in SOURCE_COLUMNS:
    n, src_mean, src_max = _source_hits(reward_rows, by_source[src])
    source_lines.append(
      f"- {heading} column: {n} of {len(reward_rows)} rows have {heading} seeds; their mean over seeds reaches "
      f"the poster's Mean Reward on **{src_mean}**, and one of their episodes its Max Reward on **{src_max}**."
    )
  lines += [
    "## Summary",
    "",
    f"- Reward table: {len(done_rewards)} of {len(reward_rows)} rows measured; the zoo policy reaches the "
    f"poster's Mean Reward on **{mean_hits}** and has an episode at or above its Max Reward on "
    f"**{max_hits}**.",
    *source_lines,
    f"- Comparison table: {sum(1 for r in comp_rows if aggs[r.config])} of {len(comp_rows)} cells measured.",
    "",
  ]
  lines += [
    "## Rewards when using Chromatic Networks",
    "",
    "| row | poster mean | poster max | zoo mean | | zoo max | | zoo from | "
    + " | ".join(
      f"{h} seeds | {h} mean [95% CI] | {h} IQM [95% CI] | {h} median seed | {h} vs mean / max"
      for _, h in SOURCE_COLUMNS
    )
    + " | train mean | train max | budget | env steps | wall | reached poster mean at | seeds | machine | settings "
    "| task differs |",
    "|---" * (18 + 5 * len(SOURCE_COLUMNS)) + "|",
  ]
  for r in reward_rows:
    a = aggs[r.config]
    sources = " | ".join(" | ".join(_source_cells(by_source[src][r.config], r)) for src, _ in SOURCE_COLUMNS)
    if a is None:
      lines.append(
        f"| {r.label} (`{r.config}`) | {_fmt(r.poster_mean)} | {_fmt(r.poster_max)} | not run | | | | | {sources} "
        f"| | | | | | | | | {settings.get(r.config, '')} | {'yes' if r.differs else ''} |"
      )
      continue
    lines.append(
      f"| {r.label} (`{r.config}`) | {_fmt(r.poster_mean)} | {_fmt(r.poster_max)} | {_zoo_cell(a)} | "
      f"{_mark(a['zoo_best_mean'], r.poster_mean)} | {_fmt(a['zoo_max'])} | {_mark(a['zoo_max'], r.poster_max)} | "
      f"{a['source']}, seed {a['best_seed']} (`--seed={judge_seed(a['best_seed'])}`) | {sources} | "
      f"{a['train_mean']} | {_fmt(a['train_max'])} | "
      f"{_steps(_budget(records, r))} | {_steps(a['env_steps'])} | "
      f"{_minutes(a['wall_s'])} | {_steps(a['steps_to'])}, {_minutes(a['wall_to'])} ({a['reached']}) | "
      f"{a['seeds']} | {a['machine']} | {settings.get(r.config, '')} | {'yes' if r.differs else ''} |"
    )
  lines += ["", *_enas_shortfalls(reward_rows, by_source["enas"])]
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
  for task, (_, label, _, cells) in COMPARISON.items():
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
