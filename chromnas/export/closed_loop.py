"""Closed-loop episodes of any `act(obs) -> action` on a policy's judge environment.

The loop is `chromnas.deploy.evaluate_policy_file`'s, with the policy passed in: so an exported
policy (the C library through `chromnas.export.c_build.CPolicy`, an ONNX session) is scored
exactly as the NumPy runtime is, on the same environment (Gymnasium's v5 environments for the
standard tasks, `deploy.make_judge_env`), the same seeds and the same action scaling.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from chromnas import deploy


def episode_returns(act: Callable[[np.ndarray], np.ndarray], task: str, episodes: int, seed: int = 0) -> np.ndarray:
  """Returns `(episodes,)` of `act` on `task`'s judge environment (`deploy.episode_returns`), the
  observations handed over as float32, as a controller in C or ONNX receives them."""
  return deploy.episode_returns(lambda obs: np.asarray(act(np.asarray(obs, np.float32))), task, episodes, seed)[0]
