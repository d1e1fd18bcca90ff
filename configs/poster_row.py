"""Builds the config of one row of the poster's tables (task, architecture, family, K).

Every row trains for a fixed budget of environment steps (`max_env_steps`), the budget
`python -m experiments.reproduce` states in its report.  The budget and the other per-task
settings (`reward_shift`) come from the task registry (`chromnas.envs.tasks.Task`).
"""

from chromnas.envs import tasks
from chromnas.train.config import default_config


def make(
  task: str,
  architecture: str,
  family: str,
  *,
  num_colors: int = 0,
  mask_budget: int = 0,
  engine: str = "host",
  **overrides,
):
  """A config for `task` with the given policy and the task's budget and settings.

  The chromatic and masked families search their partition with the ENAS controller (the
  paper's method); the others have no structure.  `overrides` replace any top-level field.
  """
  c = default_config()
  c.task, c.engine, c.architecture, c.family = task, engine, architecture, family
  c.num_colors = num_colors if family == "chromatic" else 0
  c.mask_budget = mask_budget
  c.partition_source = "enas" if family in ("chromatic", "masked") else "none"
  from chromnas.train import build

  c.episode_length = build.task_episode_length(c)
  # The budget, not the iteration count, ends a row: iterations differ with episode lengths.
  c.num_iterations = 1_000_000
  c.eval_every = 10
  c.checkpoint_every = 10
  t = tasks.get_task(task)
  budget = t.row_budget if family == "chromatic" else (t.comparison_budget or t.row_budget)
  settings = {"reward_shift": t.reward_shift}
  if budget:
    settings["max_env_steps"] = budget
  for field, value in {**settings, **overrides}.items():
    c[field] = value
  return c
