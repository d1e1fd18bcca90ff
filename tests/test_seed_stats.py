"""Seed statistics (`chromnas.seed_stats`): rliable's IQM, mean, median and bootstrap intervals."""

import numpy as np
import pytest

pytest.importorskip("rliable")

from chromnas import seed_stats  # noqa: E402


def test_interval_estimates_bracket_the_point_and_are_deterministic():
  scores = {"a": np.array([1.0, 2.0, 3.0, 10.0]), "b": np.array([[5.0], [5.0], [5.0]])}
  out = seed_stats.interval_estimates(scores, reps=500)
  assert out == seed_stats.interval_estimates(scores, reps=500)
  a = out["a"]
  assert a["mean"].value == pytest.approx(4.0)
  assert a["iqm"].value == pytest.approx(2.5)  # the middle half: 2 and 3
  for est in a.values():
    assert est.low <= est.value <= est.high and est.high > est.low
  assert out["b"]["mean"] == seed_stats.Estimate(5.0, 5.0, 5.0)


def test_one_run_and_bad_scores():
  assert seed_stats.interval_estimates({"x": [7.0]})["x"]["iqm"] == seed_stats.Estimate(7.0, 7.0, 7.0)
  with pytest.raises(ValueError, match="scores of 'x' hold non-finite values"):
    seed_stats.interval_estimates({"x": [1.0, float("nan")]})


def test_median_seed_and_band():
  assert seed_stats.median_seed([0, 1, 2], [30.0, 10.0, 20.0]) == 2
  assert seed_stats.median_seed([4, 5], [1.0, 2.0]) == 4
  with pytest.raises(ValueError, match="one value per seed"):
    seed_stats.median_seed([0, 1], [1.0])
  curves = np.array([[0.0, 1.0, 2.0], [0.0, 3.0, 4.0], [0.0, 2.0, 6.0]])
  mean, low, high = seed_stats.bootstrap_band(curves, reps=300)
  np.testing.assert_allclose(mean, [0.0, 2.0, 4.0])
  assert np.all(low <= mean) and np.all(mean <= high)
  assert low[0] == high[0] == 0.0 and high[2] > low[2]
