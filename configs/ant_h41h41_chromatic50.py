"""Poster row: ant, H41,H41, chromatic (K=50), host engine (override with --config.engine=brax)."""

from configs import poster_row


def get_config():
  return poster_row.make(
    "ant",
    "H41,H41",
    "chromatic",
    num_colors=50,
    # ENAS stood still (1020.8 on 3M steps; Ant-v5 pays 1 per step alive).
    partition_source="evolution",
    # 1274.5 (1406) on 3M steps, still rising.
    max_env_steps=8_000_000,
  )
