"""Poster row: halfcheetah, L, chromatic (K=50), host engine (override with --config.engine=brax)."""

from configs import poster_row


def get_config():
  return poster_row.make(
    "halfcheetah",
    "L",
    "chromatic",
    num_colors=50,
    # Evolution: the search that first reached this row's Mean. ENAS, with the controller as it is
    # now, reaches it as well (`reproduce --source=enas`); the report has both columns.
    partition_source="evolution",
    max_env_steps=10_000_000,
  )
