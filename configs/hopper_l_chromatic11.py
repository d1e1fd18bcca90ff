"""Poster row: hopper, L, chromatic (K=11), host engine (override with --config.engine=brax)."""

from configs import poster_row


def get_config():
  return poster_row.make(
    "hopper",
    "L",
    "chromatic",
    num_colors=11,
    # The linear policy only learned to dive forward with the bonus shifted out
    # (347 on 4M steps); the poster's row (mean 216, max 999) is standing tall.
    reward_shift=0.0,
  )
