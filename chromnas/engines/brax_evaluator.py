"""Brax evaluator: `jit(vmap(lax.scan rollout))` over the population, sharded across devices."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from chromnas.core import noise as noise_lib
from chromnas.core import policy_spec
from chromnas.engines.base import Evaluator, check_sizes
from chromnas.envs import brax_envs, tasks
from chromnas.es import estimator, noise_offsets, normalizer
from chromnas.es.ask_tell import EvalResult
from chromnas.model import policies


class BraxEvaluator(Evaluator):
  """Rollouts of a whole population at once on the local devices.

  Args:
    task: registry name (e.g. `'halfcheetah'`).
    spec: the `PolicySpec`.
    backend: Brax pipeline (`'positional'`, `'generalized'`, `'spring'`, `'mjx'`).
    episode_length: control steps per episode (default: the task's).
    action_repeat: simulator steps per control step (rewards summed).
    noise_seed / noise_size: the shared noise table.
    obs_clip: clip of normalised observations.
  The population axis is sharded over `jax.local_devices()`; its size must be a multiple of
  the device count.  Everything is pure JAX (`jittable = True`).
  """

  jittable = True
  num_workers = 0  # the population runs in this process, on its devices
  jobs_lost = 0  # nothing to lose: no worker processes

  def __init__(
    self,
    task: str,
    spec: policy_spec.PolicySpec,
    *,
    backend: str = "positional",
    episode_length: int | None = None,
    action_repeat: int = 1,
    noise_seed: int = 0,
    noise_size: int = noise_lib.DEFAULT_SIZE,
    obs_clip: float = 10.0,
    env=None,
  ):
    et = tasks.engine_task(task, "brax", backend)
    self.env = env if env is not None else brax_envs.make_brax_env(et.make, backend)
    check_sizes("brax", task, self.env.observation_size, self.env.action_size, spec)
    self.spec = spec
    self.num_params = spec.num_params
    self.episode_length = int(episode_length or et.episode_length)
    self.action_repeat = int(action_repeat)
    self.obs_clip = obs_clip
    self.noise_table = noise_lib.make_table(noise_seed, noise_size)
    self._table = jnp.asarray(self.noise_table)
    self.devices = jax.local_devices()
    self.mesh = Mesh(np.array(self.devices), ("pop",))

  def _shard(self, x):
    return jax.lax.with_sharding_constraint(x, NamedSharding(self.mesh, PartitionSpec("pop")))

  def rollout(self, params, structure, obs_stats, key):
    """One episode: returns `(return, length, RunningStats of the finite observations)`."""
    env, spec = self.env, self.spec

    def control_step(carry, _):
      state, alive, total, length, diverged, s, ss, n = carry
      obs = state.obs
      obs_ok = jnp.all(jnp.isfinite(obs))
      safe_obs = jnp.where(jnp.isfinite(obs), obs, 0.0)
      action = policies.apply(spec, params, structure, normalizer.normalize(obs_stats, safe_obs, self.obs_clip))
      count = alive & obs_ok
      s = s + jnp.where(count, safe_obs, 0.0)
      ss = ss + jnp.where(count, safe_obs**2, 0.0)
      n = n + count

      def sim_step(c, _):
        st, rew, live = c
        nxt = env.step(st, action)
        rew = rew + jnp.where(live, nxt.reward, 0.0)
        return (nxt, rew, live & (nxt.done == 0)), None

      if self.action_repeat == 1:  # no inner loop: XLA keeps a trip-count-1 while loop per step
        (state, reward, still), _ = sim_step((state, jnp.float32(0.0), alive), None)
      else:
        (state, reward, still), _ = jax.lax.scan(
          sim_step, (state, jnp.float32(0.0), alive), None, length=self.action_repeat
        )
      bad = alive & (~jnp.isfinite(reward) | ~obs_ok)
      total = total + jnp.where(alive, reward, 0.0)
      length = length + alive
      return (state, still, total, length, diverged | bad, s, ss, n), None

    state = env.reset(key)
    zeros = jnp.zeros((spec.obs_dim,), jnp.float32)
    carry = (state, jnp.bool_(True), jnp.float32(0.0), jnp.int32(0), jnp.bool_(False), zeros, zeros, jnp.float32(0.0))
    (_, _, total, length, diverged, s, ss, n), _ = jax.lax.scan(control_step, carry, None, length=self.episode_length)
    return jnp.where(diverged, jnp.nan, total), length, normalizer.stats_from_sums(n, s, ss)

  def evaluate_params(self, params, structures, obs_stats, key) -> EvalResult:
    """Episodes for `params (P, D)`, `structures (P, E)`; episode keys split from `key`."""
    keys = jax.random.split(key, params.shape[0])
    return self._run(params, structures, obs_stats, keys)

  def evaluate_perturbations(self, center, offsets, sigma, structures, obs_stats, key, table=None) -> EvalResult:
    """See `Evaluator.evaluate_perturbations`: the antithetic population from `noise_table` (or
    `table`, the same table as a traced argument); pair `i` shares its episode key."""
    noise = noise_offsets.rows_jax(self._table if table is None else table, offsets, self.num_params)
    params = estimator.perturb(center, noise, sigma)
    keys = jax.random.split(key, offsets.shape[0])
    return self._run(params, structures, obs_stats, jnp.concatenate([keys, keys]))

  def _run(self, params, structures, obs_stats, keys) -> EvalResult:
    params, structures, keys = self._shard(params), self._shard(structures), self._shard(keys)
    returns, lengths, stats = jax.vmap(self.rollout, in_axes=(0, 0, None, 0))(params, structures, obs_stats, keys)
    return EvalResult(returns, lengths, normalizer.merge_batch(stats))

  def close(self) -> None:
    """Nothing to release: the devices stay with this process."""
