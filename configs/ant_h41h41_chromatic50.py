"""Poster row: ant, H41,H41, chromatic (K=50), host engine (override with --config.engine=brax)."""
from configs import poster_row


def get_config():
  return poster_row.make("ant", "H41,H41", "chromatic", num_colors=50)
