"""Tests of the environments built in `chromnas.envs`: Striker / Thrower (host and MJX) and Minitaur."""

import math
import subprocess
import sys
import warnings

import numpy as np
import pytest

from chromnas.envs import arm_tasks, minitaur

ARM_TASKS = ("striker", "thrower")


# --- Striker / Thrower on the host ------------------------------------------------------------------
@pytest.mark.parametrize("name", ARM_TASKS)
def test_arm_spaces(name):
  env = arm_tasks.make_host(name)
  assert env.observation_space.shape == (23,)
  assert env.action_space.shape == (7,)
  np.testing.assert_array_equal(env.action_space.low, -2.0)
  np.testing.assert_array_equal(env.action_space.high, 2.0)
  obs, info = env.reset(seed=0)
  assert obs.shape == (23,) and obs.dtype == np.float64 and isinstance(info, dict)
  assert env.dt == pytest.approx(0.05)


@pytest.mark.parametrize("name", ARM_TASKS)
def test_arm_reset_is_seeded(name):
  env = arm_tasks.make_host(name)
  a, _ = env.reset(seed=7)
  b, _ = arm_tasks.make_host(name).reset(seed=7)
  c, _ = env.reset(seed=8)
  np.testing.assert_array_equal(a, b)
  assert not np.array_equal(a[20:23], c[20:23])  # a different goal


@pytest.mark.parametrize("name", ARM_TASKS)
def test_arm_episode_runs_and_truncates(name):
  env = arm_tasks.make_host(name)
  env.reset(seed=1)
  rng = np.random.default_rng(0)
  for t in range(1, 101):
    obs, reward, terminated, truncated, _ = env.step(rng.uniform(-2, 2, 7))
    assert np.all(np.isfinite(obs)) and math.isfinite(reward) and not terminated
    assert truncated == (t == 100)
  short = arm_tasks.make_host(name, max_episode_steps=3)
  short.reset(seed=0)
  assert [short.step(np.zeros(7))[3] for _ in range(3)] == [False, False, True]


@pytest.mark.parametrize("name", ARM_TASKS)
def test_arm_actions_are_clipped(name):
  env1, env2 = arm_tasks.make_host(name), arm_tasks.make_host(name)
  env1.reset(seed=0)
  env2.reset(seed=0)
  a = np.array([5.0, -9.0, 2.0, -2.0, 0.5, 3.0, -0.1])
  np.testing.assert_array_equal(env1.step(a)[0], env2.step(np.clip(a, -2, 2))[0])


def test_arm_observation_layout():
  env = arm_tasks.make_host("striker")
  obs, _ = env.reset(seed=3)
  np.testing.assert_array_equal(obs[:7], env.data.qpos[:7])
  np.testing.assert_array_equal(obs[7:14], env.data.qvel[:7])
  np.testing.assert_allclose(obs[17:20], arm_tasks.STRIKER_BALL_START)
  np.testing.assert_allclose(obs[14:17], [0.921, -0.6, 0.0], atol=1e-9)  # tip of the arm at its zero pose
  lo, hi = arm_tasks.STRIKER_GOAL_LOW, arm_tasks.STRIKER_GOAL_HIGH
  assert lo[0] <= obs[20] <= hi[0] and lo[1] <= obs[21] <= hi[1]


def test_striker_reward_terms():
  tip, ball, goal = np.array([0.0, 0.0, 0.0]), np.array([1.0, 0.0, 0.0]), np.array([1.0, 2.0, 0.0])
  torque = np.ones(7)
  r, min_dist, struck, _ = arm_tasks.striker_reward(np, tip, ball, goal, torque, 5.0, False, ball)
  assert r == pytest.approx(-3 * 2.0 - 0.5 * 1.0 - 0.1 * 7) and min_dist == 2.0 and not struck
  # After the ball moved it is struck: the near term is gone and min_dist keeps the best distance.
  r, min_dist, struck, _ = arm_tasks.striker_reward(np, tip, ball + [0, 0.5, 0], goal, 0 * torque, 1.0, False, ball)
  assert struck and min_dist == 1.0 and r == pytest.approx(-3.0)


