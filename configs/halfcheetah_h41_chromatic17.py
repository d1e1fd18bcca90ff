"""Poster row: halfcheetah, H41, chromatic (K=17), host engine.

Override the engine with --config.engine=brax.
"""

from configs import poster_row


def get_config():
  return poster_row.make(
    "halfcheetah",
    "H41",
    "chromatic",
    num_colors=17,
    # Regularized evolution: the search that first reached this row's Mean. ENAS, with the controller
    # as it is now, reaches it as well (`reproduce --source=enas`); the report has both columns.
    partition_source="evolution",
    # More than the task's budget: the row still improves at 5M steps.
    max_env_steps=12_000_000,
  )
