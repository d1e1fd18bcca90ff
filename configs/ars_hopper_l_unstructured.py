"""ARS reference row: unstructured linear policy on hopper, the ES core alone, at the env steps of
the published ARS benchmark (Mania et al. 2018: 3344 at 7M env steps)."""

from configs import poster_row

# ARS V2-t's own Hopper settings: 8 directions, the top 4 kept, step size 0.01 and noise 0.025,
# returns divided by their std, plain gradient steps. Our estimator divides by 2 * sigma where
# ARS does not, so ARS's step size 0.01 is a learning rate of 0.01 * 2 * 0.025. With the
# defaults (16 directions, all kept, ranks, Adam 0.02) this row ended at 2815.
ARS_SETTINGS = dict(
  num_directions=8,
  top_directions=4,
  sigma=0.025,
  fitness_shaping="std",
  optimizer="sgd",
  learning_rate=0.01 * 2 * 0.025,
)


def get_config():
  return poster_row.make("hopper", "L", "unstructured", max_env_steps=7_000_000, **ARS_SETTINGS)
