"""ARS reference row: unstructured linear policy on swimmer, the ES core alone, at the env steps of
the published ARS benchmark (Mania et al. 2018: 355 at 2M env steps)."""

from configs import poster_row


def get_config():
  return poster_row.make("swimmer", "L", "unstructured", max_env_steps=2_000_000)
