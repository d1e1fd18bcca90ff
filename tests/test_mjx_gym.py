"""The Gymnasium-faithful MJX tasks (`chromnas.envs.mjx_gym`) against Gymnasium v5 itself, on the CPU.

From Gymnasium's state after `reset(seed)`, both sides take the same actions (uniform over 1.1x
the actuator range, so that MuJoCo's control clamping is exercised too) and must give the same
observations, rewards and terminations.  Episodes run past a termination (unwrapped Gymnasium
allows it), so the flags are compared on both sides of the health boundaries.

Errors are `|MJX - Gymnasium| / (1 + |Gymnasium|)` (absolute for small values, relative for large).
Tolerances and why:
* float64, 200 control steps: observations and rewards within 1e-6, terminations equal.  Hopper,
  Walker2d, Swimmer, Reacher and Pusher agree to 1e-9 or better (rewards to 1e-7: Gymnasium takes
  the control cost `weight * sum(a^2)` of its float32 action in float32, and XLA sums in another
  order).  HalfCheetah and Ant are chaotic: C MuJoCo against itself, one velocity moved by 1e-15,
  drifts to 6e-9 (HalfCheetah) and 8e-12 (Ant) by step 50 and to O(1) by step 100-200, and so does
  MJX against C.  They are compared in segments of 50 steps (`SEGMENT`), each restarted from
  Gymnasium's state (whose solver warm start the restart does not carry), HalfCheetah within 1e-5.
* float32 (what the engine trains with), 10 control steps: within 1e-3, HalfCheetah (whose contacts
  amplify float32 roundoff to about 5e-3 absolute) within 1e-2.
* The zoo policies, 5 episodes each (Ant 20: `ZOO_EPISODES`) from Gymnasium's initial states, in
  float32 on MJX, give mean returns within 5% of Gymnasium's (slow).

MJX compiles each (task, float width, length) program once, in 15-60 s on this CPU, shared through
`_program`; the fast selection checks Hopper in float64 and HalfCheetah in float32, the rest run
with `-m slow`.
"""

from __future__ import annotations

import functools
import pathlib

import jax
import numpy as np
import pytest

gymnasium = pytest.importorskip("gymnasium")

from chromnas.envs import (
  mjx_gym,  # noqa: E402
  tasks,  # noqa: E402
)

GYM_IDS = {
  "halfcheetah": "HalfCheetah-v5",
  "hopper": "Hopper-v5",
  "walker2d": "Walker2d-v5",
  "swimmer": "Swimmer-v5",
  "ant": "Ant-v5",
  "reacher": "Reacher-v5",
  "pusher": "Pusher-v5",
}
STEPS = 200  # float64 control steps compared per task
SEGMENT = {"halfcheetah": 50, "ant": 50}  # chaotic tasks restart from Gymnasium's state this often
F64_TOL = {"halfcheetah": 1e-5}  # others 1e-6
F32_TOL = {"halfcheetah": 1e-2}  # others 1e-3 (observations and rewards)
FAST_F64, FAST_F32 = ("hopper",), ("halfcheetah",)
ZOO = {
  "halfcheetah": "halfcheetah_l_chromatic17",
  "hopper": "hopper_l_chromatic11",
  "walker2d": "walker2d_h41_chromatic17",
  "swimmer": "swimmer_l_chromatic8",
  "ant": "ant_h41h41_chromatic50",
  "reacher": "reacher_l_chromatic11",
  "pusher": "pusher_h41_chromatic23",
}
# Episodes per zoo comparison.  Ant's returns are chaotic in C itself: moving one initial velocity
# by 1e-15 turns one episode in 20 of this policy from about 1680 into 1090, which alone moves a
# 5-episode mean by 7%; 20 episodes bring that to under 2%.
ZOO_EPISODES = {"ant": 20}
REPO = pathlib.Path(__file__).resolve().parent.parent


def _params(fast):
  return [t if t in fast else pytest.param(t, marks=pytest.mark.slow) for t in GYM_IDS]


@functools.cache
def _program(task: str, x64: bool):
  """`(env, run)` at float64 (`x64`) or float32: `run(qpos, qvel, actions (T, act))` starts from the
  state and returns `(obs0, (obs, reward, done) each (T, ...))`; call it inside `jax.enable_x64(x64)`."""
  with jax.enable_x64(x64):
    env = mjx_gym.GymMjxEnv(task)

    def run(qpos, qvel, actions):
      start = env.reset_to(qpos, qvel)

      def body(state, action):
        state = env.step(state, action)
        return state, (state.obs, state.reward, state.done)

      return start.obs, jax.lax.scan(body, start, actions)[1]

    return env, jax.jit(run)


def _gym_env(task: str):
  return gymnasium.make(GYM_IDS[task]).unwrapped


def _actions(g, rng, n):
  low, high = g.action_space.low, g.action_space.high
  return rng.uniform(1.1 * low, 1.1 * high, (n, low.shape[0])).astype(np.float32)


