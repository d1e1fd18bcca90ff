"""Each weight family has exactly its structure, and every matvec equals materialise-then-multiply."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from chromnas.model import structured

shapes = st.tuples(st.integers(1, 9), st.integers(1, 9))


@given(shapes, st.integers(0, 2**31 - 1))
def test_toeplitz_depends_only_on_diagonal(shape, seed):
  rows, cols = shape
  params = np.random.default_rng(seed).normal(size=rows + cols - 1).astype(np.float32)
  w = np.asarray(structured.toeplitz(params, shape))
  assert w.shape == shape
  for i in range(rows):
    for j in range(cols):
      if i > 0 and j > 0:
        assert w[i, j] == w[i - 1, j - 1]
  # Every parameter appears exactly once on the border (first row + first column).
  border = np.concatenate([w[0, :], w[1:, 0]])
  np.testing.assert_array_equal(np.sort(border), np.sort(params))
  # Poster convention: first row is w_0..w_{cols-1}, then the first column continues.
  np.testing.assert_array_equal(w[0], params[:cols])
  np.testing.assert_array_equal(w[1:, 0], params[cols:])


@given(shapes, st.integers(0, 2**31 - 1))
def test_circulant_depends_only_on_shift(shape, seed):
  rows, cols = shape
  p = max(rows, cols)
  params = np.random.default_rng(seed).normal(size=p).astype(np.float32)
  w = np.asarray(structured.circulant(params, shape))
  assert w.shape == shape
  for i in range(rows):
    for j in range(cols):
      assert w[i, j] == params[(j - i) % p]


@given(shapes, st.integers(1, 6), st.integers(0, 2**31 - 1))
def test_chromatic_is_a_gather(shape, k, seed):
  rng = np.random.default_rng(seed)
  values = rng.normal(size=k).astype(np.float32)
  colors = rng.integers(0, k, size=shape)
  w = np.asarray(structured.chromatic(values, colors))
  np.testing.assert_array_equal(w, values[colors])
  # Entries of equal color are equal; the matrix has at most k distinct values.
  assert len(np.unique(w)) <= k


@given(shapes, st.integers(1, 6), st.integers(1, 3), st.integers(0, 2**31 - 1))
def test_matvecs_equal_dense_product(shape, k, batch, seed):
  rows, cols = shape
  rng = np.random.default_rng(seed)
  x = rng.normal(size=(batch, cols)).astype(np.float32)
  values = rng.normal(size=k).astype(np.float32)
  colors = rng.integers(0, k, size=shape)
  w = values[colors]
  expect = x @ w.T
  np.testing.assert_allclose(structured.chromatic_matvec(values, colors, x), expect, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(structured.chromatic_matvec_grouped(values, colors, x), expect, rtol=1e-5, atol=1e-5)
  tp = rng.normal(size=rows + cols - 1).astype(np.float32)
  np.testing.assert_allclose(
    structured.toeplitz_matvec(tp, shape, x), x @ np.asarray(structured.toeplitz(tp, shape)).T, rtol=1e-5, atol=1e-5
  )
  cp = rng.normal(size=max(shape)).astype(np.float32)
  np.testing.assert_allclose(
    structured.circulant_matvec(cp, shape, x), x @ np.asarray(structured.circulant(cp, shape)).T, rtol=1e-5, atol=1e-5
  )
  dp = rng.normal(size=rows * cols).astype(np.float32)
  np.testing.assert_allclose(structured.dense_matvec(dp, shape, x), x @ dp.reshape(shape).T, rtol=1e-5, atol=1e-5)
  mask = rng.integers(0, 2, size=shape)
  np.testing.assert_allclose(
    structured.masked_matvec(dp.reshape(shape), mask, x), x @ (dp.reshape(shape) * mask).T, rtol=1e-5, atol=1e-5
  )


def test_masked_zeroes_dropped_edges():
  values = jnp.arange(1.0, 7.0).reshape(2, 3)
  mask = jnp.array([[1, 0, 1], [0, 0, 1]])
  np.testing.assert_array_equal(structured.masked(values, mask), [[1, 0, 3], [0, 0, 6]])


def test_wrong_param_length_is_rejected():
  with pytest.raises(ValueError, match="rows\\+cols-1"):
    structured.toeplitz(jnp.zeros(3), (4, 6))
  with pytest.raises(ValueError, match="max\\(rows, cols\\)"):
    structured.circulant(jnp.zeros(3), (4, 6))


class TestJitVmap(chex.TestCase):
  @chex.variants(with_jit=True, without_jit=True)
  def test_chromatic_matvec_variants(self):
    key = jax.random.key(0)
    values = jax.random.normal(key, (5,))
    colors = jax.random.randint(jax.random.key(1), (7, 4), 0, 5)
    x = jax.random.normal(jax.random.key(2), (3, 4))
    fn = self.variant(structured.chromatic_matvec)
    chex.assert_trees_all_close(fn(values, colors, x), x @ values[colors].T, rtol=1e-5)
    fn2 = self.variant(structured.chromatic_matvec_grouped)
    chex.assert_trees_all_close(fn2(values, colors, x), x @ values[colors].T, rtol=1e-5, atol=1e-6)

  def test_vmap_over_population(self):
    pop = 6
    values = jax.random.normal(jax.random.key(0), (pop, 5))
    colors = jax.random.randint(jax.random.key(1), (pop, 7, 4), 0, 5)
    x = jax.random.normal(jax.random.key(2), (pop, 4))
    out = jax.jit(jax.vmap(structured.chromatic_matvec))(values, colors, x)
    chex.assert_shape(out, (pop, 7))
    for p in range(pop):
      np.testing.assert_allclose(out[p], x[p] @ values[p][colors[p]].T, rtol=1e-5)
    tp = jax.random.normal(jax.random.key(3), (pop, 7 + 4 - 1))
    out_t = jax.jit(jax.vmap(lambda p, v: structured.toeplitz_matvec(p, (7, 4), v)))(tp, x)
    chex.assert_shape(out_t, (pop, 7))
    cp = jax.random.normal(jax.random.key(4), (pop, 7))
    out_c = jax.jit(jax.vmap(lambda p, v: structured.circulant_matvec(p, (7, 4), v)))(cp, x)
    np.testing.assert_allclose(out_c[0], x[0] @ np.asarray(structured.circulant(cp[0], (7, 4))).T, rtol=1e-5)
