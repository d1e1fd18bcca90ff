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
