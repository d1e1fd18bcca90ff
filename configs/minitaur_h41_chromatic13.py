"""Poster row: minitaur, H41, chromatic (K=13), host engine (override with --config.engine=brax)."""
from configs import poster_row


def get_config():
  return poster_row.make("minitaur", "H41", "chromatic", num_colors=13,
                        # 1.6 (2.0) on 0.25M steps: PyBullet needs a larger budget.
                        max_env_steps=1_200_000)
