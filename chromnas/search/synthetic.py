"""Synthetic partition search with a known optimum: ENAS controller vs random controller.

A hidden coloring `c*` of a `rows x cols` matrix with `K` colors gives a target matrix
`T = levels[c*]`.  The reward of a coloring `c` is how well `K` shared values can fit `T`
under `c`: for each color the best value is the mean of the target entries of that color, so

    reward(c) = -sum_k sum_{(i,j): c_ij = k} (T_ij - mean_k)^2 / sum_ij (T_ij - mean(T))^2,

in `[-1, 0]`, 0 exactly at `c*` (up to relabelling).  Each method gets the same number of
samples per iteration, iterations and seeds.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from chromnas.search import partition_sources

SETTINGS = {"learning_rate": 0.05, "tournament_size": 4, "entropy_coef": 1e-4}


def make_problem(key, rows: int, cols: int, num_colors: int):
  """`(target (E,), hidden coloring (E,))` with well-separated levels `0, 1, .., K-1`."""
  coloring = jax.random.randint(key, (rows * cols,), 0, num_colors)
  return jnp.arange(num_colors, dtype=jnp.float32)[coloring], coloring


def fit_reward(target, colorings, num_colors: int):
  """Negative normalised least-squares residual of fitting `target (E,)` with one value per
  color, for `colorings (n, E)`; returns `(n,)` in `[-1, 0]`."""
  one_hot = jax.nn.one_hot(colorings, num_colors)  # (n, E, K)
  counts = one_hot.sum(1)
  means = jnp.einsum("nek,e->nk", one_hot, target) / jnp.maximum(counts, 1)
  fitted = jnp.einsum("nek,nk->ne", one_hot, means)
  total = jnp.sum((target - target.mean()) ** 2)
  return -jnp.sum((target - fitted) ** 2, axis=1) / total


def run_synthetic(
  kind: str,
  key,
  *,
  rows: int = 8,
  cols: int = 8,
  num_colors: int = 4,
  samples: int = 32,
  iterations: int = 150,
  **settings,
) -> dict:
  """Runs one method; returns final mean reward of its samples, the best reward, and the curve.

  `settings` override the partition source's (`partition_sources.make_source`; `SETTINGS` are the
  defaults, the same for every method); each iteration draws `samples` colorings."""
  k_problem, k_init, k_run = jax.random.split(key, 3)
  target, _ = make_problem(k_problem, rows, cols, num_colors)
  source = partition_sources.make_source(
    kind, rows * cols, num_colors, **{**SETTINGS, **settings, "population_size": samples}
  )

  def step(state, k):
    structures = source.ask(state, k, samples)
    rewards = fit_reward(target, structures, num_colors)
    state, _ = source.tell(state, structures, rewards)
    return state, rewards.mean()

  state, curve = jax.jit(lambda s, ks: jax.lax.scan(step, s, ks))(
    source.init(k_init), jax.random.split(k_run, iterations)
  )
  tail = max(1, iterations // 10)
  return {
    "final_mean": float(curve[-tail:].mean()),
    "best": float(state.best_reward),
    "curve": np.asarray(curve).tolist(),
  }
