"""ARS reference row: unstructured linear policy on hopper, the ES core alone, at the env steps of
the published ARS benchmark (Mania et al. 2018: 3344 at 7M env steps)."""

from configs import poster_row


def get_config():
  return poster_row.make("hopper", "L", "unstructured", max_env_steps=7_000_000)
