"""The bit-packed chromatic matvec (`chromnas.model.packed`) against a float64 dense product."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from chromnas.model import packed


def _dense(values, colors, x):
  return np.asarray(x, np.float64) @ np.asarray(values, np.float64)[colors].T


@settings(max_examples=25, deadline=None)
@given(rows=st.integers(1, 40), cols=st.integers(1, 70), num_colors=st.integers(1, 40),
       batch=st.sampled_from([0, 1, 3, 64]), seed=st.integers(0, 2**16))
def test_random_shapes_equal_dense(rows, cols, num_colors, batch, seed):
  rng = np.random.default_rng(seed)
  colors = rng.integers(0, num_colors, (rows, cols))
  values = rng.standard_normal(num_colors).astype(np.float32)
  x = rng.standard_normal((batch, cols) if batch else cols).astype(np.float32)
  p = packed.pack(colors, num_colors)
  np.testing.assert_array_equal(np.asarray(packed.unpack(p))[:, :cols], colors)
  expected = _dense(values, colors, x)
  for lookup in packed.LOOKUPS:
    y = np.asarray(packed.packed_matvec(values, p, x, lookup=lookup))
    assert y.shape == expected.shape
    assert np.max(np.abs(y - expected)) / max(1.0, np.max(np.abs(expected))) < 1e-5


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


def test_bad_inputs_raise():
  with pytest.raises(ValueError, match="1 to 256 colors"):
    packed.pack(np.zeros((2, 2), int), 300)
  with pytest.raises(ValueError, match=r"\[0, 3\)"):
    packed.pack(np.full((2, 2), 3), 3)
  with pytest.raises(ValueError, match="rows, cols"):
    packed.pack(np.zeros(4, int), 2)
  p = packed.pack(np.zeros((2, 4), int), 2)
  with pytest.raises(ValueError, match="values must have shape"):
    packed.packed_matvec(jnp.ones(3), p, jnp.ones(4))
  with pytest.raises(ValueError, match="columns"):
    packed.packed_matvec(jnp.ones(2), p, jnp.ones(5))
  with pytest.raises(ValueError, match="lookup must be"):
    packed.packed_matvec(jnp.ones(2), p, jnp.ones(4), lookup="scan")
