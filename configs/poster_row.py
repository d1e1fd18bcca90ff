"""Builds the config of one row of the poster's tables (task, architecture, family, K)."""
from chromnas.config import default_config


def make(task: str, architecture: str, family: str, *, num_colors: int = 0, mask_budget: int = 0,
         engine: str = "host"):
  """A config for `task` with the given policy; the chromatic and masked families search their
  partition with the ENAS controller (the paper's method), the others have no structure."""
  c = default_config()
  c.task, c.engine, c.architecture, c.family = task, engine, architecture, family
  c.num_colors = num_colors if family == "chromatic" else 0
  c.mask_budget = mask_budget
  c.partition_source = "enas" if family in ("chromatic", "masked") else "none"
  from chromnas import tasks
  c.episode_length = tasks.engine_task(task, engine, c.backend if engine == "brax" else None).episode_length
  c.num_iterations = 1000
  return c
