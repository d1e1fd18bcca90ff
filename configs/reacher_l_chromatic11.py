"""Poster row: reacher, L, chromatic (K=11), host engine (override with --config.engine=brax)."""

from configs import poster_row


def get_config():
  return poster_row.make("reacher", "L", "chromatic", num_colors=11)
