"""The registry's sizes are the real environments' sizes; every host task runs an episode."""

import subprocess
import sys

import numpy as np
import pytest

from chromnas.envs import host_envs, tasks

HOST_TASKS = [n for n, t in tasks.TASKS.items() if "host" in t.engines]
BRAX_TASKS = [(n, t.engines["brax"].backends[0]) for n, t in tasks.TASKS.items() if "brax" in t.engines]


@pytest.mark.parametrize("name", HOST_TASKS)
def test_host_task_sizes_and_episode(name):
  et = tasks.engine_task(name, "host")
  kwargs = {"max_episode_steps": 5} if et.make.startswith(tasks.TAKES_MAX_STEPS) else {}
  env = host_envs.make_host_env(et.make, **kwargs)
  try:
    obs, _ = env.reset(seed=0)
    assert env.observation_space.shape == (et.obs_dim,) and obs.shape == (et.obs_dim,)
    assert env.action_space.shape == (et.act_dim,)
    for _ in range(5):
      obs, reward, terminated, truncated, _ = env.step(np.zeros(et.act_dim))
      assert np.isfinite(reward) and np.all(np.isfinite(obs))
      if terminated or truncated:
        break
  finally:
    env.close()


@pytest.mark.parametrize("name", [n for n, t in tasks.TASKS.items() if t.judge])
def test_judge_env_matches_the_host_task(name):
  from chromnas import deploy

  t, et = tasks.get_task(name), tasks.engine_task(name, "host")
  env, length, described = deploy.make_judge_env(name)
  try:
    assert env.spec.id == t.judge == described and length == et.episode_length
    assert env.observation_space.shape == (et.obs_dim,) and env.action_space.shape == (et.act_dim,)
    if t.camera:
      assert t.camera in [env.unwrapped.model.camera(i).name for i in range(env.unwrapped.model.ncam)]
  finally:
    env.close()


def test_registry_budgets_reach_the_poster_rows():
  from configs import poster_row

  for name, t in tasks.TASKS.items():
    if t.row_budget:
      assert poster_row.make(name, "L", "chromatic", num_colors=2).max_env_steps == t.row_budget
      cells = poster_row.make(name, "H41", "toeplitz").max_env_steps
      assert cells == (t.comparison_budget or t.row_budget)
    assert poster_row.make(name, "L", "unstructured").reward_shift == t.reward_shift


@pytest.mark.parametrize("name, backend", [b for b in BRAX_TASKS if b[1] != "mjx"])
def test_brax_task_sizes(name, backend):
  from chromnas.envs import brax_envs

  et = tasks.engine_task(name, "brax", backend)
  env = brax_envs.make_brax_env(et.make, backend)
  assert (env.observation_size, env.action_size) == (et.obs_dim, et.act_dim)


@pytest.mark.slow
@pytest.mark.parametrize("name, backend", [b for b in BRAX_TASKS if b[1] == "mjx"])
def test_mjx_task_sizes(name, backend):
  from chromnas.envs import brax_envs

  et = tasks.engine_task(name, "brax", backend)
  env = brax_envs.make_brax_env(et.make, backend)
  assert (env.observation_size, env.action_size) == (et.obs_dim, et.act_dim)


def test_unknown_task_engine_backend():
  with pytest.raises(ValueError, match="unknown task 'cartpole'; known tasks:"):
    tasks.get_task("cartpole")
  with pytest.raises(ValueError, match="not provided by the brax engine"):
    tasks.engine_task("minitaur", "brax", "mjx")
  with pytest.raises(ValueError, match="does not run on the brax backend 'positional'"):
    tasks.engine_task("striker", "brax", "positional")


def test_list_tasks_command():
  out = subprocess.run([sys.executable, "-m", "experiments.list_tasks"], capture_output=True, text=True, check=True)
  for name in ("halfcheetah", "striker", "thrower", "minitaur", "ant"):
    assert name in out.stdout
  assert "debug_target" not in out.stdout


@pytest.mark.slow
@pytest.mark.parametrize("name, backend", BRAX_TASKS)
def test_brax_task_runs_an_episode(name, backend):
  """A short jitted episode of every Brax task (compiles each environment: minutes in all)."""
  import jax

  from chromnas.core import policy_spec
  from chromnas.engines import make_evaluator
  from chromnas.es import normalizer
  from chromnas.model import partitions

  et = tasks.engine_task(name, "brax", backend)
  spec = policy_spec.make_spec(et.obs_dim, et.act_dim, "L", "chromatic", 3)
  ev = make_evaluator("brax", name, spec, backend=backend, episode_length=5, noise_size=10_000)
  params = jax.random.normal(jax.random.PRNGKey(0), (2, spec.num_params))
  res = jax.jit(ev.evaluate_params)(
    params,
    partitions.random_structure(spec, jax.random.PRNGKey(1), (2,)),
    normalizer.init_stats(et.obs_dim),
    jax.random.PRNGKey(2),
  )
  assert np.all(np.isfinite(res.returns)) and np.all(np.asarray(res.lengths) >= 1)


def test_brax_fluid_model_runs_on_this_jax():
  """Brax's Swimmer (fluid model) calls `jnp.clip(a_min=...)`; building a Brax env makes that
  work on the installed jax (the full episode is the slow `test_brax_task_runs_an_episode`)."""
  import jax.numpy as jnp
  from brax import fluid

  from chromnas.envs import brax_envs

  brax_envs.make_brax_env("brax:swimmer", "generalized")
  np.testing.assert_allclose(fluid.jp.clip(jnp.array([-1.0, 2.0]), a_min=0.0), [0.0, 2.0])


def test_registry_imports_only_the_standard_library():
  """The registry is data: importing it (as configs and host workers do) loads no simulator or JAX."""
  code = (
    "import sys; import chromnas.envs.tasks; "
    "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('jax', 'brax', 'gymnasium', 'mujoco', 'numpy')); "
    "assert not bad, bad"
  )
  subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
