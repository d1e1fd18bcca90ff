"""Ray host pool: same answers as the local pool, the evaluator's 'ray' backend, dead actors."""

import logging
import os
import sys
import time

import jax
import numpy as np
import pytest

ray = pytest.importorskip("ray")

from chromnas.core import policy_spec  # noqa: E402
from chromnas.engines import (
  host_pool,  # noqa: E402
  make_evaluator,  # noqa: E402
  ray_pool,  # noqa: E402
)
from chromnas.engines.host_messages import (
  EpisodeJob,  # noqa: E402
  EpisodeResult,  # noqa: E402
  SetCenter,  # noqa: E402
  WorkerConfig,  # noqa: E402
)
from chromnas.envs import tasks  # noqa: E402
from chromnas.es import normalizer  # noqa: E402
from chromnas.model import partitions  # noqa: E402

SPEC = policy_spec.make_spec(4, 2, "L", "chromatic", 3)
NOISE = 10_000


@pytest.fixture(scope="module", autouse=True)
def ray_session():
  """One 2-CPU Ray instance for the whole module (pools find it and leave it running)."""
  started = not ray.is_initialized()
  if started:
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
  yield
  if started:
    ray.shutdown()


def _cfg(task="debug_target", episode_length=20, **env_kwargs):
  et = tasks.engine_task(task, "host")
  return WorkerConfig(
    make=et.make,
    env_kwargs={"max_episode_steps": episode_length, **env_kwargs},
    family=SPEC.family,
    layer_sizes=SPEC.layer_sizes,
    num_colors=SPEC.num_colors,
    noise_seed=0,
    noise_size=NOISE,
    episode_length=episode_length,
    action_repeat=1,
    obs_clip=10.0,
  )


def _broadcast_msg(center, sigma=0.1):
  return SetCenter(
    np.asarray(center, np.float32), float(sigma), np.full(4, 0.1, np.float32), np.full(4, 0.9, np.float32)
  )


def _jobs(seeds, explicit=False):
  """Perturbation jobs (offsets, antithetic signs) or explicit-parameter jobs for `seeds`."""
  rng = np.random.default_rng(7)
  structures = np.asarray(partitions.random_structure(SPEC, jax.random.PRNGKey(1), (len(seeds),)))
  jobs = []
  for i, seed in enumerate(seeds):
    if explicit:
      jobs.append(EpisodeJob(i, 0, 0.0, rng.normal(size=SPEC.num_params).astype(np.float32), structures[i], int(seed)))
    else:
      jobs.append(
        EpisodeJob(
          i, int(rng.integers(0, NOISE - SPEC.num_params)), 1.0 if i % 2 else -1.0, None, structures[i], int(seed)
        )
      )
  return jobs


def _assert_same(a, b):
  assert sorted(a) == sorted(b)
  for i in a:
    assert type(a[i]) is type(b[i]) is EpisodeResult
    np.testing.assert_array_equal(a[i].ret, b[i].ret)
    assert a[i].length == b[i].length and a[i].count == b[i].count
    np.testing.assert_allclose(a[i].obs_sum, b[i].obs_sum, rtol=1e-12)
    np.testing.assert_allclose(a[i].obs_sq_sum, b[i].obs_sq_sum, rtol=1e-12)


def test_results_match_host_pool():
  cfg = _cfg()
  rpool = ray_pool.RayPool(cfg, 2)
  lpool = host_pool.HostPool(cfg, 2)
  try:
    assert (rpool.obs_dim, rpool.act_dim) == (4, 2) and len(rpool.workers) == 2
    seeds = [11, 12, 13, 14, 15, 16]
    for center, explicit in (([0.2, -0.1, 0.4], False), ([-0.5, 0.3, 0.0], False), ([0.0, 0.0, 0.0], True)):
      msg = _broadcast_msg(center)
      rpool.broadcast(msg)
      lpool.broadcast(msg)
      jobs = _jobs(seeds, explicit)
      got, want = rpool.run(jobs), lpool.run(jobs)
      assert sorted(got) == list(range(len(seeds)))
      _assert_same(got, want)
      assert all(got[i].length == 20 for i in got)
    assert rpool.run([]) == {}
    assert not any(rpool.stats.values())
  finally:
    rpool.close()
    lpool.close()
  rpool.close()  # twice is fine
  assert ray.is_initialized()  # the pool did not start this instance, so it left it running


