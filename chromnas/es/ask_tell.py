"""One ES iteration as two pure halves, `ask` and `tell`, shared by every engine.

`ask` draws the perturbation offsets and a structure for every member of the antithetic
population (each side of a pair its own, from the partition source) and hands the evaluator a
`Request`; the evaluator runs the episodes and hands back an `EvalResult`; `tell` estimates the
gradient of the smoothed objective (`estimator.antithetic_gradient`: shaping, top-b),
applies it through optax, merges the observation statistics and updates the partition
source.  Non-finite returns (a diverging simulator, a lost worker) are counted and their
pairs excluded: they never reach the parameters.
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct

from chromnas.es import estimator, noise_offsets, normalizer


@struct.dataclass
class TrainState:
  """Everything a run needs to continue: parameters, optimiser, normaliser, partition source,
  PRNG key (raw uint32), iteration, and the best policy evaluated so far."""

  params: jax.Array  # (D,)
  opt_state: Any
  obs_stats: normalizer.RunningStats
  source_state: Any
  key: jax.Array  # (2,) uint32
  iteration: jax.Array  # () int32
  best_return: jax.Array  # () float32, -inf until the first evaluation
  best_params: jax.Array  # (D,)
  best_structure: jax.Array  # (E,) int32
  best_obs_stats: normalizer.RunningStats


class Request(NamedTuple):
  """What `ask` hands the evaluator: `offsets (t,)`, `structures (2t, E)`, the episodes' key."""

  offsets: jax.Array
  structures: jax.Array
  episode_key: jax.Array


class EvalResult(NamedTuple):
  """What an evaluator hands `tell`: per-episode results of a population of `P` policies.

  `returns (P,)` float32: the undiscounted return, NaN where the episode diverged
  (non-finite reward or observation) or its worker was lost; `lengths (P,)` int32: steps
  until termination; `obs_stats`: running statistics of every finite observation seen.
  """

  returns: jax.Array | np.ndarray
  lengths: jax.Array | np.ndarray
  obs_stats: normalizer.RunningStats


@struct.dataclass
class StepConfig:
  """Static hyper-parameters of an ES iteration: `t = num_directions` antithetic pairs at scale
  `sigma`, the gradient's `fitness_shaping` (one of `estimator.SHAPINGS`) and `top_directions`
  (ARS top-b, 0 = all), the noise table's `noise_size`, whether observations are normalised,
  `pairs_per_partition` (see `ask`), the per-step `reward_shift` (see `training_returns`) and
  the gradient `estimator` (one of `estimator.ESTIMATORS`)."""

  num_directions: int = struct.field(pytree_node=False)
  sigma: float = struct.field(pytree_node=False)
  fitness_shaping: str = struct.field(pytree_node=False)
  top_directions: int = struct.field(pytree_node=False)
  noise_size: int = struct.field(pytree_node=False)
  normalize_observations: bool = struct.field(pytree_node=False)
  pairs_per_partition: int = struct.field(pytree_node=False, default=0)
  reward_shift: float = struct.field(pytree_node=False, default=0.0)
  estimator: str = struct.field(pytree_node=False, default="antithetic")

  @property
  def forward_fd(self) -> bool:
    """Whether the population is `2t` independent one-sided directions plus the centre."""
    return self.estimator == "forward_fd"


