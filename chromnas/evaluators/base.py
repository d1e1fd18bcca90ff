"""The evaluator interface: the seam between the trainer and the engines that run rollouts.

The trainer hands an evaluator either a centre and perturbation offsets into the shared
noise table (`evaluate_perturbations`) or explicit parameter vectors (`evaluate_params`),
each with its own structure, and gets back an `EvalResult`.  Nothing above knows which engine ran.
"""
from __future__ import annotations

import abc
from typing import NamedTuple

import jax
import numpy as np

from chromnas.normalizer import RunningStats


class EvalResult(NamedTuple):
  """Per-episode results of a population of `P` policies.

  `returns (P,)` float32: the undiscounted return, NaN where the episode diverged
  (non-finite reward or observation) or its worker was lost; `lengths (P,)` int32: steps
  until termination; `obs_stats`: running statistics of every finite observation seen.
  """

  returns: jax.Array | np.ndarray
  lengths: jax.Array | np.ndarray
  obs_stats: RunningStats


class Evaluator(abc.ABC):
  """Runs episodes for a population.  `jittable` evaluators are pure JAX functions that may
  be traced inside the trainer's jitted iteration; host evaluators are called between jits."""

  jittable: bool = False
  num_params: int
  noise_table: np.ndarray

  @abc.abstractmethod
  def evaluate_perturbations(self, center, offsets, sigma, structures, obs_stats: RunningStats, key) -> EvalResult:
    """Episodes at `center + sigma * noise(offsets)` then `center - sigma * noise(offsets)`.

    `center (D,)`, `offsets (t,)` int into the noise table, `structures (2t, E)`; returns
    results for the `2t` policies, positive side first.  Pair `i` shares its episode seed.
    """

  @abc.abstractmethod
  def evaluate_params(self, params, structures, obs_stats: RunningStats, key) -> EvalResult:
    """Episodes for explicit `params (P, D)` with `structures (P, E)`."""

  def close(self) -> None:
    """Releases workers or devices; safe to call twice."""

  def __enter__(self):
    return self

  def __exit__(self, *exc):
    self.close()
