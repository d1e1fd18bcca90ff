"""Poster row: hopper, L, chromatic (K=11), host engine (override with --config.engine=brax)."""

from configs import poster_row


def get_config():
  return poster_row.make(
    "hopper",
    "L",
    "chromatic",
    num_colors=11,
    # No shift: with the bonus shifted out the linear policy only learns to dive forward.
    reward_shift=0.0,
  )
