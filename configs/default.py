"""README main job: chromatic linear policy with 17 shared values on HalfCheetah-v5 (host pool),
its partition searched by the ENAS controller alongside ES (the paper's method).

Small enough for a laptop: 16 antithetic pairs, 1000-step episodes, 150 iterations, capped at
10 minutes of wall time.  `--config.partition_source=fixed` trains the same policy on one random
partition instead.
"""

from chromnas.train.config import default_config


def get_config():
  c = default_config()
  c.partition_source = "enas"
  c.num_iterations = 150
  c.max_wall_minutes = 10.0
  return c
