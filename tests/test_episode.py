"""The one episode loop (`core.episode`): returns, lengths, action repeats, scaling, early ends."""

import math

import numpy as np
import pytest

from chromnas.core import episode


class _Counter:
  """obs = [steps so far]; reward = the action's first entry; ends after `horizon` steps or with
  reward `bad` from step `bad_at` on."""

  def __init__(self, horizon=100, bad_at=None, bad=math.nan):
    self.horizon, self.bad_at, self.bad = horizon, bad_at, bad
    self.actions = []

  def reset(self, seed):
    self.t, self.seed = 0, seed
    return np.array([0.0]), {}

  def step(self, action):
    self.actions.append(np.array(action))
    self.t += 1
    reward = self.bad if self.bad_at is not None and self.t > self.bad_at else float(action[0])
    return np.array([float(self.t)]), reward, self.t >= self.horizon, False, {}


def test_return_length_repeats_and_scaling():
  env = _Counter(horizon=7)
  total, length = episode.run(env, lambda obs: np.array([0.5]), seed=3, episode_length=10, action_repeat=2)
  # 7 simulator steps: 3 full control steps and a fourth cut short by termination.
  assert (total, length, env.seed) == (3.5, 4, 3)
  total, length = episode.run(env, lambda obs: np.array([0.5]), seed=0, episode_length=2, scale=lambda a: 2 * a)
  assert (total, length) == (2.0, 2)


def test_observe_sees_each_observation_before_acting_and_can_end_the_episode():
  seen = []
  total, length = episode.run(
    _Counter(), lambda obs: obs, seed=0, episode_length=4, observe=lambda t, o: seen.append((t, o[0]))
  )
  assert seen == [(0, 0.0), (1, 1.0), (2, 2.0), (3, 3.0)] and (total, length) == (6.0, 4)
  total, length = episode.run(_Counter(), lambda obs: obs, seed=0, episode_length=9, observe=lambda t, o: t < 2)
  assert math.isnan(total) and length == 2


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_a_non_finite_return_ends_the_episode(bad):
  env = _Counter(bad_at=2, bad=bad)
  total, length = episode.run(env, lambda obs: np.array([1.0]), seed=0, episode_length=50)
  assert not math.isfinite(total) and length == 3 and len(env.actions) == 3


def test_action_scaler():
  class Box:
    low, high = np.array([0.0, -2.0]), np.array([1.0, 2.0])

  np.testing.assert_allclose(episode.action_scaler(Box)(np.array([-1.0, 0.5])), [0.0, 1.0])
  Box.low, Box.high = -np.ones(2), np.ones(2)
  assert episode.action_scaler(Box) is None
  Box.low = np.array([-np.inf, -1.0])
  assert episode.action_scaler(Box) is None