def _scaled(mjx_value, gym_value) -> float:
  gym_value = np.asarray(gym_value, np.float64)
  return float(np.max(np.abs(np.asarray(mjx_value, np.float64) - gym_value) / (1.0 + np.abs(gym_value))))


def _compare(task: str, x64: bool, steps: int, segment: int, seed: int = 0):
  """Max `|MJX - Gymnasium| / (1 + |Gymnasium|)` of observations and rewards (absolute error for
  small values, relative for large ones), and the number of termination flags that differ, over
  `steps` control steps in segments that each start from Gymnasium's state."""
  env, run = _program(task, x64)
  g = _gym_env(task)
  obs0_gym, _ = g.reset(seed=seed)
  rng = np.random.default_rng(seed)
  obs_err = rew_err = 0.0
  flags = 0
  with jax.enable_x64(x64):
    for first in range(0, steps, segment):
      actions = _actions(g, rng, segment)
      obs0, (obs, reward, done) = run(g.data.qpos.copy(), g.data.qvel.copy(), actions)
      if first == 0:
        obs_err = _scaled(obs0, obs0_gym)
      for t, a in enumerate(actions):
        o, r, term, _, _ = g.step(a)
        obs_err = max(obs_err, _scaled(obs[t], o))
        if not (first > 0 and t == 0 and task == "ant"):
          # Ant's reward reads the torso's `xpos` before the step, which Gymnasium carries over
          # from the previous step's last RK4 stage and a restart from (qpos, qvel) cannot.
          rew_err = max(rew_err, _scaled(reward[t], r))
        flags += bool(done[t]) != bool(term)
  return obs_err, rew_err, flags


@pytest.mark.parametrize("task", _params(FAST_F64))
def test_float64_matches_gymnasium(task):
  obs_err, rew_err, flags = _compare(task, True, STEPS, SEGMENT.get(task, STEPS))
  tol = F64_TOL.get(task, 1e-6)
  assert obs_err < tol and rew_err < tol and flags == 0, (task, obs_err, rew_err, flags)


@pytest.mark.parametrize("task", _params(FAST_F32))
def test_float32_matches_gymnasium_for_ten_steps(task):
  obs_err, rew_err, flags = _compare(task, False, 10, 10)
  tol = F32_TOL.get(task, 1e-3)
  assert obs_err < tol and rew_err < tol and flags == 0, (task, obs_err, rew_err, flags)


def test_hopper_terminations_occur_in_the_compared_steps():
  """The float64 Hopper comparison crosses the health boundary (else its flag check says little)."""
  g = _gym_env("hopper")
  g.reset(seed=0)
  rng = np.random.default_rng(0)
  terms = [g.step(a)[2] for a in _actions(g, rng, STEPS)]
  assert any(terms) and not all(terms)


@pytest.mark.parametrize("task", list(GYM_IDS))
def test_sizes_and_initial_state_distribution(task):
  """Registry sizes equal Gymnasium's; initial states lie in Gymnasium's reset ranges."""
  env = mjx_gym.GymMjxEnv(task)
  g = _gym_env(task)
  et = tasks.engine_task(task, "brax", tasks.MJX_GYM)
  assert (
    (et.obs_dim, et.act_dim)
    == (env.observation_size, env.action_size)
    == (g.observation_space.shape[0], g.action_space.shape[0])
  )
  assert et.episode_length == gymnasium.spec(GYM_IDS[task]).max_episode_steps
  qpos, qvel = jax.jit(jax.vmap(env.sample_initial_state))(jax.random.split(jax.random.key(0), 256))
  qpos, qvel, qpos0 = np.asarray(qpos), np.asarray(qvel), g.init_qpos
  s = env.rules.reset_noise_scale
  if task == "reacher":
    assert np.all(np.abs(qpos[:, :2] - qpos0[:2]) <= 0.1) and np.all(np.linalg.norm(qpos[:, 2:], axis=1) < 0.2)
    assert np.all(np.abs(qvel[:, :2]) <= 0.005) and np.all(qvel[:, 2:] == 0)
  elif task == "pusher":
    cyl = qpos[:, -4:-2]
    assert np.all(qpos[:, :-4] == qpos0[:-4]) and np.all(qpos[:, -2:] == 0) and np.all(qvel[:, -4:] == 0)
    assert np.all(np.linalg.norm(cyl, axis=1) > 0.17) and np.all((cyl[:, 0] >= -0.3) & (cyl[:, 0] <= 0))
  else:
    assert np.all(np.abs(qpos - qpos0) <= s) and np.abs(qpos - qpos0).max() > 0.8 * s
    if env.rules.qvel_noise_normal:  # s * N(0, 1)
      assert abs(qvel.std() / s - 1) < 0.1
    else:
      assert np.all(np.abs(qvel) <= s) and abs(qvel.std() / (s / np.sqrt(3)) - 1) < 0.1


