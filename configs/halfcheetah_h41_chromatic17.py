"""Poster row: halfcheetah, H41, chromatic (K=17), partition searched by regularized evolution, host engine.

Override the engine with --config.engine=brax.
"""

from configs import poster_row


def get_config():
  return poster_row.make(
    "halfcheetah",
    "H41",
    "chromatic",
    num_colors=17,
    # Regularized evolution over colorings: ENAS reached 909 (H41) and 1226 (H41,H41)
    # on 5M steps, evolution 1913 (H41) on 3M.
    partition_source="evolution",
    # Still rising at 5M steps (H41 2743.8, H41,H41 1924.4).
    max_env_steps=12_000_000,
  )
