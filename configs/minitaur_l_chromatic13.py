"""Poster row: minitaur, L, chromatic (K=13), host engine (override with --config.engine=brax)."""

from configs import poster_row


def get_config():
  return poster_row.make(
    "minitaur",
    "L",
    "chromatic",
    num_colors=13,
    # 1.8 (2.7) on 0.25M steps (21 iterations): PyBullet needs a larger budget.
    max_env_steps=3_000_000,
  )
