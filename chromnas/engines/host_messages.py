"""Messages between a host pool and its workers (NumPy only; pickled over a pipe or by Ray).

Every message is a NamedTuple defined here, so both ends pickle it by reference to this module.
One worker's conversation with `chromnas.engines.host_pool.HostPool`:

  pool -> worker                    worker -> pool
  WorkerConfig                      Ready, or Failed (then the worker exits)
  SetCenter                         nothing: the centre, sigma and normaliser of the jobs that follow
  EpisodeJob                        EpisodeResult, or Failed (then the worker exits)
  Shutdown                          nothing: the worker exits

A worker answers its jobs one at a time, in order, so the pool knows which job each answer is
for.  The Ray pool (`chromnas.engines.ray_pool`) sends the same messages as actor-method arguments.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class WorkerConfig(NamedTuple):
  """What a worker builds once: its environment, the policy family and the noise table.

  `make` / `env_kwargs`: the registry's maker string and its keyword arguments
  (`chromnas.envs.host_envs.make_host_env`); `family`, `layer_sizes`, `num_colors`: the policy
  (`chromnas.core.families.weight_matrices`); `noise_seed`, `noise_size`: the shared table
  (`chromnas.core.noise.make_table`); `episode_length` control steps of `action_repeat`
  simulator steps; `obs_clip`: the clip of normalised observations.
  """

  make: str
  env_kwargs: dict
  family: str
  layer_sizes: tuple
  num_colors: int
  noise_seed: int
  noise_size: int
  episode_length: int
  action_repeat: int
  obs_clip: float


class Ready(NamedTuple):
  """The worker built its environment, of `obs_dim` observations and `act_dim` actions."""

  obs_dim: int
  act_dim: int


class Failed(NamedTuple):
  """The worker could not start or run a job; `traceback` is the text of the exception."""

  traceback: str


class SetCenter(NamedTuple):
  """The parameters of an iteration: `center (D,)` float32 (`None` when every job brings its own
  parameters), `sigma`, and the observation normaliser `obs_mean`, `obs_std (obs_dim,)` float32."""

  center: np.ndarray | None
  sigma: float
  obs_mean: np.ndarray
  obs_std: np.ndarray


class EpisodeJob(NamedTuple):
  """Episode `index` of the population, run with episode seed `seed` and `structure (E,)` int32.

  The policy is `center + sign * sigma * table[offset : offset + D]` (the last `SetCenter`) when
  `params` is `None`, else the explicit `params (D,)` float32 (`offset` and `sign` unused).
  """

  index: int  # type: ignore[assignment]  # the field shadows tuple.index on purpose; that method is unused
  offset: int
  sign: float
  params: np.ndarray | None
  structure: np.ndarray
  seed: int


class EpisodeResult(NamedTuple):
  """Return (NaN if the simulator diverged), length, and float64 sums of the finite
  observations seen: `count`, `obs_sum (obs_dim,)`, `obs_sq_sum (obs_dim,)`."""

  ret: float
  length: int
  count: float  # type: ignore[assignment]  # the field shadows tuple.count on purpose; that method is unused
  obs_sum: np.ndarray
  obs_sq_sum: np.ndarray


class Shutdown(NamedTuple):
  """Asks the worker to exit."""
