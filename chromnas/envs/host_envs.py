"""Host (Gymnasium-API) environments of the task registry; no JAX (host workers import this)."""

from __future__ import annotations

from typing import Any

import gymnasium

from chromnas.envs import tasks


def make_host_env(make: str, **kwargs: Any) -> gymnasium.Env:
  """Builds the host environment of an `EngineTask.make` string: `"gymnasium:<id>"` through
  `gymnasium.make`, `"<module>:<function>:<name>"` through `tasks.load_maker`."""
  if make.startswith("gymnasium:"):
    return gymnasium.make(make.split(":", 1)[1], **kwargs)
  return tasks.load_maker(make)(**kwargs)