def test_evaluator_ray_backend_matches_local():
  t = 3
  offsets = np.array([5, 400, 2_000], np.int32)
  structures = partitions.random_structure(SPEC, jax.random.PRNGKey(1), (2 * t,))
  center = np.array([0.2, -0.1, 0.4], np.float32)
  stats = normalizer.init_stats(4)
  out = {}
  for backend in ("ray", "local"):
    ev = make_evaluator("host", "debug_target", SPEC, num_workers=2, backend=backend, noise_size=NOISE)
    try:
      assert ev.num_workers == 2
      res = ev.evaluate_perturbations(center, offsets, 0.1, structures, stats, jax.random.PRNGKey(2))
      params = np.stack([center, -center, 2 * center])
      res2 = ev.evaluate_params(params, structures[:3], res.obs_stats, jax.random.PRNGKey(3))
      out[backend] = (res, res2, ev.pool_stats)
    finally:
      ev.close()
  for r, loc in zip(out["ray"][:2], out["local"][:2]):
    np.testing.assert_array_equal(r.returns, loc.returns)
    np.testing.assert_array_equal(r.lengths, loc.lengths)
    np.testing.assert_allclose(r.obs_stats.mean, loc.obs_stats.mean, rtol=1e-6)
    np.testing.assert_allclose(r.obs_stats.m2, loc.obs_stats.m2, rtol=1e-5)
    assert float(r.obs_stats.count) == float(loc.obs_stats.count)
  assert np.all(np.isfinite(out["ray"][0].returns)) and out["ray"][0].returns.shape == (2 * t,)
  assert not any(out["ray"][2].values())


def test_actor_dying_mid_job_is_replaced_and_job_retried():
  # Episodes whose seed is divisible by 3 make their actor `os._exit` on every try: with one
  # retry each such job kills two actors and is then lost; every other job completes.
  pool = ray_pool.RayPool(_cfg("debug_crash", crash_every=3), 2, max_retries=1)
  try:
    pids_before = ray_pool.pid_list(pool)
    pool.broadcast(_broadcast_msg([0.1, 0.2, 0.3]))
    seeds = [1, 2, 3, 4, 5, 7, 8, 9]
    res = pool.run(_jobs(seeds))
    doomed = {i for i, s in enumerate(seeds) if s % 3 == 0}
    assert set(res) == set(range(len(seeds))) - doomed
    assert all(np.isfinite(res[i].ret) and res[i].length == 20 for i in res)
    assert pool.stats["jobs_lost"] == len(doomed) and pool.stats["jobs_retried"] == len(doomed)
    assert pool.stats["workers_replaced"] == 2 * len(doomed)
    assert len(pool.workers) == 2
    pids_after = ray_pool.pid_list(pool)  # every actor answers: all alive
    assert len(set(pids_after)) == 2 and set(pids_after) != set(pids_before)
    # The replacements got the broadcast: the survivors' returns do not depend on which actor ran them.
    again = pool.run([j for j in _jobs(seeds) if j.index not in doomed])
    _assert_same(again, res)
  finally:
    pool.close()


def _wait_until_dead(actor, timeout=30.0):
  deadline = time.monotonic() + timeout
  while time.monotonic() < deadline:
    try:
      ray.get(actor.info.remote(), timeout=timeout)
    except ray.exceptions.RayActorError:
      return
    time.sleep(0.05)
  raise AssertionError("the killed actor still answers")


def test_actor_killed_between_iterations():
  pool = ray_pool.RayPool(_cfg(), 2, max_retries=1)
  try:
    msg = _broadcast_msg([0.3, -0.2, 0.1])
    pool.broadcast(msg)
    jobs = _jobs(list(range(100, 108)))
    first = pool.run(jobs)
    # Killed just before the broadcast: the kill may land before or after the actor acknowledged
    # it; either way the next run completes every job (retrying the one the dead actor had).
    victim = pool.workers[0]
    ray.kill(victim)
    pool.broadcast(msg)
    _assert_same(pool.run(jobs), first)
    assert pool.stats["jobs_lost"] == 0 and pool.stats["workers_replaced"] == 1
    assert len(pool.workers) == 2 and victim not in pool.workers
    # Known dead before the broadcast: the pool replaces it without any job paying a try.
    retried = pool.stats["jobs_retried"]
    victim = pool.workers[1]
    ray.kill(victim)
    _wait_until_dead(victim)
    pool.broadcast(msg)
    _assert_same(pool.run(jobs), first)
    assert pool.stats["jobs_retried"] == retried and pool.stats["jobs_lost"] == 0
    assert pool.stats["workers_replaced"] == 2 and victim not in pool.workers
    assert len(set(ray_pool.pid_list(pool))) == 2
  finally:
    pool.close()