def test_bad_arguments_are_refused_with_one_line():
  with pytest.raises(ValueError, match="unknown mjx_gym task 'humanoid'"):
    mjx_gym.GymMjxEnv("humanoid")
  with pytest.raises(ValueError, match="backend must be"):
    mjx_gym.GymMjxEnv("hopper", backend="positional")
  with pytest.raises(ValueError, match="ant_integrator"):
    mjx_gym.GymMjxEnv("ant", ant_integrator="rk45")
  with pytest.raises(ValueError, match="no Gymnasium-faithful MJX version"):
    tasks.engine_task("striker", "brax", tasks.MJX_GYM)


def test_config_selects_the_backend_and_list_tasks_shows_it():
  from chromnas.train import config as config_lib
  from experiments import list_tasks

  c = config_lib.default_config()
  c.task, c.engine, c.backend, c.num_colors = "ant", "brax", "mjx_gym", 50
  spec = config_lib.validate(c)
  assert (spec.obs_dim, spec.act_dim) == (105, 8)  # Gymnasium's Ant, not Brax's 27
  c.backend = "positional"
  assert config_lib.validate(c).obs_dim == 27  # Brax's own tasks stay available
  c.task, c.backend = "striker", "mjx_gym"
  with pytest.raises(ValueError, match="config.backend: .*no Gymnasium-faithful"):
    config_lib.validate(c)
  table = list_tasks.table()
  assert all(f"chromnas.envs.mjx_gym:make_brax:{t}  [mjx_gym]" in table for t in GYM_IDS)


@pytest.mark.slow
def test_brax_evaluator_runs_a_mjx_gym_task():
  """The JAX engine's rollout on the task: an episode's return is the sum of the env's rewards."""
  from chromnas.core import policy_spec
  from chromnas.engines.brax_evaluator import BraxEvaluator
  from chromnas.es import normalizer

  spec = policy_spec.PolicySpec(11, 3, (), "unstructured", 0)
  ev = BraxEvaluator("hopper", spec, backend=tasks.MJX_GYM, episode_length=30, noise_size=10_000)
  params = jax.numpy.zeros((2, spec.num_params))
  structures = jax.numpy.zeros((2, spec.structure_size), jax.numpy.int32)
  key = jax.random.PRNGKey(1)
  result = jax.jit(ev.evaluate_params)(params, structures, normalizer.init_stats(11), key)
  state = ev.env.reset(jax.random.split(key, 2)[0])
  step = jax.jit(ev.env.step)
  total, n = 0.0, 0
  for _ in range(30):  # the zero policy's action is zero
    state = step(state, jax.numpy.zeros(3))
    total, n = total + float(state.reward), n + 1
    if state.done:
      break
  assert int(result.lengths[0]) == n and abs(float(result.returns[0]) - total) < 1e-4 * max(1.0, abs(total))


@pytest.mark.slow
@pytest.mark.parametrize("task", list(ZOO))
def test_zoo_policy_returns_match_gymnasium(task):
  """A zoo policy (NumPy runtime) over 5 episodes (Ant 20, `ZOO_EPISODES`) from the same initial
  states: the MJX task's float32 mean return is within 5% of Gymnasium v5's."""
  from chromnas.core import runtime

  path = REPO / "results" / "zoo" / f"{ZOO[task]}.chromnas"
  if not path.exists():
    pytest.skip(f"no {path.name} in this checkout")
  policy = runtime.load_policy(str(path))
  env, _ = _program(task, False)
  step = jax.jit(jax.vmap(env.step))
  reset_to = jax.jit(jax.vmap(env.reset_to))
  length = env.episode_length
  gym_returns, starts = [], []
  episodes = ZOO_EPISODES.get(task, 5)
  for seed in range(episodes):
    g = _gym_env(task)
    obs, _ = g.reset(seed=seed)
    starts.append((g.data.qpos.copy(), g.data.qvel.copy()))
    total = 0.0
    for _ in range(length):
      obs, r, term, _, _ = g.step(policy.act(obs))
      total += r
      if term:
        break
    gym_returns.append(total)
  state = reset_to(np.stack([s[0] for s in starts]), np.stack([s[1] for s in starts]))
  alive, mjx_returns = np.ones(episodes, bool), np.zeros(episodes)
  for _ in range(length):
    state = step(state, policy.act(np.asarray(state.obs)))
    mjx_returns += np.where(alive, np.asarray(state.reward), 0.0)
    alive &= np.asarray(state.done) == 0
    if not alive.any():
      break
  gym_mean, mjx_mean = float(np.mean(gym_returns)), float(np.mean(mjx_returns))
  print(
    f"{task} {ZOO[task]}: Gymnasium {gym_mean:.2f} {np.round(gym_returns, 1)}, "
    f"MJX float32 {mjx_mean:.2f} {np.round(mjx_returns, 1)}"
  )
  assert abs(mjx_mean - gym_mean) <= 0.05 * abs(gym_mean), (gym_mean, mjx_mean)
