"""Mailman matvec for chromatic matrices in JAX: `O(rows * cols / log_K rows)` adds and lookups.

For `W[i, j] = values[colors[i, j]]` with `K` distinct values (the poster's fast-inference
claim, after Liberty and Zucker's mailman algorithm):

1. cut the columns into blocks of `b ~ log_K(rows)` columns (the last block may be ragged; it
   is padded with color 0 against zero inputs, which adds exactly nothing);
2. in each block the colors of row `i` form one of `K^b` patterns,
   `p(i, blk) = sum_j colors[i, blk*b + j] * K^j`, precomputed once per coloring (`prepare`);
3. per input `x`, for every block the table of all pattern sums
   `T[blk, p] = sum_j values[p_j] * x[blk*b + j]` is built recursively,
   `T_{j+1}[c*K^j + p] = T_j[p] + values[c] * x[blk*b + j]` (about `K/(K-1)` adds per entry);
4. `y[i] = sum_blk T[blk, p(i, blk)]`: one lookup per row and block.

Cost: `cols/b * (K^b K/(K-1) + rows)`, i.e. `O(rows*cols / log_K rows)` when `K^b ~ rows`, against
`rows*cols` multiply-adds for the dense product.  Whether that wins in wall time depends on the
hardware (a dense GEMV streams memory at full bandwidth, lookups are gathers): see
`experiments/bench_inference.py`.

How XLA (CPU) runs it: the blocks go through a `lax.scan` whose carry holds the current block's
table, so the table is a real buffer and the lookups are one gather from it.  (Without that,
XLA fuses the whole recursion into the gather and re-derives every looked-up entry from its
`b` digits.)  Inside a step XLA compiles the `b`-step recursion into a single loop over the
`K^b` entries, evaluating each from its digits (`b` adds, vectorised) rather than reusing the
previous level, so table building costs `b K^b` adds per block in practice; at `K^b ~ rows` that
is `rows * cols` cheap SIMD adds over a table in cache, and the lookups dominate.

The plan is `chromnas.core.mailman.MailmanPlan`, the one plan of the NumPy, numba and JAX kernels
(pattern computation and checks live there); this module picks its block width and registers it
as a pytree whose ints are static.  `prepare` works on concrete or traced colorings (shapes,
`num_colors` and `block` are static); `mailman_matvec` is `jit`- and `vmap`-safe.

Speed on XLA:CPU (issue 14; 2-core machine under load, 4096x4096, one vector, `jnp.dot` 2.5-4.0
ms with XLA's default threads): no pure-XLA formulation found beats `jnp.dot`, because XLA's
CPU gather costs ~2.5 ns per element (the numba kernel's L1 lookup ~0.3 ns) and XLA does not
fuse an unpacking of packed colors into its dot.  Measured (ms, K = 2 / 4 / 17):
this scan, b ~ log_K rows: 3.8 / 3.7 / 6.5; all tables at once (one-byte patterns) + one
flat gather + sum over blocks (`promise_in_bounds`, with or without an optimization barrier on
the tables): 5.4 / 10.5 / 64; scan over groups of 4-64 blocks: 8.5 / 13 / 34; K = 2 as
bits, unpack fused into a reduce: 68, or unpacked to bf16 + dot: 52.  What does beat it from
JAX is calling the compiled NumPy-side kernel, `host_matvec` (a `jax.pure_callback` into
`chromnas.core.mailman`), for small K on large layers; its fixed cost per call makes it lose on
small layers, and it has no gradient.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from chromnas.core import mailman as host_mailman
from chromnas.core import permute, permute_avx2

MAX_BLOCK = 16  # caps the unrolled table recursion (and K^b for K = 1, 2)
MAX_TABLE = 1 << 20  # caps K^b, the table size per block


def block_size(rows: int, cols: int, num_colors: int) -> int:
  """Default block width `b` of the JAX kernel: the largest `b` with `K^b <= rows` (`b ~ log_K
  rows`, the poster's `O(mn / log max(m, n))`), at least 1, at most `cols` and `MAX_BLOCK`, with
  `K^b <= MAX_TABLE`.  For `K = 1` (a single pattern) `b` is `min(cols, MAX_BLOCK)`."""
  return host_mailman.widest_block(num_colors, min(max(rows, 1), MAX_TABLE), min(cols, MAX_BLOCK))


# The plan is `chromnas.core.mailman.MailmanPlan` (NumPy side, no JAX): registered here as a
# pytree, its index an array leaf and its sizes static, so jitted and vmapped kernels take it.
jax.tree_util.register_dataclass(
  host_mailman.MailmanPlan, data_fields=["index"], meta_fields=["rows", "cols", "num_colors", "block"]
)


def prepare(colors, num_colors: int, block: int | None = None) -> host_mailman.MailmanPlan:
  """The `chromnas.core.mailman` plan of a `(rows, cols)` coloring with values in `[0, num_colors)`
  for this kernel, its index a JAX array: `block` defaults to `block_size` (`b ~ log_K rows`),
  tables hold up to `MAX_TABLE` entries.  A concrete coloring is checked (range) and planned by
  NumPy; a traced one (inside `jit` / `vmap`, `num_colors` and `block` static) by `jax.numpy`.
  """
  if block is None and jnp.ndim(colors) == 2:  # (other shapes: core.mailman names the problem)
    rows, cols = jnp.shape(colors)
    block = block_size(rows, cols, num_colors)
  xp = jnp if isinstance(colors, jax.core.Tracer) else np
  plan = host_mailman.prepare(colors, num_colors, block, max_table=MAX_TABLE, xp=xp)
  return dataclasses.replace(plan, index=jnp.asarray(plan.index))  # on the device once, not per call


def block_table(deltas: jax.Array, x_block: jax.Array) -> jax.Array:
  """`(..., K^b)` pattern sums of one block, `T[..., p] = sum_j deltas[p_j] x_block[..., j]`,
  built recursively: `T_{j+1}[c K^j + p] = T_j[p] + deltas[c] x_block[..., j]`."""
  table = deltas * x_block[..., 0, None]
  for j in range(1, x_block.shape[-1]):
    table = (table[..., None, :] + deltas[:, None] * x_block[..., j, None, None]).reshape(*x_block.shape[:-1], -1)
  return table


def mailman_matvec(values: jax.Array, plan: host_mailman.MailmanPlan, x: jax.Array) -> jax.Array:
  """`x @ values[colors].T` for `values (K,)`, `x (cols,)` or `(..., cols)`; returns `(..., rows)`.

  Uses `values[c] = values[0] + deltas[c]` with `deltas[0] = 0`, so that
  `y = values[0] * sum(x) + sum_blk T_blk[p(i, blk)]` with tables of `deltas`: the `c = 0` half
  of every recursion step is free.  The blocks run in a `lax.scan` that builds the next block's
  table while looking up the current one: the table then lives in the loop carry, a real
  buffer, so the lookups read it instead of XLA fusing the recursion into the gather (which it
  does otherwise on CPU, re-evaluating `b` terms per lookup).
  """
  x = jnp.asarray(x)
  if not jnp.issubdtype(x.dtype, jnp.floating):
    x = x.astype(jnp.float32)
  plan.check_operands(jnp.shape(values), x.shape)
  batch, block, num_blocks = x.shape[:-1], plan.block, plan.num_blocks
  values = jnp.asarray(values).astype(x.dtype)
  deltas = values - values[0]
  # One extra all-zero block so that the last iteration has a (discarded) next table to build.
  padded = jnp.pad(x, [(0, 0)] * len(batch) + [(0, (num_blocks + 1) * block - plan.cols)])
  blocks = jnp.moveaxis(padded.reshape(*batch, num_blocks + 1, block), -2, 0)  # (nb+1, ..., b)

  def step(carry, inputs):
    y, table = carry
    next_block, index = inputs
    y = y + table.at[..., index.astype(jnp.int32)].get(mode="promise_in_bounds")
    return (y, block_table(deltas, next_block)), None

  init = (jnp.zeros((*batch, plan.rows), x.dtype), block_table(deltas, blocks[0]))
  index = plan.index[:num_blocks, : plan.rows]  # without the plan's padding (pattern 0)
  (y, _), _ = jax.lax.scan(step, init, (blocks[1:], index))
  return y + values[0] * jnp.sum(x, axis=-1, keepdims=True)


def host_matvec(values: jax.Array, plan, x: jax.Array) -> jax.Array:
  """`x @ values[colors].T` by the NumPy runtime's CPU kernels on the host, from JAX.

  `values (K,)`, `x (cols,)` or `(..., cols)` -> `(..., rows)` float32, for a plan from
  `chromnas.core.mailman.prepare(colors, K)` (numba if installed), `chromnas.core.permute.prepare`
  (AVX-512) or `chromnas.core.permute_avx2.prepare` (AVX2; `chromnas.core.runtime.auto_path` says
  which is fastest for a shape, K and CPU); static:
  close over it.  A `jax.pure_callback`: works under
  `jit` and `vmap` (inputs batched together become one batched kernel call), has no gradient,
  and runs on the host CPU (on an accelerator every call would copy `x` and `y` across).
  """
  x = jnp.asarray(x, jnp.float32)
  values = jnp.asarray(values, jnp.float32)
  plan.check_operands(values.shape, x.shape)
  kernels: dict[type, Callable[..., np.ndarray]] = {
    permute.PermutePlan: permute.matvec,
    permute_avx2.Avx2Plan: permute_avx2.matvec,
  }
  kernel = kernels.get(type(plan), host_mailman.matvec)

  def callback(v, xs):
    # Under vmap both carry the vmapped axes first (size 1 where not batched); x also has its
    # own leading axes, which values lack: give values size-1 axes there.
    v, xs = np.asarray(v), np.asarray(xs)
    v = v.reshape(v.shape[:-1] + (1,) * (xs.ndim - v.ndim) + v.shape[-1:])
    lead = np.broadcast_shapes(v.shape[:-1], xs.shape[:-1])
    if v.ndim == 1 or v.size == plan.num_colors:  # one set of values: one (batched) kernel call
      return kernel(v.reshape(-1), plan, np.broadcast_to(xs, (*lead, plan.cols)))
    vs = np.broadcast_to(v, (*lead, plan.num_colors)).reshape(-1, plan.num_colors)
    xs = np.broadcast_to(xs, (*lead, plan.cols)).reshape(-1, plan.cols)
    out = np.stack([kernel(vi, plan, xi) for vi, xi in zip(vs, xs)])
    return out.reshape(*lead, plan.rows)

  shape = jax.ShapeDtypeStruct((*x.shape[:-1], plan.rows), jnp.float32)
  # 'expand_dims': under vmap, unbatched operands get a size-1 axis and the callback broadcasts.
  return jax.pure_callback(callback, shape, values, x, vmap_method="expand_dims")
