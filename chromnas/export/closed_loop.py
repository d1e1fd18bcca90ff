"""Closed-loop episodes of any `act(obs) -> action` on a policy's judge environment.

The loop is `chromnas.deploy.evaluate_policy_file`'s, with the policy passed in: so an exported
policy (the C library through `chromnas.export.c_build.CPolicy`, an ONNX session) is scored
exactly as the NumPy runtime is, on the same environment (Gymnasium's v5 environments for the
standard tasks, `deploy.make_judge_env`), the same seeds and the same action scaling.
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np

from chromnas import deploy


def episode_returns(act: Callable[[np.ndarray], np.ndarray], task: str, episodes: int, seed: int = 0) -> np.ndarray:
  """Returns `(episodes,)` of `act` on `task`'s judge environment, episode `e` reset with seed
  `seed + e`, each until termination or the task's episode length; actions in `[-1, 1]` are
  mapped onto the environment's bounded action box.  A diverging episode returns NaN."""
  from chromnas.engines import host_episode  # pylint: disable=g-import-not-at-top
  if not (isinstance(episodes, int) and episodes >= 1):
    raise ValueError(f"episodes must be a positive integer, got {episodes!r}")
  env, length, _ = deploy.make_judge_env(task)
  scale = host_episode.action_scaler(env.action_space) or (lambda a: a)
  returns = np.empty((episodes,), np.float64)
  try:
    for e in range(episodes):
      obs, _ = env.reset(seed=seed + e)
      total = 0.0
      for _ in range(length):
        if not np.all(np.isfinite(obs)):  # the simulator diverged: the episode counts as NaN
          total = math.nan
          break
        obs, reward, terminated, truncated, _ = env.step(scale(np.asarray(act(np.asarray(obs, np.float32)))))
        total += float(reward)
        if terminated or truncated or not math.isfinite(total):
          break
      returns[e] = total if math.isfinite(total) else math.nan
  finally:
    env.close()
  return returns
