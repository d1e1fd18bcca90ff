"""Mailman chromatic matvec (JAX `chromnas.model.mailman`, and the NumPy fallback of
`chromnas.core.mailman` the runtime uses) against the dense product."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chromnas.core import mailman as host_mailman
from chromnas.model import mailman, structured


@pytest.fixture(scope="module")
def jitted():
  return jax.jit(mailman.mailman_matvec)


def _problem(seed, rows, cols, num_colors, batch):
  rng = np.random.default_rng(seed)
  colors = rng.integers(0, num_colors, (rows, cols))
  values = rng.standard_normal(num_colors).astype(np.float32)
  x = rng.standard_normal((*batch, cols)).astype(np.float32)
  expected = x.astype(np.float64) @ values.astype(np.float64)[colors].T
  return colors, values, x, expected


def _tol(cols):
  return dict(rtol=1e-5, atol=2e-6 * cols)


shapes = st.tuples(
  st.integers(1, 24),
  st.integers(1, 24),
  st.integers(1, 5),
  st.sampled_from([None, 1, 2, 3, 5]),
  st.sampled_from([(), (3,)]),
  st.integers(0, 2**16),
)


@settings(max_examples=12)
@given(args=shapes)
def test_jax_mailman_equals_dense(args, jitted):
  rows, cols, num_colors, block, batch, seed = args
  colors, values, x, expected = _problem(seed, rows, cols, num_colors, batch)
  plan = mailman.prepare(colors, num_colors, block)
  out = jitted(values, plan, x)
  assert out.shape == (*batch, rows) and out.dtype == jnp.float32
  np.testing.assert_allclose(out, expected, **_tol(cols))


@settings(max_examples=25)
@given(args=shapes)
def test_numpy_mailman_equals_dense(args):
  rows, cols, num_colors, block, batch, seed = args
  colors, values, x, expected = _problem(seed, rows, cols, num_colors, batch)
  plan = host_mailman.prepare(colors, num_colors, block)
  out = host_mailman.matvec(values, plan, x, use="numpy")
  assert out.shape == (*batch, rows) and out.dtype == np.float32
  np.testing.assert_allclose(out, expected, **_tol(cols))


@pytest.mark.parametrize(
  "rows,cols,num_colors,block",
  [
    (5, 7, 1, None),  # K = 1: one pattern
    (5, 7, 1, 3),
    (9, 7, 3, 1),  # b = 1
    (9, 7, 3, 3),  # ragged last block (7 = 3 + 3 + 1)
    (9, 7, 2, 10),  # block wider than the matrix
    (41, 17, 17, None),
    (6, 41, 17, None),
    (41, 17, 2, None),
  ],
)
def test_edge_cases_both_paths(rows, cols, num_colors, block, jitted):
  colors, values, x, expected = _problem(rows * cols + num_colors, rows, cols, num_colors, (2,))
  plan = mailman.prepare(colors, num_colors, block)
  np.testing.assert_allclose(jitted(values, plan, x), expected, **_tol(cols))
  np.testing.assert_allclose(jitted(values, plan, x[0]), expected[0], **_tol(cols))
  # One plan for both kernels: the JAX kernel only picks another default block.
  np_plan = host_mailman.prepare(colors, num_colors, plan.block)
  assert isinstance(plan, host_mailman.MailmanPlan) and plan.block == np_plan.block
  np.testing.assert_array_equal(np_plan.index, plan.index)
  np.testing.assert_allclose(host_mailman.matvec(values, np_plan, x, use="numpy"), expected, **_tol(cols))
  np.testing.assert_allclose(host_mailman.matvec(values, np_plan, x[0], use="numpy"), expected[0], **_tol(cols))


def test_matches_the_library_chromatic_matvecs(jitted):
  colors, values, x, _ = _problem(0, 64, 48, 4, (3,))
  plan = mailman.prepare(colors, 4)
  ref = structured.chromatic_matvec(values, colors, x)
  np.testing.assert_allclose(jitted(values, plan, x), ref, rtol=1e-5, atol=1e-4)
  np.testing.assert_allclose(structured.chromatic_matvec_grouped(values, colors, x), ref, rtol=1e-5, atol=1e-4)


def test_jit_vmap_and_traced_colorings():
  colors, values, x, expected = _problem(1, 20, 13, 3, (4,))
  # vmap over inputs and over value vectors (one plan).
  plan = mailman.prepare(colors, 3)
  np.testing.assert_allclose(jax.vmap(lambda xi: mailman.mailman_matvec(values, plan, xi))(x), expected, **_tol(13))
  many_values = np.stack([values, 2 * values])
  out = jax.jit(jax.vmap(mailman.mailman_matvec, in_axes=(0, None, None)))(many_values, plan, x[0])
  np.testing.assert_allclose(out, np.stack([expected[0], 2 * expected[0]]), **_tol(13))

  # prepare inside jit on a traced coloring (K and block static).
  @jax.jit
  def from_colors(c, v, xi):
    return mailman.mailman_matvec(v, mailman.prepare(c, 3, 2), xi)

  np.testing.assert_allclose(from_colors(colors, values, x), expected, **_tol(13))
  # The traced plan (patterns computed by jax.numpy) equals the concrete one (NumPy).
  traced = jax.jit(lambda c: mailman.prepare(c, 3, 2).index)(colors)
  concrete = mailman.prepare(colors, 3, 2).index
  assert traced.dtype == concrete.dtype
  np.testing.assert_array_equal(traced, concrete)

  # vmap over a population of colorings, values and inputs.
  rng = np.random.default_rng(2)
  pop_colors = rng.integers(0, 3, (4, 9, 7))
  pop_values = rng.standard_normal((4, 3)).astype(np.float32)
  pop_x = rng.standard_normal((4, 7)).astype(np.float32)
  pop = jax.jit(jax.vmap(lambda c, v, xi: mailman.mailman_matvec(v, mailman.prepare(c, 3), xi)))
  ref = np.stack([pop_values[i][pop_colors[i]] @ pop_x[i] for i in range(4)])
  np.testing.assert_allclose(pop(pop_colors, pop_values, pop_x), ref, **_tol(7))


def test_block_size_and_plan_memory():
  assert mailman.block_size(4096, 4096, 2) == 12
  assert mailman.block_size(4096, 4096, 17) == 2
  assert mailman.block_size(41, 17, 17) == 1
  assert mailman.block_size(41, 17, 2) == 5
  assert mailman.block_size(6, 41, 4) == 1
  assert mailman.block_size(10, 3, 1) == 3  # K = 1: as wide as allowed
  assert mailman.block_size(1 << 30, 64, 2) == mailman.MAX_BLOCK
  # One rule for both kernels (`core.mailman.widest_block`), each with its own table budget.
  assert host_mailman.widest_block(2, 4096, 16) == 12 and host_mailman.widest_block(2, 256, 16) == 8
  assert host_mailman.widest_block(1, 1, 5) == 5 and host_mailman.widest_block(300, 4096, 8) == 1
  colors = np.random.default_rng(0).integers(0, 2, (256, 256))
  plan = mailman.prepare(colors, 2)
  assert plan.block == 8 and plan.index.dtype == jnp.uint8 and plan.index.shape == (32, 256)
  assert plan.nbytes == 32 * 256
  # Block-major and C-contiguous: one block's patterns are one contiguous run (the lookups stream).
  assert host_mailman.prepare(colors, 2).index.flags.c_contiguous
  assert mailman.prepare(colors, 2, 9).index.dtype == jnp.uint16


def test_bad_inputs_raise():
  colors = np.array([[0, 1], [2, 0]])
  with pytest.raises(ValueError, match="colors must lie"):
    mailman.prepare(colors, 2)
  with pytest.raises(ValueError, match="colors must lie"):
    host_mailman.prepare(colors, 2)
  with pytest.raises(ValueError, match="block"):
    mailman.prepare(colors, 3, 0)
  with pytest.raises(ValueError, match="rows, cols"):
    host_mailman.prepare(colors.reshape(-1), 3)
  plan = mailman.prepare(colors, 3)
  with pytest.raises(ValueError, match="trailing size"):
    mailman.mailman_matvec(jnp.ones(3), plan, jnp.ones(3))
  with pytest.raises(ValueError, match="values must have shape"):
    host_mailman.matvec(np.ones(2), host_mailman.prepare(colors, 3), np.ones(2), use="numpy")


def test_host_matvec_under_jit_and_vmap():
  """`host_matvec` (`jax.pure_callback` into `chromnas.core.mailman`) equals the dense product."""
  colors, values, x, expected = _problem(3, 30, 21, 5, (4,))
  plan = host_mailman.prepare(colors, 5)
  f = jax.jit(lambda v, xs: mailman.host_matvec(v, plan, xs))
  np.testing.assert_allclose(f(values, x), expected, **_tol(21))
  np.testing.assert_allclose(f(values, x[1]), expected[1], **_tol(21))
  np.testing.assert_allclose(jax.vmap(lambda xi: mailman.host_matvec(values, plan, xi))(x), expected, **_tol(21))
  many_values = np.stack([values, -values])
  out = jax.jit(jax.vmap(lambda v: mailman.host_matvec(v, plan, x)))(many_values)
  np.testing.assert_allclose(out, np.stack([expected, -expected]), **_tol(21))
  with pytest.raises(ValueError, match="trailing size"):
    mailman.host_matvec(values, plan, x[:, :20])


def test_host_matvec_runs_the_avx2_plan():
  """`host_matvec` dispatches an AVX2 plan to its own kernel (skipped where the CPU lacks AVX2)."""
  from chromnas.core import permute_avx2

  if not permute_avx2.available():
    pytest.skip("no AVX2 kernel on this machine")
  colors, values, x, expected = _problem(3, 64, 40, 17, (4,))
  plan = permute_avx2.prepare(colors, 17)
  out = jax.jit(lambda v, xs: mailman.host_matvec(v, plan, xs))(values, x)
  np.testing.assert_allclose(out, expected, **_tol(40))
