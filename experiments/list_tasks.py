"""Prints the task registry: engines, Brax backends, observation/action sizes, episode lengths.
A task's brax engine may appear twice: Brax's own model, and Gymnasium's on MJX (backend mjx_gym).

  python -m experiments.list_tasks [--debug]
"""

from __future__ import annotations

from absl import app, flags

from chromnas.envs import tasks
from experiments import fail, parse_flags_or_exit

_DEBUG = flags.DEFINE_bool("debug", False, "Also list the debug_* test tasks.")


def table(include_debug: bool = False) -> str:
  """The registry as a fixed-width text table, one line per (task, engine)."""
  lines = [
    f"{'task':<12} {'engine':<6} {'obs':>4} {'act':>4} {'episode':>8} {'poster':>9}  {'implementation / backends'}"
  ]
  for name, task in tasks.TASKS.items():
    if name.startswith("debug_") and not include_debug:
      continue
    poster = "" if task.poster_dims is None else f"({task.poster_dims[0]},{task.poster_dims[1]})"
    rows = list(task.engines.items())
    if name in tasks.MJX_GYM_TASKS:  # the brax engine's Gymnasium-faithful variant (backend mjx_gym)
      rows.append(("brax", tasks.MJX_GYM_TASKS[name]))
    for engine, et in rows:
      impl = et.make + (f"  [{', '.join(et.backends)}]" if et.backends else "")
      lines.append(f"{name:<12} {engine:<6} {et.obs_dim:>4} {et.act_dim:>4} {et.episode_length:>8} {poster:>9}  {impl}")
  notes = [
    f"  {n}: {t.note}" for n, t in tasks.TASKS.items() if t.note and (include_debug or not n.startswith("debug_"))
  ]
  return "\n".join(lines + ["", "notes:"] + notes)


def main(argv):
  if len(argv) > 1:
    fail(f"unexpected arguments {argv[1:]}")
  print(table(_DEBUG.value))


if __name__ == "__main__":
  app.run(main, flags_parser=parse_flags_or_exit)
