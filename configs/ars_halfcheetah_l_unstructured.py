"""ARS reference row: unstructured linear policy on halfcheetah, the ES core alone, at the env steps of
the published ARS benchmark (Mania et al. 2018: 4815 at 12M env steps)."""

from configs import poster_row


def get_config():
  return poster_row.make("halfcheetah", "L", "unstructured", max_env_steps=12_000_000)
