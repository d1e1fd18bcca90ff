"""The one episode loop: a policy `act(obs) -> action` in a Gymnasium-API environment.

Duck-typed on `env.reset(seed=...)` / `env.step(action)` and NumPy only, so the host workers
(`chromnas.engines.host_episode`), the judge (`chromnas.deploy.episode_returns`) and the renderer
(`chromnas.render`) all run their episodes here.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np


def action_scaler(action_space) -> Callable[[np.ndarray], np.ndarray] | None:
  """Maps tanh outputs in [-1, 1] onto a bounded Box action space, `a -> low + (a + 1) (high -
  low) / 2`; `None` where no scaling is needed (the space is [-1, 1] or unbounded)."""
  low = np.asarray(getattr(action_space, "low", -1.0), np.float64)
  high = np.asarray(getattr(action_space, "high", 1.0), np.float64)
  if not (np.all(np.isfinite(low)) and np.all(np.isfinite(high))) or (np.all(low == -1) and np.all(high == 1)):
    return None
  return lambda a: low + (a + 1.0) * 0.5 * (high - low)


def run(
  env,
  act: Callable[[np.ndarray], np.ndarray],
  *,
  seed: int,
  episode_length: int,
  action_repeat: int = 1,
  scale: Callable[[np.ndarray], np.ndarray] | None = None,
  observe: Callable[[int, np.ndarray], bool | None] | None = None,
) -> tuple[float, int]:
  """One episode from `env.reset(seed=seed)`: `(return, length)`.

  At each control step `t < episode_length` the policy acts on the observation, `scale(act(obs))`
  (`scale` defaults to the identity), and the action is repeated `action_repeat` times, summing
  the rewards (as Python floats).  The episode ends on termination or truncation, or as soon as
  the return is not finite (a diverging simulator); `length` counts the control steps taken.
  `observe(t, obs)`, if given, sees each observation before the policy acts on it; returning
  `False` ends the episode there with a NaN return.
  """
  scale = scale or (lambda a: a)
  obs, _ = env.reset(seed=int(seed))
  total, length = 0.0, 0
  for t in range(episode_length):
    if observe is not None and observe(t, obs) is False:
      return math.nan, length
    action = scale(act(obs))
    done = False
    for _ in range(action_repeat):
      obs, reward, terminated, truncated, _ = env.step(action)
      total += float(reward)
      if terminated or truncated:
        done = True
        break
    length = t + 1
    if done or not math.isfinite(total):
      break
  return total, length
