"""Host worker pool: shapes, determinism, regenerated noise, NaN episodes, dead workers."""

import jax
import numpy as np
import pytest

from chromnas.core import noise, policy_spec
from chromnas.engines import make_evaluator
from chromnas.engines.host_messages import EpisodeJob
from chromnas.es import noise_offsets, normalizer
from chromnas.model import partitions

SPEC = policy_spec.make_spec(4, 2, "L", "chromatic", 3)


@pytest.fixture(scope="module")
def target_eval():
  ev = make_evaluator("host", "debug_target", SPEC, num_workers=2, noise_size=10_000)
  yield ev
  ev.close()


def test_perturbations_match_explicit_params(target_eval):
  t = 3
  center = np.array([0.2, -0.1, 0.4], np.float32)
  offsets = noise_offsets.sample_offsets(jax.random.PRNGKey(0), t, SPEC.num_params, 10_000)
  structures = partitions.random_structure(SPEC, jax.random.PRNGKey(1), (2 * t,))
  stats = normalizer.init_stats(4)
  res = target_eval.evaluate_perturbations(center, offsets, 0.1, structures, stats, jax.random.PRNGKey(2))
  assert res.returns.shape == (2 * t,) and res.lengths.shape == (2 * t,)
  assert np.all(res.lengths == 20) and float(res.obs_stats.count) == 2 * t * 20
  res2 = target_eval.evaluate_perturbations(center, offsets, 0.1, structures, stats, jax.random.PRNGKey(2))
  np.testing.assert_array_equal(res.returns, res2.returns)  # deterministic
  # Workers regenerated the noise from the offsets: the same policies sent as explicit vectors,
  # with the same episode seeds, give the same returns.
  rows = noise.rows_numpy(target_eval.noise_table, np.asarray(offsets), SPEC.num_params)
  params = np.concatenate([center + 0.1 * rows, center - 0.1 * rows])
  seeds = np.asarray(jax.random.randint(jax.random.PRNGKey(2), (t,), 0, 2**31 - 1))
  seeds = np.concatenate([seeds, seeds])
  target_eval._broadcast(None, 0.0, stats)  # pylint: disable=protected-access
  out = target_eval.pool.run(
    [EpisodeJob(i, 0, 0.0, params[i], np.asarray(structures[i]), int(seeds[i])) for i in range(2 * t)]
  )
  np.testing.assert_allclose([out[i].ret for i in range(2 * t)], res.returns, rtol=1e-6)


def test_returns_follow_the_policy(target_eval):
  """A policy equal to the target gets return ~0; a bad one gets a lower return."""
  spec = policy_spec.make_spec(4, 2, "L", "unstructured")
  ev = make_evaluator("host", "debug_target", spec, num_workers=1, noise_size=10_000)
  try:
    stats = normalizer.init_stats(4)
    from chromnas.envs.debug_envs import TARGET_W

    good = TARGET_W.reshape(-1).astype(np.float32)
    res = ev.evaluate_params(np.stack([good, -good]), np.zeros((2, 0), np.int32), stats, jax.random.PRNGKey(0))
    assert abs(res.returns[0]) < 1e-4 and res.returns[1] < -5
  finally:
    ev.close()


def test_nan_episodes_are_reported_not_raised():
  spec = policy_spec.make_spec(4, 2, "L", "unstructured")
  ev = make_evaluator("host", "debug_nan", spec, num_workers=2, noise_size=10_000)
  try:
    res = ev.evaluate_params(
      np.zeros((8, 8), np.float32), np.zeros((8, 0), np.int32), normalizer.init_stats(4), jax.random.PRNGKey(3)
    )
    assert np.any(np.isnan(res.returns)) and np.any(np.isfinite(res.returns))
    assert np.all(np.isfinite(res.obs_stats.mean))  # NaN observations never reach the statistics
  finally:
    ev.close()


def test_dead_worker_is_replaced_and_jobs_retried():
  spec = policy_spec.make_spec(4, 2, "L", "unstructured")
  # Episodes whose seed is divisible by 3 kill their worker on every try: they are lost after
  # the retries; every other episode completes, the pool keeps two live workers.
  ev = make_evaluator(
    "host",
    "debug_crash",
    spec,
    num_workers=2,
    noise_size=10_000,
    max_retries=1,
    env_kwargs={"crash_every": 3},
    max_lost_fraction=0.9,
  )
  try:
    pids_before = ev.pool.workers[0].proc.pid, ev.pool.workers[1].proc.pid
    res = ev.evaluate_params(
      np.zeros((12, 8), np.float32), np.zeros((12, 0), np.int32), normalizer.init_stats(4), jax.random.PRNGKey(4)
    )
    seeds = np.asarray(jax.random.randint(jax.random.PRNGKey(4), (12,), 0, 2**31 - 1))
    doomed = seeds % 3 == 0
    assert doomed.any() and (~doomed).any()
    assert np.all(np.isnan(res.returns[doomed])) and np.all(np.isfinite(res.returns[~doomed]))
    stats = ev.pool_stats
    assert stats["jobs_lost"] == doomed.sum() and stats["workers_replaced"] >= doomed.sum()
    assert len(ev.pool.workers) == 2 and all(w.proc.poll() is None for w in ev.pool.workers)
    assert (ev.pool.workers[0].proc.pid, ev.pool.workers[1].proc.pid) != pids_before
  finally:
    ev.close()


