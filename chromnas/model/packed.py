"""Chromatic matvec from bit-packed colors, for accelerators: reads `rows * cols * bits / 8` bytes.

`W[i, j] = values[colors[i, j]]` with `K` colors needs `bits = ceil(log2 K)` bits per weight
(rounded up to 1, 2, 4 or 8 so that a 32-bit word holds a whole number of colors).  `pack` stores
the colors of each row in `uint32` words; `packed_matvec` unpacks them with shifts and masks,
looks each color up in the `K` values, and multiplies by `x` inside one XLA reduction fusion, so
`W` is never written out: on a GPU the product streams the packed words once, `32 / bits` times
fewer bytes than the float32 matrix a dense GEMV reads.  (On XLA:CPU the same fusion runs
element by element, far slower than BLAS; the CPU path is `chromnas.model.mailman.host_matvec`.)

The padding of the last word holds color 0 against zero inputs, so it adds exactly nothing.
"""

from __future__ import annotations

import dataclasses
from typing import cast

import jax
import jax.numpy as jnp
import numpy as np

WORD_BITS = 32


def color_bits(num_colors: int) -> int:
  """Bits per packed color: the smallest of 1, 2, 4, 8 with `2**bits >= num_colors`."""
  if not 1 <= num_colors <= 256:
    raise ValueError(f"packed colors hold 1 to 256 colors, got num_colors={num_colors}")
  return next(b for b in (1, 2, 4, 8) if (1 << b) >= num_colors)


@dataclasses.dataclass(frozen=True)
class PackedColors:
  """A `(rows, cols)` coloring packed `32 // bits` colors per `uint32` word: `words (rows, words_per_row)`.

  Color `j` of row `i` sits in word `j // per_word` at bit `bits * (j % per_word)`.
  """

  words: jax.Array
  rows: int
  cols: int
  num_colors: int
  bits: int

  @property
  def per_word(self) -> int:
    return WORD_BITS // self.bits

  @property
  def nbytes(self) -> int:
    return int(np.prod(self.words.shape)) * 4


jax.tree_util.register_dataclass(
  PackedColors, data_fields=["words"], meta_fields=["rows", "cols", "num_colors", "bits"]
)


def pack(colors, num_colors: int) -> PackedColors:
  """Packs integer `colors (rows, cols)` in `[0, num_colors)` into `uint32` words (NumPy, once per coloring)."""
  colors = np.asarray(colors)
  if colors.ndim != 2:
    raise ValueError(f"colors must be a (rows, cols) matrix, got shape {colors.shape}")
  bits = color_bits(num_colors)
  if colors.size and (colors.min() < 0 or colors.max() >= num_colors):
    raise ValueError(f"colors must lie in [0, {num_colors}), got [{colors.min()}, {colors.max()}]")
  rows, cols = colors.shape
  per_word = WORD_BITS // bits
  num_words = -(-cols // per_word)
  padded = np.zeros((rows, num_words * per_word), np.uint32)
  padded[:, :cols] = colors
  shifts = np.arange(per_word, dtype=np.uint32) * bits
  words = np.bitwise_or.reduce(padded.reshape(rows, num_words, per_word) << shifts, axis=-1)
  return PackedColors(jnp.asarray(words.astype(np.uint32)), rows, cols, num_colors, bits)


def unpack(packed: PackedColors) -> jax.Array:
  """The `(rows, words * per_word)` int32 colors, padding included (color 0)."""
  shifts = jnp.arange(packed.per_word, dtype=jnp.uint32) * packed.bits
  mask = jnp.uint32((1 << packed.bits) - 1)
  codes = (packed.words[:, :, None] >> shifts) & mask
  return codes.reshape(packed.rows, -1).astype(jnp.int32)


LOOKUPS = ("gather", "select")


def packed_matvec(values: jax.Array, packed: PackedColors, x: jax.Array, lookup: str = "gather") -> jax.Array:
  """`x @ values[colors].T` from packed colors: `values (K,)`, `x (cols,)` or `(..., cols)` -> `(..., rows)`.

  `y[..., i] = sum_j values[c_ij] x[..., j]` as one fused multiply-reduce over the unpacked
  colors (no `W` in memory).  `lookup` says how a color becomes its value: 'gather'
  (`values[c]`) or 'select' (`sum_k [c = k] values[k]`, K compares and no gather, for compilers
  whose fused gathers are slow).  jit-, vmap- and grad-safe (gradients flow to `values` and `x`).
  """
  if lookup not in LOOKUPS:
    raise ValueError(f"lookup must be one of {LOOKUPS}, got {lookup!r}")
  x = jnp.asarray(x)
  if not jnp.issubdtype(x.dtype, jnp.floating):
    x = x.astype(jnp.float32)
  values = jnp.asarray(values).astype(x.dtype)
  if values.shape != (packed.num_colors,):
    raise ValueError(f"values must have shape ({packed.num_colors},), got {values.shape}")
  if x.shape[-1] != packed.cols:
    raise ValueError(f"x has {x.shape[-1]} columns, the packed matrix {packed.cols}")
  width = packed.words.shape[1] * packed.per_word
  x = jnp.pad(x, [(0, 0)] * (x.ndim - 1) + [(0, width - packed.cols)])
  codes = unpack(packed)
  if lookup == "gather":
    w = values[codes]  # (rows, width): fused into the reduction, never stored
  else:
    # A sum of at least one (K >= 1) array is an array, not the start value 0.
    w = cast(
      jax.Array, sum(jnp.where(codes == k, values[k], jnp.zeros((), values.dtype)) for k in range(packed.num_colors))
    )
  return jnp.sum(w * x[..., None, :], axis=-1)
