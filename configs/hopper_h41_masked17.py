"""Poster row: hopper, H41, masked (17 kept edges), host engine (override with --config.engine=brax)."""

from configs import poster_row


def get_config():
  return poster_row.make("hopper", "H41", "masked", mask_budget=17)
