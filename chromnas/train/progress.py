"""Progress lines of a training run: one per iteration, with speed, elapsed time and ETA.

A progress function is called as `progress_fn(row, schedule)` after every iteration, with the
iteration's metrics row (`iteration`, `env_steps`, `reward_mean`, `reward_max`, `eval_return`
(NaN between evaluations), `best_return`, `steps_per_s`, `wall_s`, ...; `_start_iteration` is
where this invocation started) and the run's `build.Schedule`.
"""

from __future__ import annotations

import math


def format_duration(seconds: float) -> str:
  """`'1h05m'` or `'4m07s'` for a duration in seconds; `'?'` when it is not finite."""
  if not math.isfinite(seconds):
    return "?"
  seconds = int(max(seconds, 0))
  h, rem = divmod(seconds, 3600)
  m, s = divmod(rem, 60)
  return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s"


def print_progress(row: dict, schedule) -> None:
  """Prints one progress line per iteration (iteration, rewards, eval, speed, elapsed, ETA).

  The ETA is the time per iteration so far times the iterations left, capped by whichever of
  `schedule.max_wall_minutes` and `schedule.max_env_steps` (at the current speed) ends sooner.
  """
  it = row["iteration"]
  eta = row["wall_s"] / max(it - row.get("_start_iteration", 0), 1) * (schedule.num_iterations - it)
  if schedule.max_wall_minutes:
    eta = min(eta, 60 * schedule.max_wall_minutes - row["wall_s"])
  if schedule.max_env_steps and row["env_steps"]:
    eta = min(eta, row["wall_s"] / row["env_steps"] * max(schedule.max_env_steps - row["env_steps"], 0))
  ev = "" if math.isnan(row["eval_return"]) else f" | eval {row['eval_return']:9.1f} (best {row['best_return']:.1f})"
  print(
    f"it {it:5d}/{schedule.num_iterations} | reward mean {row['reward_mean']:9.1f} max {row['reward_max']:9.1f}{ev}"
    f" | {row['steps_per_s'] / 1e3:6.1f}k steps/s | elapsed {format_duration(row['wall_s'])}"
    f" | ETA {format_duration(eta)}",
    flush=True,
  )
