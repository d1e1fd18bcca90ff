"""The evaluator interface: the seam between the trainer and the engines that run rollouts.

The trainer hands an evaluator either a centre and perturbation offsets into the shared
noise table (`evaluate_perturbations`) or explicit parameter vectors (`evaluate_params`),
each with its own structure, and gets back an `EvalResult`.  Nothing above knows which engine ran.
"""

from __future__ import annotations

from typing import Protocol

import jax
import numpy as np

from chromnas.es.ask_tell import EvalResult
from chromnas.es.normalizer import RunningStats

Array = jax.Array | np.ndarray


class Evaluator(Protocol):
  """What the trainer needs from an engine that runs episodes for a population.

  `jittable` engines (Brax) are pure JAX: the trainer traces `evaluate_perturbations` inside its
  jitted iteration and jits `evaluate_params`.  The others (host pools) are called between jits
  with host arrays.  Engines subclass this protocol to say they implement it.

  Attributes:
    jittable: whether both `evaluate_*` methods may be traced under `jax.jit`.
    num_params: `D`, the length of a parameter vector.
    noise_table: `(S,)` float32, the shared Gaussian table that perturbation offsets index
      (`chromnas.core.noise`); the trainer rebuilds the same noise from it for the gradient.
  """

  jittable: bool
  num_params: int
  noise_table: np.ndarray

  @property
  def num_workers(self) -> int:
    """Worker processes that run the episodes; 0 where the engine runs in this process."""

  @property
  def jobs_lost(self) -> int:
    """Episodes given up on since the evaluator started (their worker died more often than it
    may retry); always 0 for in-process engines.  Those episodes' returns are NaN."""

  def evaluate_perturbations(
    self,
    center: Array,
    offsets: Array,
    sigma: float,
    structures: Array,
    obs_stats: RunningStats,
    key: jax.Array,
    table: Array | None = None,
  ) -> EvalResult:
    """Episodes at `center + sigma * noise(offsets)`, then at `center - sigma * noise(offsets)`.

    `center (D,)`, `offsets (t,)` int32 into the noise table (`noise(o) = table[o : o + D]`),
    `structures (2t, E)` int32 (row `i` for policy `i`), `obs_stats` the normaliser the policies
    observe through, `key` the PRNG key the episode seeds come from.  Returns results for the
    `2t` policies, positive side first; pair `i` (policies `i` and `t + i`) shares its episode seed.

    `table` is the evaluator's own `noise_table` (the evaluator owns it; `None` means use it),
    passed again by a jitted caller as a traced argument so that the table (16 MiB at the default
    size) is not embedded in the compiled executable as a constant.  Engines whose workers rebuild
    the table from its seed ignore it.
    """

  def evaluate_params(self, params: Array, structures: Array, obs_stats: RunningStats, key: jax.Array) -> EvalResult:
    """Episodes for explicit `params (P, D)` with `structures (P, E)`; episode seeds from `key`."""

  def close(self) -> None:
    """Releases workers or devices; safe to call twice."""


def check_sizes(engine: str, task: str, obs_dim: int, act_dim: int, spec) -> None:
  """Raises `ValueError` unless `engine`'s `task` has the policy's observation and action sizes,
  `(obs_dim, act_dim) == (spec.obs_dim, spec.act_dim)`."""
  if (obs_dim, act_dim) != (spec.obs_dim, spec.act_dim):
    raise ValueError(
      f"{engine} task {task} has (obs, act) = ({obs_dim}, {act_dim}), "
      f"the policy expects ({spec.obs_dim}, {spec.act_dim})"
    )
