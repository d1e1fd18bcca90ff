"""Poster row: halfcheetah, H41,H41, chromatic (K=17), partition searched by regularized evolution, host engine.

Override the engine with --config.engine=brax.
"""

from configs import poster_row


def get_config():
  return poster_row.make(
    "halfcheetah",
    "H41,H41",
    "chromatic",
    num_colors=17,
    # Regularized evolution over colorings: ENAS reached 909 (H41) and 1226 (H41,H41)
    # on 5M steps, evolution 1913 (H41) on 3M.
    partition_source="evolution",
    # Still rising at 5M steps (H41 2743.8, H41,H41 1924.4) and at 12M (H41,H41 2270.8).
    # At 30M the seed matters more than the budget: seed 0 2293.8, seed 1 3396.8.
    max_env_steps=30_000_000,
  )
