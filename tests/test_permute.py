"""The AVX-512 permute kernel (`chromnas.core.permute`) against a float64 dense product, and its
place in the runtime.  Kernel tests skip on CPUs without AVX-512 (or without numba)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chromnas.core import permute, row_threads, runtime
from tests.test_fast_matvec import _assert_close, _chromatic_policy, _problem

needs_kernel = pytest.mark.skipif(not permute.available(), reason="needs numba and an AVX-512 CPU")


@needs_kernel
@settings(max_examples=40, deadline=None)
@given(
  rows=st.integers(1, 70),
  cols=st.integers(1, 300),
  num_colors=st.integers(1, 32),
  batch=st.sampled_from([0, 1, 2, 5, 64]),
  seed=st.integers(0, 2**16),
)
def test_random_shapes_equal_dense(rows, cols, num_colors, batch, seed):
  colors, values, x, expected, scale = _problem(seed, rows, cols, num_colors, (batch,) if batch else ())
  plan = permute.prepare(colors, num_colors)
  assert plan.colors.shape[1] % permute.COL_PAD == 0  # ragged columns padded
  _assert_close(permute.matvec(values, plan, x), expected, scale)


@needs_kernel
@pytest.mark.parametrize("threads", [1, 3])
def test_large_layer_and_leading_dims(threads):
  colors, values, x, expected, scale = _problem(threads, 1000, 2050, 17, (2, 3))
  row_threads.set_threads(threads)  # 3: chunks of rows on the caller and two helpers
  try:
    _assert_close(permute.matvec(values, permute.prepare(colors, 17), x), expected, scale)
  finally:
    row_threads.set_threads(None)


_PLAN = permute.prepare(np.zeros((2, 4), int), 2)


@pytest.mark.parametrize(
  "call, match",
  [
    (lambda: permute.prepare(np.zeros((2, 2), int), 33), "1 to 32 colors"),
    (lambda: permute.prepare(np.full((2, 2), 3), 3), r"\[0, 3\)"),
    (lambda: permute.prepare(np.zeros(4, int), 2), "rows, cols"),
    pytest.param(lambda: permute.matvec(np.ones(3), _PLAN, np.ones(4)), "values must have shape", marks=needs_kernel),
    pytest.param(lambda: permute.matvec(np.ones(2), _PLAN, np.ones(5)), "trailing size 5", marks=needs_kernel),
  ],
)
def test_bad_inputs_raise(call, match):
  with pytest.raises(ValueError, match=match):
    call()


def test_plan_bytes():
  assert _PLAN.nbytes == 2 * permute.COL_PAD  # one byte per padded weight


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


def test_unavailable_when_numba_targets_another_cpu(monkeypatch):
  numba = pytest.importorskip("numba")
  monkeypatch.setattr(permute, "_state", {})  # probe again
  monkeypatch.setattr(numba.config, "CPU_NAME", "generic", raising=False)
  assert not permute.available()  # never compile AVX-512 code for a CPU that may lack it