def test_thrower_reward_latches_the_landing_point():
  goal, torque = np.array([0.0, 0.0, -0.325]), np.zeros(7)
  r, landed, landing, _ = arm_tasks.thrower_reward(np, np.array([3.0, 4.0, 0.0]), goal, torque, False, np.zeros(2))
  assert r == pytest.approx(-5.0) and not landed
  r, landed, landing, _ = arm_tasks.thrower_reward(np, np.array([0.6, 0.8, -0.3]), goal, torque, landed, landing)
  assert r == pytest.approx(-1.0) and landed
  r, landed, landing, _ = arm_tasks.thrower_reward(np, np.array([9.0, 9.0, -0.3]), goal, torque, landed, landing)
  assert r == pytest.approx(-1.0) and landed  # rolling on afterwards does not count


def test_thrower_ball_starts_on_the_tray():
  env = arm_tasks.make_host("thrower")
  obs, _ = env.reset(seed=0)
  start = obs[17:20].copy()
  for _ in range(4):
    obs, *_ = env.step(np.zeros(7))
  assert np.linalg.norm(obs[17:20] - start) < 0.02  # still resting (the arm only sags slowly)
  assert obs[19] > -0.1


@pytest.mark.parametrize(
  "make",
  [
    lambda: arm_tasks.make_host("striker"),
    lambda: arm_tasks.make_host("thrower"),
    lambda: minitaur.make_host("minitaur"),
  ],
  ids=["striker", "thrower", "minitaur"],
)
def test_gymnasium_env_checker(make):
  from gymnasium.utils.env_checker import check_env  # pylint: disable=import-outside-toplevel

  env = make()
  with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # only advice: unbounded observations, a [-2, 2] action box
    check_env(env, skip_render_check=True)
  env.close()


def test_unknown_arm_task():
  with pytest.raises(ValueError):
    arm_tasks.make_host("kicker")
  with pytest.raises(ValueError):
    arm_tasks.build_spec("kicker")


def test_host_modules_do_not_import_jax():
  code = (
    "import sys; import chromnas.envs, chromnas.envs.arm_tasks, chromnas.envs.minitaur, chromnas.envs.host_envs; "
    "assert 'jax' not in sys.modules and 'brax' not in sys.modules"
  )
  subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


# --- Striker / Thrower through MJX ------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("name", ARM_TASKS)
def test_brax_arm_matches_host(name):
  import jax  # pylint: disable=import-outside-toplevel
  import jax.numpy as jnp  # pylint: disable=import-outside-toplevel

  from chromnas.envs import arm_brax  # pylint: disable=import-outside-toplevel

  env = arm_brax.make_brax(name)
  assert type(env) is (arm_brax.BraxStriker if name == "striker" else arm_brax.BraxThrower)
  assert (env.observation_size, env.action_size) == (23, 7)
  # `step` maps a state to one of the same structure, shapes and dtypes (a `lax.scan` carry).
  shapes = jax.eval_shape(env.reset, jax.random.PRNGKey(0))
  after = jax.eval_shape(env.step, shapes, jax.ShapeDtypeStruct((7,), jnp.float32))
  assert jax.tree.structure(shapes) == jax.tree.structure(after)
  for x, y in zip(jax.tree.leaves(shapes), jax.tree.leaves(after)):
    assert (x.shape, x.dtype) == (y.shape, y.dtype)

  step = jax.jit(env.step)
  state = jax.jit(env.reset)(jax.random.PRNGKey(0))
  assert state.obs.shape == (23,) and state.obs.dtype == jnp.float32
  assert bool(jnp.all(jnp.isfinite(state.obs)))

  # The host env started from the Brax env's initial state observes the same thing, and stays close.
  host = arm_tasks.make_host(name)
  start = [
    np.asarray(x, np.float64) for x in (state.pipeline_state.qpos, state.pipeline_state.qvel, state.info["goal"])
  ]
  host_obs, _ = host.reset_to(*start)
  np.testing.assert_allclose(np.asarray(state.obs), host_obs, atol=1e-5)
  for a in np.random.default_rng(0).uniform(-1, 1, (3, 7)):
    host_obs, host_reward, *_ = host.step(2.0 * a)  # Brax actions are in [-1, 1], host torques in [-2, 2]
    state = step(state, jnp.asarray(a, jnp.float32))
    assert bool(jnp.all(jnp.isfinite(state.obs))) and bool(jnp.isfinite(state.reward))
    np.testing.assert_allclose(np.asarray(state.obs), host_obs, atol=1e-3)
    assert float(state.reward) == pytest.approx(host_reward, abs=1e-3)


def test_make_brax_rejects_bad_arguments():
  from chromnas.envs import arm_brax  # pylint: disable=import-outside-toplevel

  with pytest.raises(ValueError):
    arm_brax.make_brax("kicker")
  with pytest.raises(ValueError):
    arm_brax.make_brax("striker", backend="generalized")  # the models need MJX


