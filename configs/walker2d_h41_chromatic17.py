"""Poster row: walker2d, H41, chromatic (K=17), host engine (override with --config.engine=brax)."""

from configs import poster_row


def get_config():
  c = poster_row.make(
    "walker2d",
    "H41",
    "chromatic",
    num_colors=17,
    # Evolution: ENAS's partitions may settle on standing still, even with the bonus shifted out and
    # at temperature 1.5 (below), though not on every seed.
    partition_source="evolution",
    # More than the task's budget: the row still improves at 5M and 12M steps.
    max_env_steps=25_000_000,
  )
  # Under ENAS (`--config.partition_source=enas`): a hotter controller keeps sampling away from the
  # standing / early-hopping partitions that the default settles on for this task.
  c.controller.temperature = 1.5
  return c
