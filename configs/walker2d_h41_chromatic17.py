"""Poster row: walker2d, H41, chromatic (K=17), host engine (override with --config.engine=brax)."""

from configs import poster_row


def get_config():
  return poster_row.make(
    "walker2d",
    "H41",
    "chromatic",
    num_colors=17,
    # ENAS stood still (1030.6 on 5M steps with shift 0.8).
    partition_source="evolution",
    # 2102.6 (2381.8) on 5M steps, 2372.6 (2746.7) on 12M, 3182.3 (3219.3) on 25M.
    max_env_steps=25_000_000,
  )
