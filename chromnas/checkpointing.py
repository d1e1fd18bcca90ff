"""Orbax checkpoints of the whole training state, with fallback past a corrupt checkpoint.

`WORKDIR/checkpoints/<iteration>/` holds the state pytree (`StandardSave`) and a JSON
`meta` (host-side counters, the config).  `restore_latest` tries the newest checkpoint first
and falls back to older ones if one cannot be read, so an interrupted write or a damaged
file never costs more than the iterations since the previous checkpoint.
"""
from __future__ import annotations

import logging
import os

import jax
import orbax.checkpoint as ocp


class CheckpointStore:
  """Keeps the last `keep` checkpoints of a run under `directory`."""

  def __init__(self, directory: str, keep: int = 3):
    self.directory = os.path.abspath(directory)
    self.manager = ocp.CheckpointManager(
        self.directory, options=ocp.CheckpointManagerOptions(max_to_keep=keep, create=True))

  def save(self, step: int, state, meta: dict) -> None:
    """Writes `state` (a pytree) and `meta` (JSON-able) as checkpoint `step`, waiting until durable."""
    self.manager.save(int(step), args=ocp.args.Composite(state=ocp.args.StandardSave(state),
                                                         meta=ocp.args.JsonSave(meta)), force=True)
    self.manager.wait_until_finished()

  def steps(self) -> list[int]:
    self.manager.reload()
    return sorted(self.manager.all_steps())

  def restore(self, step: int, like):
    """Checkpoint `step` restored onto the structure of `like`: `(state, meta)`."""
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, like)
    out = self.manager.restore(int(step), args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract),
                                                                  meta=ocp.args.JsonRestore()))
    return out.state, out.meta

  def restore_latest(self, like):
    """The newest readable checkpoint as `(step, state, meta)`, or `None` if there is none.

    Unreadable checkpoints are skipped with a warning; if checkpoints exist but none can be
    read, raises `RuntimeError` naming the directory (nothing is overwritten).
    """
    steps = self.steps()
    errors = []
    for step in reversed(steps):
      try:
        state, meta = self.restore(step, like)
        if errors:
          logging.warning("restored checkpoint %d after skipping unreadable ones: %s", step, "; ".join(errors))
        return step, state, meta
      except Exception as e:  # pylint: disable=broad-except
        errors.append(f"{step}: {type(e).__name__}: {str(e)[:200]}")
        logging.warning("checkpoint %d in %s is unreadable (%s); trying an older one", step, self.directory, e)
    if steps:
      raise RuntimeError(f"no checkpoint in {self.directory} could be read ({'; '.join(errors)}); "
                         "move the directory away to start afresh")
    return None

  def close(self) -> None:
    self.manager.close()
