"""Poster row: striker, H41, masked (25 kept edges), host engine (override with --config.engine=brax)."""

from configs import poster_row


def get_config():
  return poster_row.make("striker", "H41", "masked", mask_budget=25)
