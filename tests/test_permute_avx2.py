"""The AVX2 register-table kernel (`chromnas.core.permute_avx2`) against a float64 dense product,
its plan layout, and its place in the runtime (forced on AVX-512 CPUs too).  Kernel tests skip
only where the CPU lacks AVX2 + FMA (or numba is missing)."""

import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chromnas.core import mailman, permute, permute_avx2, row_threads, runtime
from tests.test_fast_matvec import _assert_close, _chromatic_policy, _problem

needs_kernel = pytest.mark.skipif(not permute_avx2.available(), reason="needs numba and a CPU with AVX2 and FMA")


@needs_kernel
@settings(max_examples=30, deadline=None)
@given(
  rows=st.integers(1, 70),
  cols=st.integers(1, 300),
  num_colors=st.integers(1, 32),
  batch=st.sampled_from([0, 1, 2, 5, 8, 13]),
  scheme=st.sampled_from([None, "permute", "shuffle"]),
  seed=st.integers(0, 2**16),
)
def test_random_shapes_equal_dense(rows, cols, num_colors, batch, scheme, seed):
  colors, values, x, expected, scale = _problem(seed, rows, cols, num_colors, (batch,) if batch else ())
  plan = permute_avx2.prepare(colors, num_colors, scheme)
  _assert_close(permute_avx2.matvec(values, plan, x), expected, scale)


@needs_kernel
@pytest.mark.parametrize("num_colors", [1, 2, 7, 8, 9, 16, 17, 24, 25, 31, 32])  # 1 to 4 registers
@pytest.mark.parametrize("cols", [1, 33, 255, 641])  # odd: a ragged last tile at every bit width
@pytest.mark.parametrize("batch", [(), (1,), (3,), (8,), (11,), (2, 5)])
@pytest.mark.parametrize("scheme", ["permute", "shuffle"])
def test_every_register_count_and_batch(num_colors, cols, batch, scheme):
  colors, values, x, _, _ = _problem(num_colors * cols, 23, cols, num_colors, batch)
  colors[0] = num_colors - 1  # the top color (the last register and blend) appears in every case
  w = values.astype(np.float64)[colors]
  plan = permute_avx2.prepare(colors, num_colors, scheme)
  assert plan.scheme == scheme and plan.width > cols  # a ragged last tile, padded
  out = permute_avx2.matvec(values, plan, x)
  assert out.shape == (*batch, 23)
  _assert_close(out, x.astype(np.float64) @ w.T, np.abs(x.astype(np.float64)) @ np.abs(w).T)


@needs_kernel
@pytest.mark.parametrize("threads", [1, 3])
def test_large_layer_on_threads(threads):
  colors, values, x, expected, scale = _problem(threads, 1000, 2050, 17, (2, 3))
  row_threads.set_threads(threads)  # 3: chunks of rows on the caller and two helpers
  try:
    _assert_close(permute_avx2.matvec(values, permute_avx2.prepare(colors, 17), x), expected, scale)
  finally:
    row_threads.set_threads(None)


