"""Poster row: halfcheetah, H41, toeplitz (no structure), host engine (override with --config.engine=brax)."""

from configs import poster_row


def get_config():
  return poster_row.make("halfcheetah", "H41", "toeplitz")
