"""README main job: chromatic linear policy with 17 shared values on HalfCheetah-v5 (host pool).

Small enough for a 2-core laptop: 16 antithetic pairs, 1000-step episodes, ~10 minutes.
"""
from chromnas.config import default_config


def get_config():
  c = default_config()
  c.num_iterations = 150
  c.max_wall_minutes = 10.0
  return c
