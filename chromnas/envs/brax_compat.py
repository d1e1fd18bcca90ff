"""Compatibility shims between the installed Brax and JAX; only Brax code paths import this.

brax 0.14.2's fluid model (Swimmer's viscosity) calls `jnp.clip(x, a_min=..., a_max=...)`,
which jax 0.10 no longer accepts.  `patch_fluid_clip` gives `brax.fluid` (that module only) a
`jax.numpy` whose `clip` takes the old keywords.
"""

from __future__ import annotations

import inspect
import types

import jax.numpy as jnp
from brax import fluid


def _clip(x, min=None, max=None, *, a_min=None, a_max=None, **kwargs):  # pylint: disable=redefined-builtin
  """`jnp.clip` that also takes the `a_min` / `a_max` keywords jax dropped."""
  return jnp.clip(x, a_min if min is None else min, a_max if max is None else max, **kwargs)


def patch_fluid_clip() -> None:
  """Points `brax.fluid.jp` at a copy of `jax.numpy` with the old-keyword `clip`.  Idempotent, and
  a no-op where jax still accepts `a_min` (or brax stopped using it through `fluid.jp`)."""
  if "a_min" in inspect.signature(jnp.clip).parameters or getattr(fluid.jp, "_chromnas_compat", False):
    return
  compat = types.ModuleType("jax.numpy (chromnas compat for brax.fluid)")
  compat.__dict__.update(jnp.__dict__, clip=_clip, _chromnas_compat=True)
  fluid.jp = compat
