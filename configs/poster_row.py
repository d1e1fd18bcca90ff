"""Builds the config of one row of the poster's tables (task, architecture, family, K).

Every row trains for a fixed budget of environment steps (`max_env_steps`), the budget
`python -m experiments.reproduce` states in its report.  Per-task settings (`TASK_SETTINGS`)
hold what differs from the defaults.
"""

from chromnas.train.config import default_config

# Per task: the env-step budget of one seed and the settings that differ from the defaults.
# `reward_shift` removes the healthy bonus from the learning signal (ARS's shift): without it
# ES on Hopper and Walker2d settles on standing still (return ~1000 = 1000 steps x bonus 1).
TASK_SETTINGS = {
  "halfcheetah": dict(max_env_steps=5_000_000),
  "hopper": dict(max_env_steps=4_000_000, reward_shift=1.0),
  "walker2d": dict(max_env_steps=5_000_000, reward_shift=0.8),
  "swimmer": dict(max_env_steps=3_000_000),
  "reacher": dict(max_env_steps=1_000_000),
  "pusher": dict(max_env_steps=1_500_000),
  "striker": dict(max_env_steps=1_500_000),
  "thrower": dict(max_env_steps=1_500_000),
  "ant": dict(max_env_steps=3_000_000),
  "minitaur": dict(max_env_steps=250_000),
}
# The comparison table's other families (masked, toeplitz, circulant, unstructured) train on
# this budget.  HalfCheetah, Hopper and Striker match their chromatic cell; Walker2d stays smaller,
# to keep the four cells affordable, so its chromatic cell has 12x the others' budget.  The report
# states every cell's budget.
COMPARISON_BUDGET = {"halfcheetah": 12_000_000, "hopper": 8_000_000, "walker2d": 2_000_000, "striker": 1_500_000}


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
  settings = dict(TASK_SETTINGS.get(task, {}))
  if family != "chromatic" and task in COMPARISON_BUDGET:
    settings["max_env_steps"] = COMPARISON_BUDGET[task]
  for field, value in {**settings, **overrides}.items():
    c[field] = value
  return c
