"""Colorings on the host: validation, canonical relabelling, colors used (NumPy only)."""

from __future__ import annotations

import numpy as np

from chromnas.core.policy_spec import PolicySpec


def validate_structure(spec: PolicySpec, structure) -> np.ndarray:
  """Checks a structure on the host and returns it as int32; raises `ValueError` naming the problem."""
  arr = np.asarray(structure)
  if arr.shape[-1:] != (spec.structure_size,):
    raise ValueError(
      f"structure has trailing size {arr.shape[-1:]}, {spec.family} policy needs ({spec.structure_size},)"
    )
  if arr.size and (arr.min() < 0 or arr.max() >= spec.num_choices):
    raise ValueError(f"structure values must lie in [0, {spec.num_choices}), found [{arr.min()}, {arr.max()}]")
  return arr.astype(np.int32)


def canonical_coloring(colors) -> np.ndarray:
  """Relabels colors by order of first appearance, so colorings equal up to a permutation of
  labels become identical: `[2, 2, 0, 1] -> [0, 0, 1, 2]`."""
  colors = np.asarray(colors)
  _, first = np.unique(colors, return_index=True)
  order = np.argsort(first)
  relabel = np.empty(colors.max() + 1, np.int32)
  relabel[np.unique(colors)[order]] = np.arange(order.size)
  return relabel[colors]


def colors_used(colors) -> int:
  """How many distinct colors a coloring actually uses."""
  return int(np.unique(np.asarray(colors)).size)
