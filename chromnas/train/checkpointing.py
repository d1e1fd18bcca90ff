"""Orbax checkpoints of the whole training state, with fallback past a corrupt checkpoint.

`WORKDIR/checkpoints/<iteration>/` holds the state pytree (`StandardSave`) and a JSON
`meta` (host-side counters, the config).  `restore_latest` tries the newest checkpoint first
and falls back to older ones if one cannot be read (moving the unreadable ones aside to
`checkpoints_unreadable/`, never deleting them), so an interrupted write or a damaged file
never costs more than the iterations since the previous checkpoint.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time

import jax
import numpy as np
import orbax.checkpoint as ocp


def _pad_empty(tree):
  """Orbax cannot store zero-size arrays: store a 1-element placeholder instead."""
  return jax.tree.map(lambda x: np.zeros((1,), np.asarray(x).dtype) if np.size(x) == 0 else x, tree)


def _unpad_empty(tree, like):
  return jax.tree.map(
    lambda x, ref: np.zeros(np.shape(ref), np.asarray(ref).dtype) if np.size(ref) == 0 else x, tree, like
  )


def digest(tree) -> str:
  """SHA-256 over every leaf's dtype, shape and bytes, in tree order.  Orbax's data files carry
  no checksum, so a flipped byte would otherwise restore silently as a different state."""
  h = hashlib.sha256()
  for leaf in jax.tree.leaves(tree):
    a = np.ascontiguousarray(np.asarray(leaf))
    h.update(f"{a.dtype.str}{a.shape}".encode())
    h.update(a.tobytes())
  return h.hexdigest()


class CorruptCheckpoint(ValueError):
  """A checkpoint whose restored state does not match the digest recorded when it was saved."""


class CheckpointStore:
  """Keeps the last `keep` checkpoints of a run under `directory`."""

  def __init__(self, directory: str, keep: int = 3):
    self.directory = os.path.abspath(directory)
    self.manager = ocp.CheckpointManager(
      self.directory, options=ocp.CheckpointManagerOptions(max_to_keep=keep, create=True)
    )

  def save(self, step: int, state, meta: dict) -> None:
    """Writes `state` (a pytree) and `meta` (JSON-able) as checkpoint `step`, waiting until durable."""
    state = jax.device_get(state)
    meta = {**meta, "state_sha256": digest(state)}
    self.manager.save(
      int(step),
      args=ocp.args.Composite(state=ocp.args.StandardSave(_pad_empty(state)), meta=ocp.args.JsonSave(meta)),
      force=True,
    )
    self.manager.wait_until_finished()

  def steps(self) -> list[int]:
    self.manager.reload()
    return sorted(self.manager.all_steps())

  def restore(self, step: int, like):
    """Checkpoint `step` restored onto the structure of `like`: `(state, meta)`."""
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, _pad_empty(like))
    out = self.manager.restore(
      int(step), args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract), meta=ocp.args.JsonRestore())
    )
    state = _unpad_empty(out.state, like)
    expected = out.meta.get("state_sha256") if isinstance(out.meta, dict) else None
    if expected is not None and digest(state) != expected:
      raise CorruptCheckpoint(f"checkpoint {step}: the restored state does not match the digest saved with it")
    return state, out.meta

  def restore_latest(self, like):
    """The newest readable checkpoint as `(step, state, meta)`, or `None` if there is none.

    Unreadable checkpoints are skipped with a warning; if checkpoints exist but none can be
    read, raises `RuntimeError` naming the directory (nothing is overwritten).
    """
    steps = self.steps()
    errors: list[str] = []  # one line per unreadable checkpoint
    bad: list[int] = []  # their steps
    for step in reversed(steps):
      try:
        state, meta = self.restore(step, like)
        if errors:
          logging.warning("restored checkpoint %d after skipping unreadable ones: %s", step, "; ".join(errors))
          self._quarantine(bad)
        return step, state, meta
      except Exception as e:  # pylint: disable=broad-except
        errors.append(f"{step}: {type(e).__name__}: {str(e)[:200]}")
        bad.append(step)
        logging.warning("checkpoint %d in %s is unreadable (%s); trying an older one", step, self.directory, e)
    if steps:
      raise RuntimeError(
        f"no checkpoint in {self.directory} could be read ({'; '.join(errors)}); "
        "move the directory away to start afresh"
      )
    return None

  def _quarantine(self, steps) -> None:
    """Moves unreadable checkpoints to `<directory>_unreadable/` (kept, never deleted) so the
    run can write those steps again."""
    target = self.directory + "_unreadable"
    os.makedirs(target, exist_ok=True)
    for step in steps:
      dest = os.path.join(target, f"{step}-{time.strftime('%Y%m%d-%H%M%S')}")
      os.rename(os.path.join(self.directory, str(step)), dest)
      logging.warning("moved unreadable checkpoint %d to %s", step, dest)
    self.manager.reload()

  def close(self) -> None:
    self.manager.close()
