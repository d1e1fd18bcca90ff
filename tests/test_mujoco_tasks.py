"""The lean MuJoCo tasks reproduce Gymnasium v5 step for step."""

import gymnasium
import numpy as np
import pytest

from chromnas.envs import mujoco_tasks

GYM_IDS = {"halfcheetah": "HalfCheetah-v5", "hopper": "Hopper-v5", "walker2d": "Walker2d-v5", "swimmer": "Swimmer-v5"}


@pytest.mark.parametrize("name", sorted(GYM_IDS))
def test_matches_gymnasium_v5(name):
  ours = mujoco_tasks.make_host(name, max_episode_steps=60)
  ref = gymnasium.make(GYM_IDS[name], max_episode_steps=60)
  assert ours.observation_space.shape == ref.observation_space.shape
  np.testing.assert_allclose(ours.action_space.low, ref.action_space.low)
  for seed in (0, 7):
    o1, _ = ours.reset(seed=seed)
    o2, _ = ref.reset(seed=seed)
    np.testing.assert_allclose(o1, o2, rtol=1e-12, atol=1e-12)
    rng = np.random.default_rng(seed)
    for _ in range(60):
      a = rng.uniform(-1, 1, ref.action_space.shape)
      o1, r1, t1, tr1, _ = ours.step(a)
      o2, r2, t2, tr2, _ = ref.step(a)
      np.testing.assert_allclose(o1, o2, rtol=1e-9, atol=1e-9)
      assert r1 == pytest.approx(r2, rel=1e-9, abs=1e-9)
      assert (t1, tr1) == (t2, tr2)
      if t1 or tr1:
        break


@pytest.mark.parametrize("name", ["halfcheetah", "hopper"])
def test_fused_rollout_equals_the_step_loop(name):
  """`MujocoTask.rollout` (what the host workers run) gives the same return, length and
  observations as `reset` + `step` driven by the same policy."""
  from chromnas.core import forward

  rng = np.random.default_rng(1)
  env = mujoco_tasks.make_host(name, max_episode_steps=300)
  n, m = env.observation_space.shape[0], env.action_space.shape[0]
  policy = forward.PreparedPolicy([rng.normal(0, 0.5, (m, n))], [], rng.normal(0, 0.1, n), rng.uniform(0.5, 2, n), 3.0)
  buf = np.empty((300, n))
  env.reset(seed=3)
  total, length = env.rollout(policy, buf, episode_length=300, action_repeat=2)
  obs, _ = env.reset(seed=3)
  ref_total, ref_len, ref_obs = 0.0, 0, []
  for t in range(300):
    ref_obs.append(obs)
    action = policy(obs).copy()
    done = False
    for _ in range(2):
      obs, r, term, trunc, _ = env.step(action)
      ref_total += r
      if term or trunc:
        done = True
        break
    ref_len = t + 1
    if done:
      break
  assert (total, length) == (ref_total, ref_len)
  np.testing.assert_array_equal(buf[:length], np.array(ref_obs))


def test_unknown_task():
  with pytest.raises(ValueError, match="unknown native MuJoCo task"):
    mujoco_tasks.make_host("ant")


def test_healthy_reward_and_ctrl_cost_can_be_set():
  """`env_kwargs` reach the native tasks under Gymnasium's names: the reward moves by the bonus."""
  base, changed = (
    mujoco_tasks.MujocoTask("hopper"),
    mujoco_tasks.MujocoTask("hopper", healthy_reward=0.25, ctrl_cost_weight=0.0),
  )
  action = np.full(3, 0.5)
  rewards = []
  for env in (base, changed):
    env.reset(seed=3)
    rewards.append(env.step(action)[1])
  assert rewards[1] - rewards[0] == pytest.approx(-0.75 + 1e-3 * float(action @ action), abs=1e-9)
