"""A trained policy as plain NumPy arrays: what evaluation and export need, nothing of training."""
from __future__ import annotations

import dataclasses

import numpy as np

from chromnas.policies import PolicySpec


@dataclasses.dataclass(frozen=True)
class PolicyBundle:
  """A deployable policy: `spec`, flat `params (num_params,)`, `structure (structure_size,)`
  and the observation normaliser (`obs_mean`, `obs_std`, both `(obs_dim,)`; the policy sees
  `clip((obs - obs_mean) / obs_std, -obs_clip, obs_clip)`)."""

  spec: PolicySpec
  params: np.ndarray
  structure: np.ndarray
  obs_mean: np.ndarray
  obs_std: np.ndarray
  obs_clip: float = 10.0
  env: str = ""
