"""Host evaluator: Gymnasium / MuJoCo / PyBullet episodes in a pool of worker processes."""

from __future__ import annotations

import atexit
import os
from typing import TYPE_CHECKING

import jax
import numpy as np

from chromnas.core import noise as noise_lib
from chromnas.core import policy_spec
from chromnas.engines import host_pool
from chromnas.engines.base import Evaluator, check_sizes
from chromnas.engines.host_messages import EpisodeJob, SetCenter, WorkerConfig
from chromnas.envs import tasks
from chromnas.es import normalizer
from chromnas.es.ask_tell import EvalResult

if TYPE_CHECKING:  # imported where the ray backend is chosen: ray is optional
  from chromnas.engines import ray_pool


class HostEvaluator(Evaluator):
  """Episodes on the CPU, one environment per worker process.

  Args:
    task: registry name (e.g. `'halfcheetah'`, run as Gymnasium's HalfCheetah-v5).
    spec: the `PolicySpec`.
    num_workers: worker processes (default: all cores; with `backend='ray'`, one per CPU of the
      cluster, re-counted every iteration as nodes join or leave).
    episode_length, action_repeat: control steps per episode and simulator steps per control.
    noise_seed / noise_size: the shared noise table (workers rebuild it from the seed).
    obs_clip: clip of normalised observations.
    max_lost_fraction: an iteration that loses more than this fraction of its episodes to dead
      workers raises `RuntimeError` instead of updating from too little data.
    backend: `'local'` (processes on this machine) or `'ray'` (see `chromnas.engines.ray_pool`).
    ray_address: the Ray cluster to join (`RayPool`'s `address`).
    ray_module: the Ray API for the `'ray'` backend (default `import ray`; a simulated transport
      in `experiments.bench_scaling`).
  """

  jittable = False

  def __init__(
    self,
    task: str,
    spec: policy_spec.PolicySpec,
    *,
    num_workers: int | None = None,
    episode_length: int | None = None,
    action_repeat: int = 1,
    noise_seed: int = 0,
    noise_size: int = noise_lib.DEFAULT_SIZE,
    obs_clip: float = 10.0,
    max_lost_fraction: float = 0.5,
    job_timeout: float = 600.0,
    max_retries: int = 2,
    backend: str = "local",
    env_kwargs=None,
    ray_address: str | None = None,
    ray_module=None,
  ):
    et = tasks.engine_task(task, "host")
    check_sizes("host", task, et.obs_dim, et.act_dim, spec)
    self.spec = spec
    self.num_params = spec.num_params
    self.episode_length = int(episode_length or et.episode_length)
    self.obs_clip = obs_clip
    self.max_lost_fraction = max_lost_fraction
    self.noise_table = noise_lib.make_table(noise_seed, noise_size)
    env_kwargs = dict(env_kwargs or {})
    if et.make.startswith(tasks.TAKES_MAX_STEPS):
      env_kwargs.setdefault("max_episode_steps", self.episode_length * action_repeat)
    cfg = WorkerConfig(
      make=et.make,
      env_kwargs=env_kwargs,
      family=spec.family,
      layer_sizes=spec.layer_sizes,
      num_colors=spec.num_colors,
      noise_seed=noise_seed,
      noise_size=noise_size,
      episode_length=self.episode_length,
      action_repeat=action_repeat,
      obs_clip=obs_clip,
    )
    self.pool: host_pool.HostPool | ray_pool.RayPool
    if backend == "local":
      self.pool = host_pool.HostPool(
        cfg, num_workers or os.cpu_count() or 1, job_timeout=job_timeout, max_retries=max_retries
      )
    elif backend == "ray":
      from chromnas.engines import ray_pool

      # No count given: one actor per CPU of the cluster, following nodes that join or leave.
      self.pool = ray_pool.RayPool(
        cfg,
        num_workers or None,
        job_timeout=job_timeout,
        max_retries=max_retries,
        address=ray_address,
        max_batch=ray_pool.BATCH,
        ray_module=ray_module,
      )
    else:
      raise ValueError(f"unknown host backend {backend!r}; use 'local' or 'ray'")
    if (self.pool.obs_dim, self.pool.act_dim) != (spec.obs_dim, spec.act_dim):
      self.pool.close()
      raise ValueError(
        f"the {task} environment has (obs, act) = ({self.pool.obs_dim}, {self.pool.act_dim}); "
        f"the registry says ({spec.obs_dim}, {spec.act_dim})"
      )
    self._closed = False
    atexit.register(self.close)

  @property
  def num_workers(self) -> int:
    """Worker processes (local) or actors (Ray); replacements take the place of dead ones."""
    return len(self.pool.workers)

  @property
  def pool_stats(self) -> dict:
    """Counters: `jobs_retried`, `jobs_lost`, `workers_replaced` since the pool started."""
    return dict(self.pool.stats)

  @property
  def jobs_lost(self) -> int:
    """Episodes dropped after `max_retries` retries since the pool started."""
    return int(self.pool.stats.get("jobs_lost", 0))

  def _broadcast(self, center, sigma, obs_stats) -> None:
    """Sends every worker the centre (`None` for explicit-parameter jobs), sigma and normaliser."""
    mean = np.asarray(obs_stats.mean, np.float32)
    std = np.asarray(normalizer.std(obs_stats), np.float32)
    center = None if center is None else np.asarray(center, np.float32)
    self.pool.broadcast(SetCenter(center, float(sigma), mean, std))

  def _finish(self, results, num) -> EvalResult:
    lost = num - len(results)
    if lost > self.max_lost_fraction * num:
      raise RuntimeError(
        f"host evaluator lost {lost} of {num} episodes to failed workers "
        f"(more than max_lost_fraction={self.max_lost_fraction})"
      )
    returns, lengths, count, s, ss = host_pool.combine_results(results, num, self.spec.obs_dim)
    return EvalResult(returns, lengths, _stats_float64(count, s, ss))

  def evaluate_perturbations(self, center, offsets, sigma, structures, obs_stats, key, table=None) -> EvalResult:
    """See `Evaluator.evaluate_perturbations`; workers regenerate the noise from the offsets with
    their own copy of the table (so `table` is not used)."""
    del table
    offsets = np.asarray(offsets)
    structures = np.asarray(structures, np.int32)
    t = offsets.shape[0]
    seeds = _episode_seeds(key, t)
    self._broadcast(center, sigma, obs_stats)
    jobs = []
    for sign in (1.0, -1.0):
      for i in range(t):
        idx = i if sign > 0 else t + i
        jobs.append(EpisodeJob(idx, int(offsets[i]), sign, None, structures[idx], int(seeds[i])))
    return self._finish(self.pool.run(jobs), 2 * t)

  def evaluate_params(self, params, structures, obs_stats, key) -> EvalResult:
    """See `Evaluator.evaluate_params`."""
    params = np.asarray(params, np.float32)
    structures = np.asarray(structures, np.int32)
    seeds = _episode_seeds(key, params.shape[0])
    self._broadcast(None, 0.0, obs_stats)
    jobs = [EpisodeJob(i, 0, 0.0, params[i], structures[i], int(seeds[i])) for i in range(params.shape[0])]
    return self._finish(self.pool.run(jobs), params.shape[0])

  def close(self) -> None:
    """Stops the workers; safe to call twice."""
    if not self._closed:
      self._closed = True
      self.pool.close()


def _episode_seeds(key, num: int) -> np.ndarray:
  return np.asarray(jax.random.randint(key, (num,), 0, 2**31 - 1))


def _stats_float64(count: float, s: np.ndarray, ss: np.ndarray) -> normalizer.RunningStats:
  """RunningStats from float64 sums (computing the centred m2 in float64 first)."""
  safe = max(count, 1.0)
  mean = s / safe
  m2 = np.maximum(ss - safe * mean**2, 0.0) if count > 0 else np.zeros_like(s)
  return normalizer.RunningStats(np.float32(count), mean.astype(np.float32), m2.astype(np.float32))