def test_replacement_waiting_for_cpus_does_not_stall_the_pool(caplog):
  @ray.remote(num_cpus=1)
  class Blocker:
    def ready(self):
      return True

  pool = ray_pool.RayPool(_cfg(), 2)
  blocker = None
  try:
    msg = _broadcast_msg([0.1, 0.1, 0.1])
    pool.broadcast(msg)
    jobs = _jobs(list(range(200, 206)))
    first = pool.run(jobs)
    # Lose an actor and let another job take its CPU: the replacement cannot be scheduled.
    victim = pool.workers[0]
    ray.kill(victim)
    _wait_until_dead(victim)
    blocker = Blocker.remote()
    assert ray.get(blocker.ready.remote(), timeout=60)
    # The survivor's answer to this broadcast keeps the default deadline (a loaded machine may take
    # seconds); only the replacement, started inside `run`, gets the short one it must outlive.
    pool.broadcast(msg)
    pool.start_timeout = 0.5
    # The surviving actor runs everything, past the replacement's start_timeout: short runs until
    # the pool reports the replacement overdue, so the test costs about that long on any machine.
    more = [EpisodeJob(100 + i, i, 1.0, None, jobs[0].structure, i) for i in range(100)]
    deadline = time.monotonic() + 120
    with caplog.at_level(logging.WARNING, logger="chromnas.engines.ray_pool"):
      second = pool.run(jobs + more)
      while "has not started within start_timeout" not in caplog.text and time.monotonic() < deadline:
        assert len(pool.run(more)) == len(more)
    assert "has not started within start_timeout" in caplog.text
    assert len(second) == len(jobs) + len(more)
    _assert_same({i: second[i] for i in first}, first)
    assert pool.stats["workers_replaced"] == 1 and pool.stats["jobs_lost"] == 0
    assert len(pool.workers) == 2
    ray.kill(blocker)
    blocker = None
    assert len(set(ray_pool.pid_list(pool, timeout=60))) == 2  # the replacement starts once the CPU is back
  finally:
    if blocker is not None:
      ray.kill(blocker)
    pool.close()


def test_job_past_timeout_is_retried_then_lost():
  # An episode of 10^8 steps stands in for a hung simulator.
  pool = ray_pool.RayPool(_cfg(episode_length=10**8), 2, job_timeout=1.0, max_retries=1)
  try:
    pool.broadcast(_broadcast_msg([0.0, 0.0, 0.0]))
    assert pool.run(_jobs([1])) == {}
    assert pool.stats["jobs_retried"] == 1 and pool.stats["jobs_lost"] == 1
    assert pool.stats["workers_replaced"] == 2 and len(pool.workers) == 2
  finally:
    pool.close()


def test_missing_ray_fails_clearly(monkeypatch):
  monkeypatch.setitem(sys.modules, "ray", None)
  with pytest.raises(ImportError, match=r"pip install chromnas\[ray\]"):
    ray_pool.RayPool(_cfg(), 1)


def test_actor_failing_to_start_fails_clearly():
  with pytest.raises(RuntimeError, match="failed to start(.|\n)*unexpected keyword argument 'bogus'"):
    ray_pool.RayPool(_cfg(bogus=1), 1)
  assert ray.is_initialized()


_DRIVER = """
import os, sys, time
import jax, numpy as np
from chromnas.es import normalizer
from chromnas.core import policy_spec
from chromnas.engines import make_evaluator
spec = policy_spec.make_spec(4, 2, "L", "unstructured")
ev = make_evaluator("host", "debug_target", spec, num_workers=1, noise_size=10_000, backend="ray")
ev.evaluate_params(np.zeros((2, 8), np.float32), np.zeros((2, 0), np.int32), normalizer.init_stats(4),
                   jax.random.PRNGKey(0))
print("ready", flush=True)
time.sleep(600)
"""


def _descendants(root: int) -> set[int]:
  children = {}
  for pid in os.listdir("/proc"):
    if pid.isdigit():
      try:
        with open(f"/proc/{pid}/stat") as f:
          children.setdefault(int(f.read().rsplit(")", 1)[1].split()[1]), []).append(int(pid))
      except (OSError, IndexError):
        pass
  out, todo = set(), [root]
  while todo:
    for c in children.get(todo.pop(), []):
      if c not in out:
        out.add(c)
        todo.append(c)
  return out


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="the watchdog reads /proc")
def test_local_ray_does_not_outlive_a_killed_driver():
  import signal
  import subprocess

  proc = subprocess.Popen([sys.executable, "-c", _DRIVER], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
  try:
    assert proc.stdout.readline().strip() == "ready"
    ray_procs = _descendants(proc.pid)
    assert ray_procs  # raylet, GCS, agents, the actor (and the watchdog)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.time() + 20
    while time.time() < deadline and any(os.path.exists(f"/proc/{p}") and _alive(p) for p in ray_procs):
      time.sleep(0.5)
    assert not [p for p in ray_procs if os.path.exists(f"/proc/{p}") and _alive(p)]
  finally:
    proc.kill()


def _alive(pid: int) -> bool:
  try:
    with open(f"/proc/{pid}/stat") as f:
      return f.read().rsplit(")", 1)[1].split()[0] != "Z"
  except OSError:
    return False