def partition_rewards(structures, returns, cfg: StepConfig):
  """What the partition source learns from: `(structures (G, E), rewards (G,))`.

  With `pairs_per_partition = k >= 1` the population holds `G = t / k` distinct partitions, each
  run by `2k` episodes (both sides of `k` pairs); each is reported once with the mean of its
  finite returns (NaN if none is finite).  For REINFORCE this is the same gradient direction as
  reporting every episode, at `1 / 2k` of the controller's cost.  With `k = 0` every episode
  is its own partition.
  """
  k = cfg.pairs_per_partition
  t = cfg.num_directions
  if cfg.forward_fd:  # the centre's episode is the baseline, not a partition's sample
    structures, returns = structures[: 2 * t], returns[: 2 * t]
  if not k:
    return structures, returns
  if cfg.forward_fd:  # `2k` consecutive directions share a partition
    groups = returns.reshape(t // k, 2 * k)
    finite = jnp.isfinite(groups)
    count = jnp.sum(finite, axis=1)
    mean = jnp.sum(jnp.where(finite, groups, 0.0), axis=1) / jnp.maximum(count, 1)
    return structures[:: 2 * k], jnp.where(count > 0, mean, jnp.nan)
  groups = returns.reshape(2, t // k, k).transpose(1, 0, 2).reshape(t // k, 2 * k)
  finite = jnp.isfinite(groups)
  count = jnp.sum(finite, axis=1)
  mean = jnp.sum(jnp.where(finite, groups, 0.0), axis=1) / jnp.maximum(count, 1)
  return structures[:t:k], jnp.where(count > 0, mean, jnp.nan)


def ask(state: TrainState, cfg: StepConfig, source, num_params: int):
  """Draws offsets and structures for the next population: `(new_state, Request)`.

  `cfg.pairs_per_partition = 0` draws a structure for every member (each side of an
  antithetic pair its own); `k >= 1` draws `t / k` structures, each used by both sides of `k`
  consecutive pairs, so a pair's return difference measures the perturbation of the values
  under one partition and each partition's reward averages `2k` episodes.
  """
  key, k_off, k_src, k_ep = jax.random.split(state.key, 4)
  t, k = cfg.num_directions, cfg.pairs_per_partition
  if cfg.forward_fd:
    # `2t` independent directions (the same episode budget as `t` antithetic pairs), each block of
    # `2k` sharing one partition, and the centre last with the source's current partition.
    offsets = noise_offsets.sample_offsets(k_off, 2 * t, num_params, cfg.noise_size)
    if k:
      structures = jnp.repeat(source.ask(state.source_state, k_src, t // k), 2 * k, axis=0)
    else:
      structures = source.ask(state.source_state, k_src, 2 * t)
    structures = jnp.concatenate([structures, source.current(state.source_state)[None].astype(structures.dtype)])
    return dataclasses.replace(state, key=key), Request(offsets, structures, k_ep)
  offsets = noise_offsets.sample_offsets(k_off, t, num_params, cfg.noise_size)
  if k:
    structures = jnp.repeat(source.ask(state.source_state, k_src, t // k), k, axis=0)
    structures = jnp.concatenate([structures, structures])
  else:
    structures = source.ask(state.source_state, k_src, 2 * t)
  return dataclasses.replace(state, key=key), Request(offsets, structures, k_ep)


def forward_fd_population(center: jax.Array, offsets: jax.Array, table: jax.Array, sigma: float) -> jax.Array:
  """The forward-difference population `(n + 1, D)`: `center + sigma g_i` for the `n` offsets'
  rows `g_i = table[o_i : o_i + D]`, then `center (D,)` itself."""
  noise = noise_offsets.rows_jax(table, offsets, center.shape[0])
  return jnp.concatenate([center[None] + sigma * noise, center[None]])


def training_returns(returns, lengths, shift: float):
  """The returns ES and the partition source learn from: `R - shift * T` per episode.

  `returns (P,)`, `lengths (P,)` control steps.  With `shift` equal to a task's per-step
  healthy bonus (Hopper, Walker2d, Ant: 1), an episode no longer earns anything for merely
  staying alive, which is what traps ES in standing still (the "shift" of Mania et al.'s ARS).
  Reported returns stay unshifted.
  """
  returns = jnp.asarray(returns, jnp.float32)
  if not shift:
    return returns
  return returns - jnp.float32(shift) * jnp.asarray(lengths, jnp.float32)


def tell(
  state: TrainState,
  request: Request,
  result: EvalResult,
  table,
  cfg: StepConfig,
  source,
  optimizer: optax.GradientTransformation,
):
  """Updates parameters, normaliser and partition source from `result`: `(new_state, metrics)`.

  `request` is `ask`'s (`offsets (t,)`), `result.returns (2t,)` the `t` positive sides then the
  `t` negative ones, `table (N,)` the noise table.  With `cfg.estimator = 'forward_fd'`,
  `offsets (2t,)` and `result.returns (2t + 1,)` (the centre last) feed
  `estimator.forward_fd_gradient` instead.  With `g_i = table[o_i : o_i + D]`,
  `grad = estimator.antithetic_gradient(g, r[:t], r[t:], sigma)` and one optax ascent step
  `w <- w + update(grad)`; the step (parameters and optimiser state) is skipped when no pair
  has finite returns.  The gradient and the partition source see `training_returns` (shifted by `cfg.reward_shift`
  per step); the reported `reward_mean` / `reward_max` are the environment's own returns.
  """
  t = cfg.num_directions
  returns = jnp.asarray(result.returns, jnp.float32)
  learn = training_returns(returns, result.lengths, cfg.reward_shift)
  noise = noise_offsets.rows_jax(table, request.offsets, state.params.shape[0])
  if cfg.forward_fd:
    grad, n_valid = estimator.forward_fd_gradient(
      noise, learn[: 2 * t], learn[2 * t], cfg.sigma, shaping=cfg.fitness_shaping
    )
  else:
    grad, n_valid = estimator.antithetic_gradient(
      noise, learn[:t], learn[t:], cfg.sigma, shaping=cfg.fitness_shaping, top_b=cfg.top_directions
    )
  new_params, new_opt = estimator.apply_gradient(optimizer, grad, state.opt_state, state.params)
  ok = n_valid > 0
  params = jnp.where(ok, new_params, state.params)
  opt_state = jax.tree.map(lambda a, b: jnp.where(ok, a, b), new_opt, state.opt_state)
  obs_stats = state.obs_stats
  if cfg.normalize_observations:
    obs_stats = normalizer.merge(
      obs_stats, normalizer.RunningStats(*(jnp.asarray(x, jnp.float32) for x in result.obs_stats))
    )
  source_state, source_metrics = source.tell(state.source_state, *partition_rewards(request.structures, learn, cfg))
  finite = jnp.isfinite(returns)
  metrics = {
    "reward_mean": jnp.sum(jnp.where(finite, returns, 0.0)) / jnp.maximum(jnp.sum(finite), 1),
    "reward_max": jnp.max(jnp.where(finite, returns, -jnp.inf)),
    "num_nonfinite": jnp.sum(~finite),
    "valid_pairs": n_valid,
    "grad_norm": jnp.linalg.norm(grad),
    "params_norm": jnp.linalg.norm(params),
    "episode_steps": jnp.sum(jnp.asarray(result.lengths, jnp.int32)),
    **source_metrics,
  }
  new_state = dataclasses.replace(
    state,
    params=params,
    opt_state=opt_state,
    obs_stats=obs_stats,
    source_state=source_state,
    iteration=state.iteration + 1,
  )
  return new_state, metrics
