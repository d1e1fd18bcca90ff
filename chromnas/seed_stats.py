"""Statistics over seeds for reports: IQM, mean, the median seed and stratified-bootstrap confidence
intervals, computed by `rliable` (Agarwal et al. 2021), never by hand.

Scores come as `{label: array (runs, tasks)}`: one row per seed, one column per task.  With a
single task the stratified bootstrap resamples seeds; with several it resamples seeds within
each task.  IQM is the mean of the middle 50% of all runs' scores (with 3 seeds it trims nothing
and equals the mean; it differs from 4 seeds on).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

import numpy as np

# The aggregates `interval_estimates` reports, in this order.  (rliable's own "median" is the
# median over tasks of per-task means, so the median *seed* is `median_seed`'s job.)
AGGREGATES = ("iqm", "mean")


class Estimate(NamedTuple):
  """A point estimate and its `(low, high)` confidence interval."""

  value: float
  low: float
  high: float


def _rliable():
  """`(library, metrics)` of rliable, or an ImportError saying which extra installs it."""
  try:
    from rliable import (
      library,  # pylint: disable=import-outside-toplevel
      metrics,  # pylint: disable=import-outside-toplevel
    )
  except ImportError as e:  # pragma: no cover - depends on the environment
    raise ImportError(f"seed statistics need rliable: pip install -e '.[stats]' ({e})") from e
  return library, metrics


def interval_estimates(
  scores: Mapping[str, np.ndarray], *, reps: int = 2000, confidence: float = 0.95, seed: int = 0
) -> dict[str, dict[str, Estimate]]:
  """`{label: {aggregate: Estimate}}` for `scores = {label: (runs, tasks)}`, every aggregate of
  `AGGREGATES` with its `confidence` stratified-bootstrap interval from `reps` resamples.

  Deterministic in `seed`.  A label with one run gets a zero-width interval.  Non-finite scores
  are refused with one `ValueError` naming the label.
  """
  library, metrics = _rliable()
  data = {}
  for label, x in scores.items():
    x = np.asarray(x, np.float64)
    if x.ndim == 1:
      x = x[:, None]
    if x.ndim != 2 or x.shape[0] < 1:
      raise ValueError(f"scores of {label!r} must be (runs, tasks), got shape {x.shape}")
    if not np.all(np.isfinite(x)):
      raise ValueError(f"scores of {label!r} hold non-finite values: {x.ravel().tolist()}")
    data[label] = x

  def aggregate(x):
    return np.array([metrics.aggregate_iqm(x), metrics.aggregate_mean(x)])

  out = {}
  for label, x in data.items():
    point = aggregate(x)
    if x.shape[0] == 1:
      out[label] = {name: Estimate(float(v), float(v), float(v)) for name, v in zip(AGGREGATES, point)}
      continue
    np.random.seed(seed)  # noqa: NPY002 rliable's bootstrap draws from NumPy's global generator
    _, cis = library.get_interval_estimates({label: x}, aggregate, reps=reps, confidence_interval_size=confidence)
    ci = np.asarray(cis[label])
    out[label] = {
      name: Estimate(float(point[i]), float(ci[0, i]), float(ci[1, i])) for i, name in enumerate(AGGREGATES)
    }
  return out


def median_seed(seeds: list[int], values: list[float]) -> int:
  """The seed whose value is the median of `values` (the lower middle one for an even count)."""
  if len(seeds) != len(values) or not seeds:
    raise ValueError(f"need one value per seed, got {len(seeds)} seeds and {len(values)} values")
  order = np.argsort(values, kind="stable")
  return int(seeds[order[(len(order) - 1) // 2]])


def bootstrap_band(curves: np.ndarray, *, reps: int = 1000, confidence: float = 0.95, seed: int = 0):
  """Mean curve and its stratified-bootstrap band over runs (rliable's sample-efficiency curves):
  `curves (runs, T)` -> `(mean (T,), low (T,), high (T,))`, the interval of the mean at every point."""
  library, metrics = _rliable()
  curves = np.asarray(curves, np.float64)
  mean = curves.mean(0)
  if curves.shape[0] == 1:
    return mean, mean.copy(), mean.copy()

  def per_point(x):  # x: (runs, 1, T)
    return np.array([metrics.aggregate_mean(x[..., j]) for j in range(x.shape[-1])])

  np.random.seed(seed)  # noqa: NPY002 rliable's bootstrap draws from NumPy's global generator
  _, cis = library.get_interval_estimates(
    {"c": curves[:, None, :]}, per_point, reps=reps, confidence_interval_size=confidence
  )
  ci = np.asarray(cis["c"])
  return mean, ci[0], ci[1]
