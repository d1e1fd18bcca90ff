"""What the exports share: the decoded file, its raw structure bytes, probe observations, the dense twin.

NumPy and `chromnas.core` only.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from chromnas.core import families, policy_file
from chromnas.core.bundle import PolicyBundle
from chromnas.core.policy_spec import PolicySpec


@dataclasses.dataclass(frozen=True)
class Source:
  """A policy file read for export: its decoded contents, and the structure section of its
  payload byte for byte (`ceil(edges * bits / 8)` bytes, `bits` per edge, least significant bit
  first; empty for families without a searched structure)."""

  exported: policy_file.ExportedPolicy
  structure_bytes: bytes
  bits: int  # bits per edge in `structure_bytes`
  size: int  # bytes of the whole `.chromnas` file


def read_source(path_or_bytes) -> Source:
  """Reads and checks a `.chromnas` file (a path or its bytes) and slices out its packed
  structure: the last `ceil(edges * bits / 8)` bytes before the CRC32 (`policy_file` layout)."""
  data = policy_file.read_bytes(path_or_bytes)
  exported = policy_file.loads(data)  # raises ValueError naming any problem
  bits = policy_file.structure_bits_per_edge(exported.record, exported.num_values)
  size = (exported.num_edges * bits + 7) // 8
  end = len(data) - 4
  return Source(exported, bytes(data[end - size : end]), bits, len(data))


def probe_observations(exported: policy_file.ExportedPolicy, count: int = 1000, seed: int = 0) -> np.ndarray:
  """`(count, obs_dim)` float32 observations around the policy's normaliser: `mean + std * z`,
  `z ~ N(0, 2^2)`, and every fifth row pushed to `z = +-1.5 clip` so the clipping is exercised."""
  if count < 1:
    raise ValueError(f"count must be positive, got {count}")
  rng = np.random.default_rng(seed)
  z = rng.normal(0.0, 2.0, (count, exported.obs_dim))
  far = np.arange(count) % 5 == 4
  z[far] = np.sign(z[far]) * 1.5 * exported.obs_clip
  return (exported.obs_mean + exported.obs_std * z).astype(np.float32)


def max_abs_error(actions: np.ndarray, reference: np.ndarray) -> float:
  """`max |actions - reference|` in float64 (inf when the shapes differ or a value is NaN)."""
  actions, reference = np.asarray(actions, np.float64), np.asarray(reference, np.float64)
  if actions.shape != reference.shape:
    return float("inf")
  err = np.abs(actions - reference)
  return float("inf") if np.isnan(err).any() else float(err.max(initial=0.0))


def dense_twin(exported: policy_file.ExportedPolicy) -> bytes:
  """The same policy (same actions) stored as an unstructured `.chromnas` file: every layer's
  weight matrix materialised, row-major."""
  mats, _ = families.weight_matrices(
    exported.family, exported.spec.layer_sizes, exported.num_colors, exported.params(), exported.structure
  )
  spec = PolicySpec(exported.obs_dim, exported.act_dim, exported.hidden, "unstructured", 0)
  params = np.concatenate([m.reshape(-1) for m in mats] + [exported.biases]).astype(np.float32)
  return policy_file.dumps(
    PolicyBundle(
      spec, params, np.zeros((0,), np.int32), exported.obs_mean, exported.obs_std, exported.obs_clip, exported.env
    )
  )
