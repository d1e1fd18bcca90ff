"""`chromnas.core.mailman` (numba kernel and NumPy fallback) and `runtime.Policy(matvec='auto')`
against the dense float64 product.  The numba tests are skipped where numba is not installed."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chromnas.core import families, mailman, permute, policy_file, row_threads, runtime

HAVE_NUMBA = mailman.backend() == "numba"
USES = ["numpy", pytest.param("numba", marks=pytest.mark.skipif(not HAVE_NUMBA, reason="numba not installed"))]


def _problem(seed, rows, cols, num_colors, batch):
  rng = np.random.default_rng(seed)
  colors = rng.integers(0, num_colors, (rows, cols))
  values = rng.standard_normal(num_colors).astype(np.float32)
  x = rng.standard_normal((*batch, cols)).astype(np.float32)
  w = values.astype(np.float64)[colors]
  return colors, values, x, x.astype(np.float64) @ w.T, np.abs(x.astype(np.float64)) @ np.abs(w).T


def _assert_close(out, expected, scale, tol=1e-5):
  """Relative error `max |out - expected| / max |x| |W|^T` below `tol` (the magnitude of the
  summed terms: the relative error of a sum, unaffected by cancellation in one output)."""
  assert out.shape == expected.shape and out.dtype == np.float32
  err = np.max(np.abs(out - expected), initial=0.0) / max(np.max(scale, initial=0.0), 1e-30)
  assert err < tol, err


@settings(max_examples=40)
@given(
  rows=st.integers(1, 40),
  cols=st.integers(1, 70),
  num_colors=st.integers(2, 17),
  block=st.sampled_from([None, 1, 2, 3, 5]),
  batch=st.sampled_from([(), (1,), (2,), (3,), (9,), (2, 5)]),
  seed=st.integers(0, 2**16),
)
def test_random_shapes_equal_dense(rows, cols, num_colors, block, batch, seed):
  if block is not None and num_colors**block > mailman.MAX_TABLE:
    block = 2
  colors, values, x, expected, scale = _problem(seed, rows, cols, num_colors, batch)
  plan = mailman.prepare(colors, num_colors, block)
  for use in ["numpy"] + (["numba"] if HAVE_NUMBA else []):
    _assert_close(mailman.matvec(values, plan, x, use=use), expected, scale)


@pytest.mark.skipif(not HAVE_NUMBA, reason="numba not installed")
@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("num_colors,cols", [(2, 4099), (4, 2000), (17, 700)])
def test_one_vector_kernel_split_over_threads(threads, num_colors, cols, monkeypatch):
  # Several parts (runs of block groups, each with its own partial sums, handed to the threads):
  # every split, one thread's included, gives the same bits.
  monkeypatch.setattr(mailman, "MIN_SPLIT_LOOKUPS", 1000)  # parts of this small matrix
  colors, values, x, expected, scale = _problem(cols + threads, 37, cols, num_colors, (2,))
  plan = mailman.prepare(colors, num_colors)
  assert plan.index.size >= mailman.MIN_SPLIT_LOOKUPS and plan.index.shape[0] >= 2 * mailman.GROUP  # 2+ parts
  row_threads.set_threads(1)
  one = mailman.matvec(values, plan, x, use="numba")
  row_threads.set_threads(threads)
  try:
    outs = [mailman.matvec(values, plan, x, use="numba") for _ in range(5)]
  finally:
    row_threads.set_threads(None)
  for out in outs:
    _assert_close(out, expected, scale)
    np.testing.assert_array_equal(out, one)  # partial sums fixed by the plan: the same bits on any split


@pytest.mark.parametrize("use", USES)
@pytest.mark.parametrize("batch", [1, 2, 3, 8, 13, 64])
@pytest.mark.parametrize("num_colors", [2, 5, 17])
def test_batches_and_ragged_blocks(use, batch, num_colors):
  # 301 columns: a ragged last block for the default b = 8, 3, 2; 45 rows: not a multiple of the
  # row padding.
  colors, values, x, expected, _ = _problem(batch * num_colors, 45, 301, num_colors, (batch,))
  plan = mailman.prepare(colors, num_colors)
  assert plan.cols % plan.block
  out = mailman.matvec(values, plan, x, use=use)
  assert out.shape == (batch, 45)
  # Plain relative error against dense (no cancellation at these sizes: max |y| ~ sqrt(cols)).
  assert np.max(np.abs(out - expected)) / np.max(np.abs(expected)) < 1e-5


@pytest.mark.parametrize("use", USES)
@pytest.mark.parametrize(
  "rows,cols,num_colors,block",
  [
    (1, 1, 2, None),  # a 1x1 matrix, b capped at cols
    (9, 7, 3, 3),  # ragged last block (7 = 3 + 3 + 1)
    (9, 7, 2, 10),  # block wider than the matrix
    (8, 16, 2, 8),  # nothing ragged
    (17, 33, 4, 4),  # 9 blocks: 3 padding blocks to the group of 4
    (41, 17, 17, None),  # policy-sized, K = 17 (b = 2, uint16 indices)
    (6, 41, 17, 3),  # 4913-entry tables
    (5, 7, 1, None),  # K = 1: a single pattern
    (12, 9, 300, None),  # K > 256: b = 1, uint16 indices
    (10, 40, 2, 16),  # 65536-entry tables (uint16 at its limit)
    (10, 40, 3, 10),  # 59049-entry tables
  ],
)
def test_edge_cases(use, rows, cols, num_colors, block):
  colors, values, x, expected, scale = _problem(rows + cols + num_colors, rows, cols, num_colors, (3,))
  plan = mailman.prepare(colors, num_colors, block)
  _assert_close(mailman.matvec(values, plan, x, use=use), expected, scale)
  _assert_close(mailman.matvec(values, plan, x[1], use=use), expected[1], scale[1])
  _assert_close(mailman.matvec(values, plan, x[:0], use=use), expected[:0], scale[:0])


def test_plan_layout_and_block_sizes():
  assert [mailman.block_size(k) for k in (1, 2, 3, 4, 5, 6, 7, 16, 17, 64, 65, 300)] == [
    8,
    8,
    5,
    4,
    3,
    3,
    2,
    2,
    2,
    2,
    1,
    1,
  ]
  assert mailman.block_size(17, cols=1) == 1
  colors = np.random.default_rng(0).integers(0, 2, (100, 50))
  plan = mailman.prepare(colors, 2)
  # 50 columns -> 7 blocks of 8 -> 8 (a multiple of GROUP); 100 rows -> 104 (a multiple of 8).
  assert plan.block == 8 and plan.index.shape == (8, 104) and plan.index.dtype == np.uint8
  assert plan.index.flags.c_contiguous and plan.num_blocks == 7 and plan.nbytes == 8 * 104
  # For K = 2, b = 8 the patterns are the bit-packed colors (little-endian bit order).
  packed = np.packbits(colors.astype(np.uint8), axis=1, bitorder="little")
  np.testing.assert_array_equal(plan.index[:7, :100], packed.T)
  assert not plan.index[7:].any() and not plan.index[:, 100:].any()
  # The JAX kernel's plan is this plan (same patterns and padding for equal blocks).
  from chromnas.model import mailman as jax_mailman

  np.testing.assert_array_equal(plan.index, jax_mailman.prepare(colors, 2, 8).index)
  assert mailman.prepare(np.zeros((4, 4), int), 17).index.dtype == np.uint16


@pytest.mark.parametrize("use", USES)
def test_uint32_plans(use):
  """Tables above 64K entries (allowed by `max_table`, as the JAX kernel's plans) hold uint32
  patterns, which the word kernel reads two per word."""
  colors, values, x, expected, scale = _problem(5, 11, 23, 3, (2,))
  plan = mailman.prepare(colors, 3, 11, max_table=1 << 18)
  assert plan.index.dtype == np.uint32 and plan.table_size == 3**11
  _assert_close(mailman.matvec(values, plan, x, use=use), expected, scale)
  _assert_close(mailman.matvec(values, plan, x[0], use=use), expected[0], scale[0])


def test_bad_inputs_raise():
  colors = np.array([[0, 1], [2, 0]])
  with pytest.raises(ValueError, match="colors must lie"):
    mailman.prepare(colors, 2)
  with pytest.raises(ValueError, match="rows, cols"):
    mailman.prepare(colors.reshape(-1), 3)
  with pytest.raises(ValueError, match="block"):
    mailman.prepare(colors, 3, 0)
  with pytest.raises(ValueError, match="block"):
    mailman.prepare(colors, 3, 11)  # 3^11 > MAX_TABLE
  plan = mailman.prepare(colors, 3)
  with pytest.raises(ValueError, match="trailing size"):
    mailman.matvec(np.ones(3), plan, np.ones(3))
  with pytest.raises(ValueError, match="values must have shape"):
    mailman.matvec(np.ones(2), plan, np.ones(2))
  with pytest.raises(ValueError, match="use must be"):
    mailman.matvec(np.ones(3), plan, np.ones(2), use="blas")


def test_without_numba_falls_back_to_numpy(monkeypatch):
  monkeypatch.setattr(mailman, "_numba", False)  # as if numba were not installed
  assert mailman.backend() == "numpy"
  colors, values, x, expected, scale = _problem(3, 20, 30, 4, (2,))
  plan = mailman.prepare(colors, 4)
  _assert_close(mailman.matvec(values, plan, x), expected, scale)
  with pytest.raises(RuntimeError, match="numba is not available"):
    mailman.matvec(values, plan, x, use="numba")
  assert not runtime.auto_uses_kernel(4096, 4096, 2)  # 'auto' then keeps every layer dense


# ---- runtime.Policy ------------------------------------------------------------------------------


def _chromatic_policy(hidden, num_colors, seed=0, obs_dim=17, act_dim=6):
  rng = np.random.default_rng(seed)
  shapes = families.layer_shapes((obs_dim, *hidden, act_dim))
  edges = sum(r * c for r, c in shapes)
  return policy_file.ExportedPolicy(
    family="chromatic",
    obs_dim=obs_dim,
    act_dim=act_dim,
    hidden=tuple(hidden),
    num_values=num_colors,
    obs_clip=5.0,
    env="test",
    obs_mean=rng.standard_normal(obs_dim).astype(np.float32),
    obs_std=rng.uniform(0.5, 2.0, obs_dim).astype(np.float32),
    values=(rng.standard_normal(num_colors) / np.sqrt(max(hidden, default=obs_dim))).astype(np.float32),
    biases=rng.standard_normal(sum(hidden)).astype(np.float32) * 0.1,
    structure=rng.integers(0, num_colors, edges).astype(np.int32),
  )


def test_policy_auto_is_dense_at_policy_sizes():
  exported = _chromatic_policy((41,), 17)
  policy = runtime.Policy(exported)
  assert policy.matvec == "auto" and policy.layer_paths == ("dense", "dense")
  assert runtime.Policy(exported, matvec="mailman").layer_paths == (mailman.backend(),) * 2


@pytest.mark.parametrize("num_colors", [2, 17])
def test_policy_paths_agree(monkeypatch, num_colors):
  exported = _chromatic_policy((64, 48), num_colors, seed=num_colors)
  obs = np.random.default_rng(1).normal(0.0, 2.0, (5, 17)).astype(np.float32)
  dense = runtime.Policy(exported, matvec="dense")
  assert dense.layer_paths == ("dense",) * 3
  expected = dense.act(obs)
  # Thresholds at zero: 'auto' takes the kernel for every chromatic layer (where numba is present).
  monkeypatch.setattr(runtime, "AUTO_MIN_ELEMENTS", ((1, 0),))
  auto = runtime.Policy(exported)
  assert auto.layer_paths == (("numba",) if HAVE_NUMBA else ("dense",)) * 3
  for policy in (auto, runtime.Policy(exported, matvec="mailman")):
    np.testing.assert_allclose(policy.act(obs), expected, atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(policy.act(obs[2]), expected[2], atol=1e-5, rtol=1e-5)
    for mine, ref in zip(policy.weight_matrices(), dense.weight_matrices()):
      np.testing.assert_array_equal(mine, ref)


def test_auto_thresholds(monkeypatch):
  if not HAVE_NUMBA:
    assert runtime.auto_path(8192, 8192, 2) == "dense"
    assert runtime.cpu_kind() == "none" and not runtime.auto_uses_kernel(8192, 8192, 17)
    return
  # The choice per CPU kind, given explicitly: the same on every machine.
  for cpu in ("avx2", "avx512", "none"):
    assert runtime.auto_path(41, 17, 17, cpu=cpu) == "dense"  # policy-sized layers stay dense
    assert runtime.auto_path(8192, 8192, 300, cpu=cpu) == "dense"  # b = 1 never wins
    assert runtime.auto_path(4096, 4096, 33, cpu=cpu) == "mailman"  # past the register kernels' 32
  # Without a register kernel: the mailman kernel's own thresholds.
  assert (
    runtime.auto_path(1024, 1024, 2, cpu="none") == "mailman" and runtime.auto_path(724, 724, 2, cpu="none") == "dense"
  )
  assert (
    runtime.auto_path(2048, 2048, 4, cpu="none") == "mailman"
    and runtime.auto_path(1448, 1448, 4, cpu="none") == "dense"
  )
  assert (
    runtime.auto_path(4096, 4096, 17, cpu="none") == "mailman"
    and runtime.auto_path(2048, 2048, 17, cpu="none") == "dense"
  )
  # AVX2: the AVX2 kernel for every K <= 32 once the layer is large enough, one or two inputs.
  for k in (1, 2, 4, 7, 8, 9, 16, 17, 32):
    assert runtime.auto_path(4096, 4096, k, cpu="avx2") == "avx2"
    assert runtime.auto_path(4096, 4096, k, batch=2, cpu="avx2") == "avx2"
  assert (
    runtime.auto_path(1536, 1536, 4, cpu="avx2") == "avx2" and runtime.auto_path(1024, 1024, 4, cpu="avx2") == "dense"
  )
  assert runtime.auto_path(2048, 2048, 17, cpu="avx2") == "dense"  # cached dense is faster there
  # AVX-512: the AVX2 kernel's packed colors for K <= 8, the byte-wide permute kernel above.
  assert runtime.auto_path(4096, 4096, 2, cpu="avx512") == "avx2"
  assert runtime.auto_path(4096, 4096, 8, cpu="avx512") == "avx2"
  assert runtime.auto_path(4096, 4096, 9, cpu="avx512") == "permute"
  assert (
    runtime.auto_path(2048, 2048, 17, cpu="avx512") == "permute"
    and runtime.auto_path(1448, 1448, 17, cpu="avx512") == "dense"
  )
  # Batches of 3 and more: the mailman batch kernel for K <= 17, the AVX2 kernel's batched form above.
  for cpu in ("avx2", "avx512"):
    assert runtime.auto_path(4096, 4096, 2, batch=8, cpu=cpu) == "mailman"
    assert runtime.auto_path(4096, 4096, 17, batch=8, cpu=cpu) == "mailman"
    assert runtime.auto_path(4096, 4096, 18, batch=8, cpu=cpu) == "avx2"
    assert runtime.auto_path(4096, 4096, 32, batch=3, cpu=cpu) == "avx2"
  with pytest.raises(ValueError, match="cpu must be"):
    runtime.auto_path(4096, 4096, 2, cpu="sse")
  # This machine's kind drives the default.
  assert runtime.auto_path(4096, 4096, 17) == runtime.auto_path(4096, 4096, 17, cpu=runtime.cpu_kind())
  monkeypatch.setenv("CHROMNAS_NO_AVX512", "1")  # an AVX-512 CPU treated as AVX2-only
  assert runtime.cpu_kind() in ("avx2", "none") and not permute.available()
  if runtime.cpu_kind() == "avx2":
    assert runtime.auto_path(4096, 4096, 17) == "avx2"
  assert runtime.auto_uses_kernel(4096, 4096, 17) and not runtime.auto_uses_kernel(41, 17, 17)
