"""Poster row: hopper, H41, chromatic (K=11), host engine (override with --config.engine=brax)."""

from configs import poster_row


def get_config():
  c = poster_row.make(
    "hopper",
    "H41",
    "chromatic",
    num_colors=11,
    # Two of the three ENAS seeds still improved between 7M and 8M steps.
    max_env_steps=16_000_000,
    # Evolution: the search that first reached this row's Mean. At the default temperature ENAS's
    # partitions settle on one hopping gait early; at 1.5 (below) it reaches the Mean as well.
    partition_source="evolution",
  )
  # Under ENAS (`--config.partition_source=enas`): a hotter controller keeps sampling away from the
  # standing / early-hopping partitions that the default settles on for this task.
  c.controller.temperature = 1.5
  return c
