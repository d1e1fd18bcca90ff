"""Host worker pool: shapes, determinism, regenerated noise, NaN episodes, dead workers."""
import jax
import numpy as np
import pytest

from chromnas import noise
from chromnas import normalizer
from chromnas import numpy_policy
from chromnas import partitions
from chromnas import policies
from chromnas.evaluators import host_episode
from chromnas.evaluators import make_evaluator

SPEC = policies.make_spec(4, 2, "L", "chromatic", 3)


@pytest.fixture(scope="module")
def target_eval():
  ev = make_evaluator("host", "debug_target", SPEC, num_workers=2, noise_size=10_000)
  yield ev
  ev.close()


def test_perturbations_match_explicit_params(target_eval):
  t = 3
  center = np.array([0.2, -0.1, 0.4], np.float32)
  offsets = noise.sample_offsets(jax.random.PRNGKey(0), t, SPEC.num_params, 10_000)
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
  out = target_eval.pool.run([("job", i, 0, 0.0, params[i], np.asarray(structures[i]), int(seeds[i]))
                              for i in range(2 * t)])
  np.testing.assert_allclose([out[i][0] for i in range(2 * t)], res.returns, rtol=1e-6)


def test_returns_follow_the_policy(target_eval):
  """A policy equal to the target gets return ~0; a bad one gets a lower return."""
  spec = policies.make_spec(4, 2, "L", "unstructured")
  ev = make_evaluator("host", "debug_target", spec, num_workers=1, noise_size=10_000)
  try:
    stats = normalizer.init_stats(4)
    from chromnas.debug_envs import TARGET_W
    good = TARGET_W.reshape(-1).astype(np.float32)
    res = ev.evaluate_params(np.stack([good, -good]), np.zeros((2, 0), np.int32), stats, jax.random.PRNGKey(0))
    assert abs(res.returns[0]) < 1e-4 and res.returns[1] < -5
  finally:
    ev.close()


def test_nan_episodes_are_reported_not_raised():
  spec = policies.make_spec(4, 2, "L", "unstructured")
  ev = make_evaluator("host", "debug_nan", spec, num_workers=2, noise_size=10_000)
  try:
    res = ev.evaluate_params(np.zeros((8, 8), np.float32), np.zeros((8, 0), np.int32), normalizer.init_stats(4),
                             jax.random.PRNGKey(3))
    assert np.any(np.isnan(res.returns)) and np.any(np.isfinite(res.returns))
    assert np.all(np.isfinite(res.obs_stats.mean))  # NaN observations never reach the statistics
  finally:
    ev.close()


def test_dead_worker_is_replaced_and_jobs_retried():
  spec = policies.make_spec(4, 2, "L", "unstructured")
  # Episodes whose seed is divisible by 3 kill their worker on every try: they are lost after
  # the retries; every other episode completes, the pool keeps two live workers.
  ev = make_evaluator("host", "debug_crash", spec, num_workers=2, noise_size=10_000, max_retries=1,
                      env_kwargs={"crash_every": 3}, max_lost_fraction=0.9)
  try:
    pids_before = ev.pool.workers[0].proc.pid, ev.pool.workers[1].proc.pid
    res = ev.evaluate_params(np.zeros((12, 8), np.float32), np.zeros((12, 0), np.int32), normalizer.init_stats(4),
                             jax.random.PRNGKey(4))
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
  spec = policies.make_spec(4, 2, "L", "unstructured")
  ev = make_evaluator("host", "debug_crash", spec, num_workers=1, noise_size=10_000, max_retries=0,
                      env_kwargs={"crash_every": 1}, max_lost_fraction=0.5)
  try:
    with pytest.raises(RuntimeError, match="lost 4 of 4 episodes"):
      ev.evaluate_params(np.zeros((4, 8), np.float32), np.zeros((4, 0), np.int32), normalizer.init_stats(4),
                         jax.random.PRNGKey(5))
  finally:
    ev.close()


def test_unknown_task_and_dim_mismatch():
  with pytest.raises(ValueError, match="unknown task"):
    make_evaluator("host", "cartpole", SPEC)
  with pytest.raises(ValueError, match="policy expects"):
    make_evaluator("host", "halfcheetah", SPEC)


def test_numpy_policy_matches_jax_policy():
  for family in ("unstructured", "toeplitz", "circulant", "masked", "chromatic"):
    spec = policies.make_spec(5, 3, "H41,H41", family, num_colors=7 if family == "chromatic" else 0)
    p = jax.random.normal(jax.random.PRNGKey(0), (spec.num_params,))
    s = partitions.random_structure(spec, jax.random.PRNGKey(1))
    obs = np.random.default_rng(0).normal(size=(4, 5)).astype(np.float32)
    mats, biases = numpy_policy.weight_matrices(family, spec.layer_sizes, spec.num_colors, np.asarray(p), np.asarray(s))
    np.testing.assert_allclose(numpy_policy.forward(mats, biases, obs), policies.apply(spec, p, s, obs), atol=1e-5)


@pytest.mark.parametrize("arch", ["L", "H41", "H41,H41"])
def test_prepared_policy_matches_jax_policy_with_normalisation(arch):
  """The workers' policy (normalisation folded into layer 1, float64) equals
  `policies.apply(normalize(obs))`, clipped observations included."""
  spec = policies.make_spec(5, 3, arch, "chromatic", num_colors=4)
  p = jax.random.normal(jax.random.PRNGKey(0), (spec.num_params,))
  s = partitions.random_structure(spec, jax.random.PRNGKey(1))
  rng = np.random.default_rng(0)
  mean, std, clip = rng.normal(size=5), rng.uniform(0.2, 2.0, 5), 2.0
  mats, biases = numpy_policy.weight_matrices("chromatic", spec.layer_sizes, 4, np.asarray(p), np.asarray(s))
  policy = host_episode.PreparedPolicy(mats, biases, mean, std, clip)
  for obs in rng.normal(0, 4, (6, 5)):  # scale 4: some entries clip
    normed = np.clip((obs - mean) / std, -clip, clip).astype(np.float32)
    np.testing.assert_allclose(policy(obs), policies.apply(spec, p, s, normed), atol=1e-5)


def test_worker_modules_do_not_import_jax():
  import subprocess
  import sys
  code = ("import sys; import chromnas.evaluators.host_worker, chromnas.mujoco_tasks, chromnas.debug_envs; "
          "import chromnas.envs.arm_tasks, chromnas.envs.minitaur; assert 'jax' not in sys.modules, 'jax imported'")
  subprocess.run([sys.executable, "-c", code], check=True)


def test_replacement_that_dies_while_starting_is_retried(monkeypatch):
  """Workers killed in a tight loop: a replacement dying at start is retried within a budget."""
  from chromnas.evaluators import host_pool
  spec = policies.make_spec(4, 2, "L", "unstructured")
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
    res = ev.evaluate_params(np.zeros((2, 8), np.float32), np.zeros((2, 0), np.int32), normalizer.init_stats(4),
                             jax.random.PRNGKey(0))
    assert np.all(np.isfinite(res.returns))
    ev.pool.max_start_failures = 4
    failures["left"] = 10
    with pytest.raises(host_pool.WorkerLost, match="failed to start"):
      ev.pool._replace(0)  # pylint: disable=protected-access
  finally:
    ev.close()