def test_too_many_lost_episodes_fail_clearly():
  spec = policy_spec.make_spec(4, 2, "L", "unstructured")
  ev = make_evaluator(
    "host",
    "debug_crash",
    spec,
    num_workers=1,
    noise_size=10_000,
    max_retries=0,
    env_kwargs={"crash_every": 1},
    max_lost_fraction=0.5,
  )
  try:
    with pytest.raises(RuntimeError, match="lost 4 of 4 episodes"):
      ev.evaluate_params(
        np.zeros((4, 8), np.float32), np.zeros((4, 0), np.int32), normalizer.init_stats(4), jax.random.PRNGKey(5)
      )
  finally:
    ev.close()


def test_unknown_task_and_dim_mismatch():
  with pytest.raises(ValueError, match="unknown task"):
    make_evaluator("host", "cartpole", SPEC)
  with pytest.raises(ValueError, match="policy expects"):
    make_evaluator("host", "halfcheetah", SPEC)


def test_worker_modules_do_not_import_jax():
  import subprocess
  import sys

  code = (
    "import sys; import chromnas.engines.host_worker, chromnas.engines.host_pool, chromnas.envs.tasks; "
    "import chromnas.envs.mujoco_tasks, chromnas.envs.debug_envs, chromnas.envs.arm_tasks; "
    "import chromnas.envs.minitaur; assert 'jax' not in sys.modules, 'jax imported'"
  )
  subprocess.run([sys.executable, "-c", code], check=True)


def test_worker_messages_pickle_by_reference():
  """Messages cross the pipe (and Ray) by pickle: each names its class in `host_messages`."""
  import pickle

  from chromnas.engines import host_messages

  job = EpisodeJob(3, 17, -1.0, None, np.arange(4, dtype=np.int32), 99)
  data = pickle.dumps(job)
  assert b"chromnas.engines.host_messages" in data and b"EpisodeJob" in data
  back = pickle.loads(data)
  assert type(back) is EpisodeJob and back.index == 3 and back.params is None
  np.testing.assert_array_equal(back.structure, job.structure)
  assert type(pickle.loads(pickle.dumps(host_messages.Shutdown()))) is host_messages.Shutdown


def test_evaluators_implement_the_protocol():
  """Both engines declare every member of `Evaluator` with the protocol's signatures."""
  import inspect

  from chromnas.engines.base import Evaluator
  from chromnas.engines.brax_evaluator import BraxEvaluator
  from chromnas.engines.host_evaluator import HostEvaluator

  for cls in (BraxEvaluator, HostEvaluator):
    assert Evaluator in cls.__mro__  # declared, so type checkers hold it to the protocol
    for name in ("evaluate_perturbations", "evaluate_params", "close"):
      assert getattr(cls, name) is not getattr(Evaluator, name), f"{cls.__name__} does not define {name}"
      want = list(inspect.signature(getattr(Evaluator, name)).parameters)
      assert list(inspect.signature(getattr(cls, name)).parameters) == want, (cls.__name__, name)
    for name in ("num_workers", "jobs_lost"):
      assert getattr(cls, name) is not getattr(Evaluator, name), f"{cls.__name__} does not define {name}"
  assert HostEvaluator.jittable is False and BraxEvaluator.jittable is True
  assert BraxEvaluator.num_workers == 0 and BraxEvaluator.jobs_lost == 0


def test_host_evaluator_reports_workers_and_losses(target_eval):
  assert target_eval.num_workers == 2 and target_eval.jobs_lost == 0
  assert target_eval.num_params == SPEC.num_params and target_eval.noise_table.shape == (10_000,)


def test_replacement_that_dies_while_starting_is_retried(monkeypatch):
  """Workers killed in a tight loop: a replacement dying at start is retried within a budget."""
  from chromnas.engines import host_pool

  spec = policy_spec.make_spec(4, 2, "L", "unstructured")
  ev = make_evaluator("host", "debug_target", spec, num_workers=1, noise_size=10_000)
  real = host_pool._Worker  # pylint: disable=protected-access
  failures = {"left": 3}

  def flaky(*args, **kwargs):
    if failures["left"]:
      failures["left"] -= 1
      raise host_pool.WorkerLost("host worker exited while starting (exit code -9)")
    return real(*args, **kwargs)

  try:
    monkeypatch.setattr(host_pool, "_Worker", flaky)
    ev.pool._replace(0)  # pylint: disable=protected-access
    assert ev.pool.stats["start_failures"] == 3 and ev.pool.workers[0].proc.poll() is None
    res = ev.evaluate_params(
      np.zeros((2, 8), np.float32), np.zeros((2, 0), np.int32), normalizer.init_stats(4), jax.random.PRNGKey(0)
    )
    assert np.all(np.isfinite(res.returns))
    ev.pool.max_start_failures = 4
    failures["left"] = 10
    with pytest.raises(host_pool.WorkerLost, match="failed to start"):
      ev.pool._replace(0)  # pylint: disable=protected-access
  finally:
    ev.close()
