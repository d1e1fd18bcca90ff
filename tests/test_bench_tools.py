"""`experiments.bench_inference` and the sweep's grid, on tiny inputs."""

import pytest

from chromnas import reproduction
from experiments import bench_inference


def test_bench_inference_times_every_path_correctly():
  rows = bench_inference.run(
    [(64, 70)],
    [2, 17],
    budget_s=0.0,
    min_repeats=1,
    log=lambda _: None,
    jax_paths=("dense", "packed", "packed_select", "host"),
    jax_repeats=2,
  )
  paths = {(r["engine"], r["path"]) for r in rows}
  assert {("jax", "dense"), ("jax", "packed"), ("jax", "packed_select"), ("jax", "host"), ("numpy", "dense")} <= paths
  for r in rows:
    assert r["rel_err"] < 1e-5 and r["us"] > 0 and r["ratio_to_dense"] > 0, r
  assert all(r["ratio_to_dense"] == 1.0 for r in rows if r["path"] == "dense")


def test_bench_inference_pairs_each_path_with_dense_per_round():
  rows = bench_inference.run([(32, 40)], [3], budget_s=0.0, min_repeats=1, log=lambda _: None, with_jax=False, rounds=3)
  for r in rows:
    assert len(r["ratio_to_dense_rounds"]) == 3 and all(q > 0 for q in r["ratio_to_dense_rounds"]), r
    assert r["ratio_to_dense"] == sorted(r["ratio_to_dense_rounds"])[1], r
  assert all(r["ratio_to_dense_rounds"] == [1.0, 1.0, 1.0] for r in rows if r["path"] == "dense")


def test_time_rounds_interleaves_the_paths():
  calls = []
  medians, fastest = bench_inference._time_rounds(
    {"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, 0.0, 2, 3
  )
  assert {k: len(v) for k, v in medians.items()} == {"a": 3, "b": 3} and set(fastest) == {"a", "b"}
  # two warm-up calls each, then per round: ("a" warm-up after round 0,) 2 x "a", then "b" likewise
  assert calls == ["a"] * 2 + ["b"] * 2 + ["a"] * 2 + ["b"] * 2 + (["a"] * 3 + ["b"] * 3) * 2


def test_crossover_reports_each_kernel():
  entries = bench_inference.crossover([64, 96], [3], budget_s=0.0, min_repeats=1, log=lambda _: None)
  assert {e["path"] for e in entries} >= {"fast"}
  for e in entries:
    assert set(e["ratios"]) == {"64", "96"} and (e["crossover_n"] in (None, 64, 96))


def test_sweep_grid():
  assert reproduction.parse_grid("sigma=0.01,0.1; top_directions=8;") == [
    ("sigma", "0.01"),
    ("sigma", "0.1"),
    ("top_directions", "8"),
  ]
  with pytest.raises(ValueError, match="field=v1,v2"):
    reproduction.parse_grid("sigma")
