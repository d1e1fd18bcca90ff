"""Poster row: minitaur, H41, chromatic (K=13), host engine (override with --config.engine=brax)."""

from configs import poster_row


def get_config():
  return poster_row.make(
    "minitaur",
    "H41",
    "chromatic",
    num_colors=13,
    # Start near the zero action, as the linear rows do: the default scale's large first actions
    # throw the robot over, and ES settles on falling cheaply.
    init_scale=0.02,
    # Evolution: from that start its partitions walk sooner than ENAS's (at the full budget ENAS
    # ended higher, 9.9 and 27.0 on seeds 0 and 1 against 9.65: `--source=enas` trains the row with it).
    partition_source="evolution",
    max_env_steps=4_000_000,
  )
