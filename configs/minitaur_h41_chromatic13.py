"""Poster row: minitaur, H41, chromatic (K=13), host engine (override with --config.engine=brax)."""

from configs import poster_row


def get_config():
  return poster_row.make(
    "minitaur",
    "H41",
    "chromatic",
    num_colors=13,
    # At the default scale (1/sqrt(28)) the first policies' large actions throw
    # the robot over within about 12 steps, and ES settles on falling cheaply
    # (3.4 on 4M steps: no gait).  Starting near the zero action, as the linear
    # rows do, the robot stands from the first iteration.
    init_scale=0.02,
    # With that start, evolution's partitions walked sooner than ENAS's (7.9
    # against 4.4 at 1.3M steps; ENAS stayed near 5 to 2.7M).
    partition_source="evolution",
    max_env_steps=4_000_000,
  )
