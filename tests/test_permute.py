"""The AVX-512 permute kernel (`chromnas.core.permute`) against a float64 dense product, and its
place in the runtime.  Kernel tests skip on CPUs without AVX-512 (or without numba)."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from chromnas.core import permute
from chromnas.core import runtime
from tests.test_fast_matvec import _chromatic_policy

needs_kernel = pytest.mark.skipif(not permute.available(), reason="needs numba and an AVX-512 CPU")


def _rel_err(y, x, values, colors):
  expected = np.asarray(x, np.float64) @ np.asarray(values, np.float64)[colors].T
  assert y.shape == expected.shape and y.dtype == np.float32
  return np.max(np.abs(y - expected)) / max(1.0, np.max(np.abs(expected)))


@needs_kernel
@settings(max_examples=40, deadline=None)
@given(rows=st.integers(1, 70), cols=st.integers(1, 300), num_colors=st.integers(1, 32),
       batch=st.sampled_from([0, 1, 2, 5, 64]), seed=st.integers(0, 2**16))
def test_random_shapes_equal_dense(rows, cols, num_colors, batch, seed):
  rng = np.random.default_rng(seed)
  colors = rng.integers(0, num_colors, (rows, cols))
  values = rng.standard_normal(num_colors).astype(np.float32)
  x = rng.standard_normal((batch, cols) if batch else cols).astype(np.float32)
  plan = permute.prepare(colors, num_colors)
  assert plan.colors.shape[1] % permute.COL_PAD == 0  # ragged columns padded
  assert _rel_err(permute.matvec(values, plan, x), x, values, colors) < 1e-5


@needs_kernel
def test_large_layer_and_leading_dims():
  rng = np.random.default_rng(0)
  colors = rng.integers(0, 17, (1000, 2050))
  values = rng.standard_normal(17).astype(np.float32)
  x = rng.standard_normal((2, 3, 2050)).astype(np.float32)
  y = permute.matvec(values, permute.prepare(colors, 17), x)
  assert y.shape == (2, 3, 1000)
  assert _rel_err(y.reshape(6, 1000), x.reshape(6, 2050), values, colors) < 1e-5


def test_bad_inputs_raise():
  with pytest.raises(ValueError, match="1 to 32 colors"):
    permute.prepare(np.zeros((2, 2), int), 33)
  with pytest.raises(ValueError, match=r"\[0, 3\)"):
    permute.prepare(np.full((2, 2), 3), 3)
  with pytest.raises(ValueError, match="rows, cols"):
    permute.prepare(np.zeros(4, int), 2)
  plan = permute.prepare(np.zeros((2, 4), int), 2)
  assert plan.nbytes == 2 * permute.COL_PAD  # one byte per padded weight
  if permute.available():
    with pytest.raises(ValueError, match="values must have shape"):
      permute.matvec(np.ones(3), plan, np.ones(4))
    with pytest.raises(ValueError, match="trailing size 5"):
      permute.matvec(np.ones(2), plan, np.ones(5))


def test_unavailable_without_numba(monkeypatch):
  from chromnas.core import mailman
  monkeypatch.setattr(mailman, "_numba", False)
  assert not permute.available()
  with pytest.raises(RuntimeError, match="AVX-512"):
    permute.matvec(np.ones(2), permute.prepare(np.zeros((2, 4), int), 2), np.ones(4))
  exported = _chromatic_policy((8,), 5)
  with pytest.raises(ValueError, match="permute matvec needs"):
    runtime.Policy(exported, matvec="permute")
  assert runtime.auto_path(4096, 4096, 17) == "dense"  # and no mailman kernel either


@needs_kernel
def test_policy_permute_agrees_with_dense(monkeypatch):
  exported = _chromatic_policy((64, 48), 17, seed=3)
  obs = np.random.default_rng(1).normal(0.0, 2.0, (5, 17)).astype(np.float32)
  expected = runtime.Policy(exported, matvec="dense").act(obs)
  monkeypatch.setattr(runtime, "PERMUTE_MIN_ELEMENTS", 0)  # 'auto' takes permute for every layer
  auto = runtime.Policy(exported)
  assert auto.layer_paths == ("permute",) * 3
  for policy in (auto, runtime.Policy(exported, matvec="permute")):
    np.testing.assert_allclose(policy.act(obs), expected, atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(policy.act(obs[2]), expected[2], atol=1e-5, rtol=1e-5)
