"""Poster row: thrower, H41, chromatic (K=23), host engine (override with --config.engine=brax)."""

from configs import poster_row


def get_config():
  return poster_row.make(
    "thrower",
    "H41",
    "chromatic",
    num_colors=23,
    # -100.5 (-72.4) on 1.5M steps, still rising.
    max_env_steps=4_000_000,
  )
