"""Poster row: walker2d, H41, masked (19 kept edges), host engine (override with --config.engine=brax)."""

from configs import poster_row


def get_config():
  return poster_row.make("walker2d", "H41", "masked", mask_budget=19)
