"""One episode of a NumPy policy in a Gymnasium-API environment (JAX-free; runs in workers)."""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from chromnas import numpy_policy


class EpisodeResult(NamedTuple):
  """Return (NaN if the simulator diverged), length, and float64 sums of the finite
  observations seen: `count`, `obs_sum (obs_dim,)`, `obs_sq_sum (obs_dim,)`."""

  ret: float
  length: int
  count: float
  obs_sum: np.ndarray
  obs_sq_sum: np.ndarray


def action_scaler(action_space):
  """Maps tanh outputs in [-1, 1] onto a bounded Box action space (identity if unbounded)."""
  low = np.asarray(getattr(action_space, "low", -1.0), np.float64)
  high = np.asarray(getattr(action_space, "high", 1.0), np.float64)
  if not (np.all(np.isfinite(low)) and np.all(np.isfinite(high))) or (np.all(low == -1) and np.all(high == 1)):
    return lambda a: a
  return lambda a: low + (a + 1.0) * 0.5 * (high - low)


def run_episode(env, policy: tuple, obs_norm: tuple, *, seed: int, episode_length: int,
                action_repeat: int = 1, scale=None) -> EpisodeResult:
  """Runs one episode of at most `episode_length` control steps.

  `policy = (mats, biases)` from `numpy_policy.weight_matrices`; `obs_norm = (mean, std, clip)`.
  Each control step repeats the action `action_repeat` times, summing rewards.  A non-finite
  observation or reward, or an exception from the simulator, marks the episode diverged (NaN).
  """
  mats, biases = policy
  mean, std, clip = obs_norm
  scale = scale or (lambda a: a)
  total, length = 0.0, 0
  obs_sum = obs_sq = None
  count = 0.0
  try:
    obs, _ = env.reset(seed=int(seed))
    obs_sum = np.zeros(np.shape(obs), np.float64)
    obs_sq = np.zeros(np.shape(obs), np.float64)
    for _ in range(episode_length):
      obs = np.asarray(obs, np.float64)
      if not np.all(np.isfinite(obs)):
        return EpisodeResult(math.nan, length, count, obs_sum, obs_sq)
      obs_sum += obs
      obs_sq += obs * obs
      count += 1.0
      action = scale(numpy_policy.forward(mats, biases, numpy_policy.normalize(obs, mean, std, clip)).astype(np.float64))
      done = False
      for _ in range(action_repeat):
        obs, reward, terminated, truncated, _ = env.step(action)
        total += float(reward)
        if terminated or truncated:
          done = True
          break
      length += 1
      if not math.isfinite(total):
        return EpisodeResult(math.nan, length, count, obs_sum, obs_sq)
      if done:
        break
  except Exception:  # a simulator that blows up mid-episode counts as diverged  # pylint: disable=broad-except
    if obs_sum is None:
      raise
    return EpisodeResult(math.nan, length, count, obs_sum, obs_sq)
  return EpisodeResult(total, length, count, obs_sum, obs_sq)