# --- Minitaur --------------------------------------------------------------------------------------
def test_minitaur_spaces():
  env = minitaur.make_host("minitaur")
  assert env.observation_space.shape == (28,) and env.action_space.shape == (8,)
  obs, _ = env.reset(seed=0)
  assert obs.shape == (28,) and np.all(np.isfinite(obs))
  assert np.linalg.norm(obs[24:]) == pytest.approx(1.0)  # the base quaternion
  env.close()


def test_minitaur_reset_is_seeded():
  env = minitaur.MinitaurEnv()
  a, _ = env.reset(seed=4)
  env.step(np.ones(8))
  b, _ = env.reset(seed=4)
  c, _ = env.reset(seed=5)
  np.testing.assert_array_equal(a, b)
  assert not np.array_equal(a, c)
  env.close()


def test_minitaur_stands_and_runs_50_steps():
  env = minitaur.MinitaurEnv()
  env.reset(seed=0)
  for _ in range(50):
    obs, reward, terminated, truncated, info = env.step(np.zeros(8))
    assert np.all(np.isfinite(obs)) and math.isfinite(reward)
    assert not terminated and not truncated
  assert env.base_pose()[0][2] > 0.13
  env.reset(seed=1)
  rng = np.random.default_rng(0)
  for _ in range(50):
    obs, reward, terminated, _, info = env.step(rng.uniform(-1, 1, 8))
    # pybullet_envs' reward: forward progress - 0.005 |torques . velocities| x 2 ms, from the
    # observed torques (last simulation step) and motor velocities after the step.
    energy = abs(float(np.dot(obs[16:24], obs[8:16]))) * 0.002
    assert info["energy"] == pytest.approx(energy, rel=1e-9, abs=1e-12)
    assert reward == pytest.approx(info["forward"] - 0.005 * energy, rel=1e-9, abs=1e-12)
    if terminated:
      break
  env.close()


def test_minitaur_left_open_exits_quietly():
  """An environment still open at interpreter exit is closed without a traceback."""
  # Importing the policy module first changes the teardown order so that pybullet goes first.
  code = "from chromnas.model import policies; from chromnas.envs import minitaur; env = minitaur.make_host()"
  out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
  assert out.returncode == 0 and "Traceback" not in out.stderr, out.stderr


def test_minitaur_falls_when_pushed_over():
  env = minitaur.MinitaurEnv()
  env.reset(seed=0)
  env.push(angular_velocity=(20.0, 0.0, 0.0))
  terminated = False
  for _ in range(100):
    *_, terminated, _, _ = env.step(np.zeros(8))
    if terminated:
      break
  assert terminated and env.fallen()
  env.close()


def test_minitaur_truncates():
  env = minitaur.MinitaurEnv(max_episode_steps=5)
  env.reset(seed=0)
  assert [env.step(np.zeros(8))[3] for _ in range(5)] == [False] * 4 + [True]
  env.close()


def test_two_minitaurs_do_not_interfere():
  acts = np.random.default_rng(0).uniform(-1, 1, (30, 8))
  solo = minitaur.MinitaurEnv()
  solo.reset(seed=2)
  expected = [solo.step(a)[0] for a in acts]
  solo.close()
  a, b = minitaur.MinitaurEnv(), minitaur.MinitaurEnv()
  a.reset(seed=2)
  b.reset(seed=9)
  for t, act in enumerate(acts):
    np.testing.assert_array_equal(a.step(act)[0], expected[t])
    b.step(-act)
  a.close()
  b.close()


def test_minitaur_action_models():
  np.testing.assert_allclose(minitaur.leg_model_to_motor_angles(np.zeros(8)), np.full(8, 5 * math.pi / 8))
  ext = np.zeros(8)
  ext[0] = 1.0  # extend the front-left leg: its two motors move apart by pi/2
  angles = minitaur.leg_model_to_motor_angles(ext)
  assert angles[0] - angles[1] == pytest.approx(math.pi / 2)
  raw = minitaur.MinitaurEnv(leg_model=False)
  np.testing.assert_allclose(
    raw.motor_targets(np.array([-1, 0, 1, 0, 0, 0, 0, 2.0])),
    [0, math.pi / 2, math.pi, math.pi / 2, math.pi / 2, math.pi / 2, math.pi / 2, math.pi],
  )
  raw.close()


def test_unknown_minitaur_name():
  with pytest.raises(ValueError):
    minitaur.make_host("minitaur_v2")
