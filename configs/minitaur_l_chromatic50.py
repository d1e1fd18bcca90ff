"""Poster row: minitaur, L, chromatic (K=50), host engine (override with --config.engine=brax)."""

from configs import poster_row


def get_config():
  return poster_row.make(
    "minitaur",
    "L",
    "chromatic",
    num_colors=50,
    # 0.5 (0.9) on 0.25M steps (16 iterations): PyBullet needs a larger budget.
    max_env_steps=1_500_000,
  )
