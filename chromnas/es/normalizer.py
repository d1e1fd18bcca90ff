"""Running observation statistics (mean / variance), pure and mergeable across workers.

Statistics are `(count, mean, m2)` with `m2 = sum (x - mean)^2`; two sets merge with Chan et
al.'s parallel formula, so each worker can summarise its own rollouts and the trainer combines
them in any order.  Normalised observation: `clip((x - mean) / std, -clip, clip)`.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np


class RunningStats(NamedTuple):
  """Summary `(n, mean, m2)` of `n` observation vectors `x_k (dim,)`: `mean = sum_k x_k / n`,
  `m2 = sum_k (x_k - mean)^2` (elementwise).  JAX arrays, or NumPy ones where a host evaluator
  summed the observations."""

  count: jax.Array | np.ndarray  # type: ignore[assignment]  # () float32, observations seen (shadows tuple.count, unused)
  mean: jax.Array | np.ndarray  # (dim,)
  m2: jax.Array | np.ndarray  # (dim,) sum of squared deviations from the mean


def init_stats(dim: int) -> RunningStats:
  """Empty statistics for observations of size `dim` (normalising with them is the identity)."""
  return RunningStats(jnp.zeros((), jnp.float32), jnp.zeros((dim,), jnp.float32), jnp.zeros((dim,), jnp.float32))


def stats_from_sums(count, total, total_sq) -> RunningStats:
  """Statistics from raw sums: `count ()`, `total = sum x (dim,)`, `total_sq = sum x^2 (dim,)`;
  `mean = total / n`, `m2 = max(total_sq - n mean^2, 0)` (zeros when `n = 0`)."""
  safe = jnp.maximum(count, 1.0)
  mean = total / safe
  m2 = jnp.maximum(total_sq - safe * mean**2, 0.0)
  return RunningStats(jnp.asarray(count, jnp.float32), jnp.where(count > 0, mean, 0.0), jnp.where(count > 0, m2, 0.0))


def from_mean_std(mean, std_dev) -> RunningStats:
  """A fixed normaliser, e.g. a saved policy's: statistics with `mean (dim,)` and standard
  deviation `std_dev (dim,)`, those of the two-point sample `{mean - std_dev, mean + std_dev}`
  (`count = 2`, `m2 = 2 std_dev^2`).  `std` gives `std_dev` back exactly in float32
  (`sqrt(fl(s^2)) = s` in IEEE arithmetic, and the factor 2 is exact) wherever `std_dev >= eps`."""
  std_dev = jnp.asarray(std_dev, jnp.float32)
  return RunningStats(jnp.float32(2.0), jnp.asarray(mean, jnp.float32), 2.0 * std_dev * std_dev)


def stats_from_batch(x: jnp.ndarray, weights: jnp.ndarray | None = None) -> RunningStats:
  """Statistics of the rows of `x (N, dim)`; optional `weights (N,)` in {0, 1} mask rows out:
  `n = sum w`, `mean = sum w x / max(n, 1)`, `m2 = sum w (x - mean)^2`."""
  if weights is None:
    weights = jnp.ones(x.shape[:1], x.dtype)
  count = jnp.sum(weights)
  mean = jnp.sum(weights[:, None] * x, axis=0) / jnp.maximum(count, 1.0)
  m2 = jnp.sum(weights[:, None] * (x - mean) ** 2, axis=0)
  return RunningStats(count.astype(jnp.float32), mean, m2)


def merge(a: RunningStats, b: RunningStats) -> RunningStats:
  """Statistics of the union of the two samples (Chan et al.): with `d = mean_b - mean_a`,
  `n = n_a + n_b`, `mean = mean_a + d n_b / n`, `m2 = m2_a + m2_b + d^2 n_a n_b / n` (all `(dim,)`)."""
  count = a.count + b.count
  safe = jnp.maximum(count, 1.0)
  delta = b.mean - a.mean
  mean = a.mean + delta * b.count / safe
  m2 = a.m2 + b.m2 + delta**2 * a.count * b.count / safe
  return RunningStats(count, mean, m2)


def merge_batch(stats: RunningStats) -> RunningStats:
  """Merges a stacked batch of statistics (`count (P,)`, `mean`, `m2 (P, dim)`) into one:
  `n = sum_p n_p`, `mean = sum_p n_p mean_p / n`, `m2 = sum_p (m2_p + n_p (mean_p - mean)^2)`."""
  count = jnp.sum(stats.count)
  safe = jnp.maximum(count, 1.0)
  mean = jnp.sum(stats.count[:, None] * stats.mean, axis=0) / safe
  m2 = jnp.sum(stats.m2 + stats.count[:, None] * (stats.mean - mean) ** 2, axis=0)
  return RunningStats(count, mean, m2)


def std(stats: RunningStats, eps: float = 1e-2) -> jnp.ndarray:
  """Standard deviation `max(sqrt(m2 / n), eps)`, shape `(dim,)`; 1 while `n <= 1`."""
  var = stats.m2 / jnp.maximum(stats.count, 1.0)
  return jnp.where(stats.count > 1, jnp.maximum(jnp.sqrt(var), eps), 1.0)


def normalize(stats: RunningStats, x: jnp.ndarray, clip: float = 10.0) -> jnp.ndarray:
  """`clip((x - mean) / std, -clip, clip)` for `x (..., dim)`."""
  return jnp.clip((x - stats.mean) / std(stats), -clip, clip)
