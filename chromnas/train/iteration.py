"""How one ES iteration is compiled for an evaluator: the training loop's unit of work.

A jittable evaluator (Brax) runs inside one jitted `ask -> evaluate -> tell`; a host
evaluator runs between a jitted `ask` and a jitted `tell`.  Either way `Iteration(state)`
returns the next state and host-side metrics, and every call compiles the same programs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from chromnas.core import policy_spec
from chromnas.engines.base import Evaluator
from chromnas.es.ask_tell import Request, StepConfig, TrainState, ask, forward_fd_population, tell
from chromnas.search.partition_sources import PartitionSource


class Iteration:
  """Compiled pieces of one ES iteration for an evaluator (one jit for Brax, ask/tell around a
  host pool otherwise).  Built once per run; the programs compile on the first call."""

  def __init__(
    self,
    spec: policy_spec.PolicySpec,
    evaluator: Evaluator,
    source: PartitionSource,
    optimizer: optax.GradientTransformation,
    step_cfg: StepConfig,
  ):
    self.evaluator = evaluator
    self.table = jnp.asarray(evaluator.noise_table)
    self._ask = jax.jit(lambda s: ask(s, step_cfg, source, spec.num_params))
    self._tell = jax.jit(lambda s, r, res, table: tell(s, r, res, table, step_cfg, source, optimizer))
    sigma = step_cfg.sigma
    self.forward_fd = step_cfg.forward_fd
    self._population = jax.jit(lambda center, offsets, table: forward_fd_population(center, offsets, table, sigma))
    self._full: Callable[..., Any] | None  # the jitted whole iteration, for a jittable evaluator
    self._eval: Callable[..., Any]
    if evaluator.jittable:

      def full(state, table):
        state, req = ask(state, step_cfg, source, spec.num_params)
        if step_cfg.forward_fd:
          res = evaluator.evaluate_params(
            forward_fd_population(state.params, req.offsets, table, sigma),
            req.structures,
            state.obs_stats,
            req.episode_key,
          )
        else:
          res = evaluator.evaluate_perturbations(
            state.params, req.offsets, sigma, req.structures, state.obs_stats, req.episode_key, table=table
          )
        return tell(state, req, res, table, step_cfg, source, optimizer)

      self._full = jax.jit(full)
      self._eval = jax.jit(evaluator.evaluate_params)
    else:
      self._full = None
      self._eval = evaluator.evaluate_params
    self.sigma = sigma
    mesh = jax.sharding.Mesh(np.array(jax.local_devices()), ("pop",))
    self._replicated = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())

  def __call__(self, state: TrainState):
    """Runs one iteration: `(new_state, metrics dict of host scalars)`."""
    # One placement for the state, whatever produced it (init, restore, the last step, the
    # best-policy update), so the jitted step sees the same signature and compiles once.
    state = jax.device_put(state, self._replicated)
    if self._full is not None:
      state, metrics = self._full(state, self.table)
    else:
      state, req = self._ask(state)
      req = Request(*jax.device_get(req))
      if self.forward_fd:  # explicit parameter vectors: one-sided directions have no antithetic twin
        res = self.evaluator.evaluate_params(
          np.asarray(self._population(state.params, req.offsets, self.table)),
          req.structures,
          state.obs_stats,
          req.episode_key,
        )
      else:
        res = self.evaluator.evaluate_perturbations(
          state.params, req.offsets, self.sigma, req.structures, state.obs_stats, req.episode_key
        )
      state, metrics = self._tell(state, req, res, self.table)
    return state, {k: float(v) for k, v in jax.device_get(metrics).items()}

  def evaluate(self, params, structure, obs_stats, key, episodes: int):
    """Returns `(episodes,)` of `episodes` fresh episodes of one policy: `params (D,)`, `structure (E,)`."""
    res = self._eval(jnp.tile(params[None], (episodes, 1)), jnp.tile(structure[None], (episodes, 1)), obs_stats, key)
    return np.asarray(jax.device_get(res.returns))
