"""One record per (row, partition source, seed): what a finished training run and its judged policy gave.

`summarize_seed` turns a finished training workdir plus the NumPy-runtime evaluation of its
compact policy into one record; `write_csv` / `read_csv` keep them in `results/reproduction.csv`.
A record is keyed by `(config, source, seed)` (`key`).  Its `source` names the partition search
that trained it: one of `SOURCES` for a chromatic row, `NO_SOURCE` for the other families (their
structure is fixed by the family, or searched by the row's own config and not varied here).
Records written before the column existed get it from `infer_source`.
"""

from __future__ import annotations

import csv
import math
import os
import statistics
from collections.abc import Iterable, Mapping, Sequence

from chromnas.reproduction.poster import ALL_ROWS, Row, family_of
from chromnas.train import metrics as metrics_lib

# The partition sources `experiments.reproduce --source` may name (`ROW`: the config's own).
SOURCES = ("enas", "evolution", "fixed", "random")
ROW = "row"
# Chromatic rows trained before the source was recorded used an earlier ENAS controller, whose
# defaults have since been replaced: their figures are kept apart from the current ENAS column.
LEGACY_ENAS = "enas-v1"
NO_SOURCE = "none"


def judge_seed(seed: int) -> int:
  """Seed of the first judged episode of training seed `seed`: 1_000_000 + 1000 * seed.

  Far from `experiments.evaluate`'s default (12345) and from the training seeds, so the judge never
  replays an episode the run saw; `evaluate --policy=... --seed=judge_seed(k)` repeats the judgement.
  """
  return 1_000_000 + 1000 * int(seed)


FIELDS = (
  "config",
  "source",
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
  "workdir",
)
_TEXT_FIELDS = ("config", "source", "task", "machine", "engine", "judge_env", "workdir")


def key(record: Mapping) -> tuple[str, str, int]:
  """`(config, source, seed)`: what identifies a record in the csv."""
  return record["config"], record["source"], int(record["seed"])


def recorded(records: Iterable[Mapping], config: str, source: str, seed: int, budget: int) -> bool:
  """Whether `records` hold `(config, source, seed)` judged at a budget of at least `budget` env
  steps: a finished seed, even where its workdir is not on this machine."""
  return any(key(r) == (config, source, seed) and int(r.get("budget_env_steps") or 0) >= budget for r in records)


def source_used(config: str, partition_source: str) -> str:
  """The `source` of a new record: the config's `partition_source` for a chromatic row, else `NO_SOURCE`."""
  return partition_source if family_of(config) == "chromatic" else NO_SOURCE


def infer_source(config: str, config_source: str | None) -> str:
  """The `source` of a record written before records named it, from its row's config file.

  Non-chromatic rows -> `NO_SOURCE`; a chromatic config set to evolution (or fixed, random) ->
  that source; every other chromatic row trained with the earlier ENAS controller -> `LEGACY_ENAS`."""
  if family_of(config) != "chromatic":
    return NO_SOURCE
  if config_source in ("evolution", "fixed", "random"):
    return config_source
  return LEGACY_ENAS


def with_source(record: dict, config_sources: Mapping[str, str]) -> dict:
  """`record` with its `source` filled in by `infer_source` where it has none (`config_sources`:
  `{config: partition_source of configs/<config>.py}`)."""
  if not record.get("source"):
    record = {**record, "source": infer_source(record["config"], config_sources.get(record["config"]))}
  return record


def workdir(runs_dir: str, config: str, source: str, seed: int) -> str:
  """Where a run trains: `<runs_dir>/<config>/seed<k>` for the row's own source (`ROW`),
  `<runs_dir>/<config>/<source>/seed<k>` for a source named on the command line."""
  if source == ROW:
    return os.path.join(runs_dir, config, f"seed{seed}")
  return os.path.join(runs_dir, config, source, f"seed{seed}")


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


