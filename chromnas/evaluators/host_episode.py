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
  The policy sees `clip((obs - mean) / std, -clip, clip)` and acts with the same float
  maths as `numpy_policy.forward` (in float64 here).  Each control step repeats the action
  `action_repeat` times, summing rewards.  A non-finite observation or reward, or an exception
  from the simulator, marks the episode diverged (NaN return); only the observations before
  the first non-finite one enter the statistics.  The hot loop does the least work per step:
  observations go into a preallocated buffer and are summed once at the end.
  """
  mats, biases = policy
  mean, std, clip = obs_norm
  mean = np.asarray(mean, np.float64)
  inv_std = 1.0 / np.asarray(std, np.float64)
  weights_t = [np.ascontiguousarray(np.asarray(w, np.float64).T) for w in mats]
  biases = [np.asarray(b, np.float64) for b in biases]
  num_hidden = len(biases)
  scale = scale or (lambda a: a)
  total, length, diverged = 0.0, 0, False
  buf = None
  try:
    obs, _ = env.reset(seed=int(seed))
    buf = np.empty((episode_length, np.shape(obs)[0]), np.float64)
    for t in range(episode_length):
      buf[t] = obs
      h = (buf[t] - mean) * inv_std
      np.clip(h, -clip, clip, out=h)
      for layer, wt in enumerate(weights_t):
        h = h @ wt
        if layer < num_hidden:
          h += biases[layer]
        np.tanh(h, out=h)
      action = scale(h)
      done = False
      for _ in range(action_repeat):
        obs, reward, terminated, truncated, _ = env.step(action)
        total += float(reward)
        if terminated or truncated:
          done = True
          break
      length = t + 1
      if not math.isfinite(total):
        diverged = True
        break
      if done:
        break
  except Exception:  # a simulator that blows up mid-episode counts as diverged  # pylint: disable=broad-except
    if buf is None:
      raise
    diverged = True
  seen = buf[:length]
  finite_rows = np.all(np.isfinite(seen), axis=1)
  if not finite_rows.all():
    diverged = True
    seen = seen[:int(np.argmin(finite_rows))]
  return EpisodeResult(math.nan if diverged else total, length, float(seen.shape[0]), seen.sum(axis=0),
                       np.einsum("ij,ij->j", seen, seen))
