"""Poster row: minitaur, H41, chromatic (K=13), host engine (override with --config.engine=brax)."""
from configs import poster_row


def get_config():
  return poster_row.make("minitaur", "H41", "chromatic", num_colors=13,
                        # 1.6 (2.0) on 0.25M steps, 2.2 (2.3) on 1.2M, 3.4 (3.5) on 4M: no gait
                        # yet, where the linear rows walked by 1.5-3M steps.
                        max_env_steps=4_000_000)