def judged_figures(zoo_returns: Sequence[float]) -> dict:
  """`zoo_mean`, `zoo_std` (population) and `zoo_max` over the finite judged returns, rounded to
  3 decimals as the csv holds them (NaN if none is finite)."""
  finite = [x for x in zoo_returns if math.isfinite(x)]
  if not finite:
    return {"zoo_mean": math.nan, "zoo_std": math.nan, "zoo_max": math.nan}
  return {
    "zoo_mean": round(statistics.fmean(finite), 3),
    "zoo_std": round(statistics.pstdev(finite), 3),
    "zoo_max": round(max(finite), 3),
  }


def workdir_policy(record: Mapping) -> str | None:
  """`<workdir>/policy.chromnas` of `record` if that file is on this machine, else None."""
  path = os.path.join(str(record.get("workdir") or ""), "policy.chromnas")
  return path if record.get("workdir") and os.path.isfile(path) else None


def judge_policy(record: Mapping, path: str) -> dict:
  """The judged figures of the policy file at `path` on `record`'s episodes (`zoo_episodes` of
  them from episode seed `judge_seed(seed)`, as `experiments.evaluate --policy=... --seed=...`
  plays them): `zoo_mean`, `zoo_std`, `zoo_max` as `judged_figures` rounds them, plus `env`
  (the judge's environment) and `seconds`."""
  import time  # pylint: disable=g-import-not-at-top

  from chromnas import deploy  # pylint: disable=g-import-not-at-top

  start = time.perf_counter()
  returns, env = deploy.evaluate_policy_file(path, int(record["zoo_episodes"]), seed=judge_seed(int(record["seed"])))
  return {**judged_figures(list(returns)), "env": env, "seconds": time.perf_counter() - start}


def agrees(new: float, old: float, rtol: float) -> bool:
  """Whether two judged means agree: both finite and `|new - old| <= rtol |old|`."""
  return math.isfinite(new) and math.isfinite(old) and abs(new - old) <= rtol * abs(old)


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
  source: str = NO_SOURCE,
) -> dict:
  """One csv record for a finished seed: training figures from `metrics.csv` and the
  NumPy-runtime evaluation `zoo_returns` of its exported best policy; `source` as `source_used` gives it."""
  metrics = read_metrics(workdir)
  last = metrics[-1]
  tail = metrics[-max(1, len(metrics) // 10) :]
  target = row.poster_mean if row.poster_mean is not None else row.poster_max
  steps_to, wall_to = first_reaching(metrics, target)
  return {
    "config": row.config,
    "source": source,
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
    **judged_figures(zoo_returns),
    "zoo_episodes": len(zoo_returns),
    "judge_env": judge_env,
    "steps_to_poster_mean": steps_to,
    "wall_to_poster_mean": wall_to,
    "policy_bytes": int(policy_bytes),
    "workdir": workdir,
  }


def write_csv(path: str, records: Iterable[dict]) -> None:
  """Writes the records (sorted by table order, then source, then seed) atomically."""
  order = {r.config: i for i, r in enumerate(ALL_ROWS)}
  records = sorted(
    records, key=lambda rec: (order.get(rec["config"], 1 << 30), rec.get("source", ""), int(rec["seed"]))
  )
  tmp = path + ".tmp"
  with open(tmp, "w", newline="") as f:
    w = csv.DictWriter(f, fieldnames=FIELDS)
    w.writeheader()
    for rec in records:
      w.writerow({k: _cell(rec.get(k, "")) for k in FIELDS})
  os.replace(tmp, path)


def _cell(value):
  """A csv cell: whole floats as integers (`read_csv` parses every number to float, and a rewrite
  must not turn `10000000` into `10000000.0`)."""
  return int(value) if isinstance(value, float) and value.is_integer() else value


def read_csv(path: str, config_sources: Mapping[str, str]) -> list[dict]:
  """The records of a csv written by `write_csv` (numbers parsed).  A csv from before the
  `source` column gets each record's source from `infer_source` (`config_sources`: `{config:
  partition_source of configs/<config>.py}`)."""
  if not os.path.exists(path):
    return []
  out = []
  with open(path, newline="") as f:
    for r in csv.DictReader(f):
      rec = {}
      for k, v in r.items():
        try:
          rec[k] = v if k in _TEXT_FIELDS else float(v)
        except ValueError:
          rec[k] = v
      rec["seed"] = int(rec["seed"])
      out.append(with_source(rec, config_sources))
  return out
