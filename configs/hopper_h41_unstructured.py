"""Poster row: hopper, H41, unstructured (no structure), host engine (override with --config.engine=brax)."""

from configs import poster_row


def get_config():
  return poster_row.make("hopper", "H41", "unstructured")
