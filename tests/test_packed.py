"""The bit-packed chromatic matvec (`chromnas.model.packed`) against a float64 dense product."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chromnas.model import packed
from tests.test_fast_matvec import _assert_close, _problem


def _dense(values, colors, x):
  return np.asarray(x, np.float64) @ np.asarray(values, np.float64)[colors].T


@settings(max_examples=25, deadline=None)
@given(
  rows=st.integers(1, 40),
  cols=st.integers(1, 70),
  num_colors=st.integers(1, 40),
  batch=st.sampled_from([0, 1, 3, 64]),
  seed=st.integers(0, 2**16),
)
def test_random_shapes_equal_dense(rows, cols, num_colors, batch, seed):
  colors, values, x, expected, scale = _problem(seed, rows, cols, num_colors, (batch,) if batch else ())
  p = packed.pack(colors, num_colors)
  np.testing.assert_array_equal(np.asarray(packed.unpack(p))[:, :cols], colors)
  for lookup in packed.LOOKUPS:
    _assert_close(np.asarray(packed.packed_matvec(values, p, x, lookup=lookup)), expected, scale)


@pytest.mark.parametrize("num_colors,bits", [(1, 1), (2, 1), (3, 2), (4, 2), (5, 4), (16, 4), (17, 8), (256, 8)])
def test_bits_and_bytes(num_colors, bits):
  p = packed.pack(np.zeros((3, 100), np.int64), num_colors)
  assert p.bits == bits and p.words.dtype == jnp.uint32
  assert p.nbytes == 3 * 4 * -(-100 // (32 // bits))  # 1 bit per K=2 weight: 32x below float32


def test_jit_vmap_grad():
  rng = np.random.default_rng(0)
  colors = rng.integers(0, 5, (7, 33))
  p = packed.pack(colors, 5)
  values = jnp.asarray(rng.standard_normal(5), jnp.float32)
  xs = jnp.asarray(rng.standard_normal((4, 33)), jnp.float32)
  batched = jax.jit(jax.vmap(packed.packed_matvec, in_axes=(None, None, 0)))(values, p, xs)
  np.testing.assert_allclose(batched, _dense(values, colors, xs), rtol=1e-5, atol=1e-5)
  grad = jax.grad(lambda v: packed.packed_matvec(v, p, xs).sum())(values)
  expected = np.array([(xs.sum(0)[None, :] * (colors == k)).sum() for k in range(5)])
  np.testing.assert_allclose(grad, expected, rtol=1e-4, atol=1e-4)


_P = packed.pack(np.zeros((2, 4), int), 2)


@pytest.mark.parametrize(
  "call, match",
  [
    (lambda: packed.pack(np.zeros((2, 2), int), 300), "1 to 256 colors"),
    (lambda: packed.pack(np.full((2, 2), 3), 3), r"\[0, 3\)"),
    (lambda: packed.pack(np.zeros(4, int), 2), "rows, cols"),
    (lambda: packed.packed_matvec(jnp.ones(3), _P, jnp.ones(4)), "values must have shape"),
    (lambda: packed.packed_matvec(jnp.ones(2), _P, jnp.ones(5)), "columns"),
    (lambda: packed.packed_matvec(jnp.ones(2), _P, jnp.ones(4), lookup="scan"), "lookup must be"),
  ],
)
def test_bad_inputs_raise(call, match):
  with pytest.raises(ValueError, match=match):
    call()
