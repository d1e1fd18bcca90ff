"""Brax environments of the task registry (imports JAX and Brax; host workers never import this)."""

from __future__ import annotations

from typing import Any

from brax import envs
from brax.envs.base import Env

from chromnas.envs import brax_compat, tasks


def make_brax_env(make: str, backend: str, **kwargs: Any) -> Env:
  """Builds the Brax environment of an `EngineTask.make` string on the pipeline `backend`:
  `"brax:<name>"` from Brax's own registry, `"<module>:<function>:<name>"` through
  `tasks.load_maker` (called with `backend=`)."""
  if make.startswith("brax:"):
    brax_compat.patch_fluid_clip()
    return envs.get_environment(make.split(":", 1)[1], backend=backend, **kwargs)
  return tasks.load_maker(make)(backend=backend, **kwargs)
