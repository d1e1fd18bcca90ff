"""Synthetic partition search with a known optimum: ENAS controller vs random controller
(and regularized evolution, and a fixed partition).

The problem and its reward (how well `K` shared values fit a target matrix built from a
hidden `K`-coloring; 0 is optimal) are in `chromnas.search.synthetic`.  Each method gets the same
number of samples per iteration, iterations and seeds.

  python -m experiments.synthetic_search [--num_colors=4 --rows=8 --cols=8 --iterations=150 --seeds=3]
"""

from __future__ import annotations

import json
import time

import jax
import numpy as np
from absl import app, flags

from chromnas.search import synthetic

_K = flags.DEFINE_integer("num_colors", 4, "K, the number of colors (and target levels).")
_ROWS = flags.DEFINE_integer("rows", 8, "Rows of the target matrix.")
_COLS = flags.DEFINE_integer("cols", 8, "Columns of the target matrix.")
_SAMPLES = flags.DEFINE_integer("samples_per_iter", 32, "Colorings evaluated per iteration.")
_ITERS = flags.DEFINE_integer("iterations", 150, "Iterations.")
_SEEDS = flags.DEFINE_integer("seeds", 3, "Seeds per method.")
_METHODS = flags.DEFINE_list("methods", ["enas", "random", "evolution", "fixed"], "Methods to compare.")
_FORMAT = flags.DEFINE_enum("format", "text", ["text", "json"], "Output format.")


def main(argv):
  del argv
  t0 = time.time()
  results = {}
  for method in _METHODS.value:
    runs = [
      synthetic.run_synthetic(
        method,
        jax.random.PRNGKey(seed),
        rows=_ROWS.value,
        cols=_COLS.value,
        num_colors=_K.value,
        samples=_SAMPLES.value,
        iterations=_ITERS.value,
      )
      for seed in range(_SEEDS.value)
    ]
    results[method] = {
      "final_mean": float(np.mean([r["final_mean"] for r in runs])),
      "final_mean_per_seed": [r["final_mean"] for r in runs],
      "best": float(np.mean([r["best"] for r in runs])),
    }
  ratio = results.get("random", {}).get("final_mean", np.nan) / results.get("enas", {}).get("final_mean", np.nan)
  if _FORMAT.value == "json":
    print(json.dumps({"results": results, "random_over_enas_error": ratio, "seconds": time.time() - t0}))
    return
  print(
    f"target {_ROWS.value}x{_COLS.value}, K={_K.value}, {_SAMPLES.value} samples x {_ITERS.value} iterations, "
    f"{_SEEDS.value} seeds (reward = -normalised fit error; 0 is optimal)"
  )
  print(f"{'method':<10} {'final mean reward':>18} {'best reward':>12}   per seed")
  for method, r in results.items():
    print(
      f"{method:<10} {r['final_mean']:18.4f} {r['best']:12.4f}   "
      + " ".join(f"{x:.4f}" for x in r["final_mean_per_seed"])
    )
  print(f"\nerror of the random controller / error of the ENAS controller = {ratio:.1f}x ({time.time() - t0:.0f} s)")


if __name__ == "__main__":
  app.run(main)