@pytest.mark.parametrize(
  "num_colors, bits", [(1, 1), (2, 1), (3, 2), (4, 2), (5, 3), (8, 3), (9, 4), (16, 4), (17, 5), (32, 5)]
)
def test_plan_layout(num_colors, bits):
  """Word `l` of tile `t` holds the colors of columns `8G t + 8g + l` at bits `[g bits, (g+1) bits)`."""
  colors = np.random.default_rng(num_colors).integers(0, num_colors, (3, 100))
  plan = permute_avx2.prepare(colors, num_colors, "permute")
  groups = 32 // bits
  assert plan.bits == bits and plan.groups == groups and plan.codes.dtype == np.uint32
  tiles = -(-100 // (8 * groups))
  assert plan.codes.shape == (3, 8 * tiles) and plan.width == 8 * groups * tiles
  assert plan.nbytes == 3 * 8 * tiles * 4
  words = plan.codes.reshape(3, tiles, 8).astype(np.int64)
  decoded = (words[:, :, None, :] >> (np.arange(groups) * bits)[None, None, :, None]) & ((1 << bits) - 1)
  np.testing.assert_array_equal(decoded.reshape(3, -1)[:, :100], colors)
  assert not decoded.reshape(3, -1)[:, 100:].any()  # padding is color 0


@pytest.mark.parametrize("num_colors", [3, 16, 17, 32])
def test_shuffle_plan_layout(num_colors):
  """Byte `32t + 16h + 4r + m` holds column `32t + 8r + 4h + m`, color bit 4 moved to bit 7."""
  colors = np.random.default_rng(num_colors).integers(0, num_colors, (3, 70))
  plan = permute_avx2.prepare(colors, num_colors)
  assert plan.scheme == permute_avx2.default_scheme(num_colors) == ("permute" if num_colors <= 8 else "shuffle")
  plan = permute_avx2.prepare(colors, num_colors, "shuffle")
  assert plan.codes.dtype == np.uint8 and plan.codes.shape == (3, 96) and plan.width == 96 and plan.nbytes == 288
  codes = plan.codes.astype(np.int64).reshape(3, 3, 2, 4, 4)  # (row, t, h, r, m)
  decoded = (codes & 15) | ((codes >> 7) << 4)
  columns = decoded.transpose(0, 1, 3, 2, 4).reshape(3, 96)  # (row, t, r, h, m): column order
  np.testing.assert_array_equal(columns[:, :70], colors)
  assert not columns[:, 70:].any() and not (plan.codes & 0x60).any()  # padding 0, bits 5-6 clear


def test_byte_planes():
  values = np.random.default_rng(0).standard_normal(20).astype(np.float32)
  planes = permute_avx2.byte_planes(values)
  assert planes.shape == (8, 32) and planes.dtype == np.uint8
  table = np.zeros(32, np.float32)
  table[:20] = values
  for half in range(2):
    rebuilt = planes[4 * half : 4 * half + 4, :16].T.copy().view(np.float32)[:, 0]  # lane 0
    np.testing.assert_array_equal(rebuilt, table[16 * half : 16 * half + 16])
    np.testing.assert_array_equal(planes[4 * half : 4 * half + 4, 16:], planes[4 * half : 4 * half + 4, :16])


def test_value_table_repeats_for_narrow_colors():
  v = np.arange(1, 4, dtype=np.float32)
  np.testing.assert_array_equal(permute_avx2.value_table(v[:2], 2)[:8], [1, 2] * 4)
  np.testing.assert_array_equal(permute_avx2.value_table(v, 3)[:8], [1, 2, 3, 0] * 2)
  five = np.arange(1, 6, dtype=np.float32)
  np.testing.assert_array_equal(permute_avx2.value_table(five, 5), [1, 2, 3, 4, 5] + [0] * 27)


_PLAN = permute_avx2.prepare(np.zeros((2, 4), int), 2)


@pytest.mark.parametrize(
  "call, match",
  [
    (lambda: permute_avx2.prepare(np.zeros((2, 2), int), 33), "1 to 32 colors"),
    (lambda: permute_avx2.prepare(np.zeros((2, 2), int), 0), "1 to 32 colors"),
    (lambda: permute_avx2.prepare(np.full((2, 2), 3), 3), r"\[0, 3\)"),
    (lambda: permute_avx2.prepare(np.zeros(4, int), 2), "rows, cols"),
    (lambda: permute_avx2.prepare(np.zeros((2, 2), int), 2, "gather"), "scheme must be"),
    pytest.param(
      lambda: permute_avx2.matvec(np.ones(3), _PLAN, np.ones(4)), "values must have shape", marks=needs_kernel
    ),
    pytest.param(lambda: permute_avx2.matvec(np.ones(2), _PLAN, np.ones(5)), "trailing size 5", marks=needs_kernel),
  ],
)
def test_bad_inputs_raise(call, match):
  with pytest.raises(ValueError, match=match):
    call()


def test_unavailable_without_numba(monkeypatch):
  monkeypatch.setattr(mailman, "_numba", False)
  assert not permute_avx2.available() and runtime.cpu_kind() == "none"
  with pytest.raises(RuntimeError, match="AVX2"):
    permute_avx2.matvec(np.ones(2), _PLAN, np.ones(4))
  with pytest.raises(ValueError, match="avx2 matvec needs"):
    runtime.Policy(_chromatic_policy((8,), 5), matvec="avx2")


def test_unavailable_when_numba_targets_another_cpu(monkeypatch):
  numba = pytest.importorskip("numba")
  monkeypatch.setattr(permute_avx2, "_state", {})  # probe again
  monkeypatch.setattr(numba.config, "CPU_NAME", "generic", raising=False)
  assert not permute_avx2.available()  # never compile AVX2 code for a CPU that may lack it


@needs_kernel
def test_forced_on_every_cpu_policy_agrees_with_dense(monkeypatch):
  """`matvec='avx2'` runs the AVX2 kernel on any AVX2 CPU, AVX-512 ones included; with
  `CHROMNAS_NO_AVX512=1` the automatic choice treats an AVX-512 CPU as AVX2-only."""
  exported = _chromatic_policy((64, 48), 17, seed=3)
  obs = np.random.default_rng(1).normal(0.0, 2.0, (5, 17)).astype(np.float32)
  expected = runtime.Policy(exported, matvec="dense").act(obs)
  forced = runtime.Policy(exported, matvec="avx2")
  assert forced.layer_paths == ("avx2",) * 3 and forced.paths_for(8) == ("avx2",) * 3
  monkeypatch.setenv("CHROMNAS_NO_AVX512", "1")
  monkeypatch.setattr(runtime, "AVX2_MIN_ELEMENTS", ((5, 0),))  # 'auto' takes the kernel for every layer
  assert runtime.cpu_kind() == "avx2" and not permute.available()
  auto = runtime.Policy(exported)
  assert auto.layer_paths == ("avx2",) * 3
  for policy in (auto, forced):
    np.testing.assert_allclose(policy.act(obs), expected, atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(policy.act(obs[2]), expected[2], atol=1e-5, rtol=1e-5)


@needs_kernel
def test_policy_picks_per_batch_size(monkeypatch):
  """One observation and a batch may take different kernels; both agree with dense."""
  exported = _chromatic_policy((64, 48), 5, seed=4)
  obs = np.random.default_rng(2).normal(0.0, 2.0, (9, 17)).astype(np.float32)
  expected = runtime.Policy(exported, matvec="dense").act(obs)
  monkeypatch.setattr(runtime, "AVX2_MIN_ELEMENTS", ((5, 0),))
  monkeypatch.setattr(runtime, "AUTO_MIN_ELEMENTS", ((1, 0),))
  policy = runtime.Policy(exported, matvec="auto")
  one = "avx2" if runtime.cpu_kind() in ("avx2", "avx512") else "numba"
  assert policy.layer_paths == (one,) * 3  # K = 5 <= 8: the packed AVX2 kernel on either kind
  assert policy.paths_for(9) == ("numba",) * 3  # a batch: the mailman batch kernel (K <= 16)
  np.testing.assert_allclose(policy.act(obs), expected, atol=1e-5, rtol=1e-5)
  np.testing.assert_allclose(policy.act(obs[4]), expected[4], atol=1e-5, rtol=1e-5)


_AVX2_ONLY = r"""
import numpy as np
from chromnas.core import permute, permute_avx2, runtime
assert not permute.available() and runtime.cpu_kind() == "avx2"
rng = np.random.default_rng(0)
for k in (2, 7, 9, 32):
  colors = rng.integers(0, k, (37, 301)); values = rng.standard_normal(k).astype(np.float32)
  x = rng.standard_normal((3, 301)).astype(np.float32)
  out = permute_avx2.matvec(values, permute_avx2.prepare(colors, k), x)
  ref = x.astype(np.float64) @ values.astype(np.float64)[colors].T
  assert np.max(np.abs(out - ref)) < 1e-4 * np.max(np.abs(x) @ np.abs(values[colors]).T)
asm = "".join("".join(k.inspect_asm().values()) for key, k in permute_avx2._state.items() if key != "cpu")
assert "vpermps" in asm or "vpermd" in asm  # K = 7: the lane-crossing permute
assert "vpermilps" in asm  # K = 2: the in-lane one
assert "zmm" not in asm and "%k1" not in asm and "vpermt2" not in asm and "vpermi2" not in asm, "AVX-512 code"
print("ok")
"""


@pytest.mark.skipif(not permute_avx2.available(), reason="needs numba and a CPU with AVX2 and FMA")
def test_compiled_for_an_avx2_only_cpu():
  """In a process where numba targets this CPU without its AVX-512 features (as on an AVX2-only
  CPU), the kernel compiles to AVX2 code only and still equals the dense product."""
  from llvmlite import binding  # pylint: disable=g-import-not-at-top

  features = ",".join(
    ("-" + f[1:]) if f[1:].startswith(("avx512", "amx", "avx10")) else f
    for f in binding.get_host_cpu_features().flatten().split(",")
  )
  env = dict(os.environ, NUMBA_CPU_FEATURES=features)
  env.pop("CHROMNAS_NO_AVX512", None)
  done = subprocess.run(
    [sys.executable, "-c", _AVX2_ONLY],
    env=env,
    capture_output=True,
    text=True,
    timeout=600,
    cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
  )
  assert done.returncode == 0 and done.stdout.strip().endswith("ok"), done.stderr[-2000:]
