"""Tiny Gymnasium-API environments with known answers, for tests and for checking a set-up.

* `target`: observations `s ~ U(-1, 1)^4`; reward `-|a - tanh(W* s)|^2` for a fixed `W*`
  (`(2, 4)`), so a linear policy can reach return 0.  Episodes of 20 steps by default.
* `nan`: like `target`, but every observation turns NaN after `nan_after` steps when the
  episode seed is odd (a simulator that diverges on some episodes).
* `crash`: like `target`, but the worker process exits abruptly on the step `crash_after`
  of episodes whose seed is divisible by `crash_every` (a worker that dies mid-iteration).
"""

from __future__ import annotations

import os

import gymnasium
import numpy as np

OBS_DIM, ACT_DIM = 4, 2
TARGET_W = np.array([[0.5, -0.3, 0.8, 0.0], [-0.6, 0.2, 0.1, 0.7]], np.float64)


class TargetEnv(gymnasium.Env):
  """See the module docstring; `mode` in {'target', 'nan', 'crash'}."""

  def __init__(
    self,
    mode: str = "target",
    max_episode_steps: int = 20,
    nan_after: int = 5,
    crash_after: int = 3,
    crash_every: int = 0,
  ):
    self.mode = mode
    self.max_steps = max_episode_steps
    self.nan_after, self.crash_after, self.crash_every = nan_after, crash_after, crash_every
    self.observation_space = gymnasium.spaces.Box(-np.inf, np.inf, (OBS_DIM,), np.float64)
    self.action_space = gymnasium.spaces.Box(-1.0, 1.0, (ACT_DIM,), np.float64)
    self._rng = np.random.default_rng(0)
    self._seed = 0
    self._t = 0
    self._obs = np.zeros(OBS_DIM)

  def reset(self, *, seed=None, options=None):
    if seed is not None:
      self._rng = np.random.default_rng(seed)
      self._seed = int(seed)
    self._t = 0
    self._obs = self._rng.uniform(-1, 1, OBS_DIM)
    return self._obs.copy(), {}

  def step(self, action):
    reward = -float(np.sum((np.asarray(action) - np.tanh(TARGET_W @ self._obs)) ** 2))
    self._t += 1
    if self.mode == "crash" and self.crash_every and self._seed % self.crash_every == 0 and self._t == self.crash_after:
      os._exit(17)  # pylint: disable=protected-access
    self._obs = self._rng.uniform(-1, 1, OBS_DIM)
    obs = self._obs.copy()
    if self.mode == "nan" and self._seed % 2 == 1 and self._t >= self.nan_after:
      obs[:] = np.nan
    return obs, reward, False, self._t >= self.max_steps, {}


def make_host(name: str, **kwargs) -> TargetEnv:
  """`'debug_target'`, `'debug_nan'` or `'debug_crash'` (keyword arguments go to `TargetEnv`)."""
  return TargetEnv(name.removeprefix("debug_"), **kwargs)
