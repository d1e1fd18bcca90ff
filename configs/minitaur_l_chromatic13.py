"""Poster row: minitaur, L, chromatic (K=13), host engine (override with --config.engine=brax)."""

from configs import poster_row


def get_config():
  return poster_row.make(
    "minitaur",
    "L",
    "chromatic",
    num_colors=13,
    # More than the task's budget: a gait needs more than its 0.25M steps.
    max_env_steps=3_000_000,
  )
