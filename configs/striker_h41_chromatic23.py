"""Poster row: striker, H41, chromatic (K=23), host engine (override with --config.engine=brax)."""

from configs import poster_row


def get_config():
  return poster_row.make("striker", "H41", "chromatic", num_colors=23)
