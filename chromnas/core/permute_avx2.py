"""Chromatic matvec with the K values held in AVX2 registers: packed colors, register lookups, all cores.

    from chromnas.core import permute_avx2
    if permute_avx2.available():                         # numba, and a CPU with AVX2 + FMA
      plan = permute_avx2.prepare(colors, num_colors)    # colors (rows, cols), K <= 32
      y = permute_avx2.matvec(values, plan, x)           # y = x @ values[colors].T, x (cols,) or (B, cols)

Math.  `y[i] = sum_j values[c_ij] x_j`: the colors of 8 consecutive columns become their 8 float32
weights by lookups in registers that hold the K <= 32 values (no memory gather), and one fused
multiply-add adds `W[i, j:j+8] * x[j:j+8]` into an accumulator.  It is exact float32 arithmetic
(no approximation of the values), the sums only ordered differently from a dense product.  Two
lookup schemes (`default_scheme`: 'permute' for K <= 8, 'shuffle' above):

* 'permute': the values in `ceil(K / 8)` registers of 8 floats; `vpermps` turns 8 colors' low three
  bits into 8 weights from one register (for K <= 4 the in-lane `vpermilps`, which reads two bits
  and is faster on Zen 3; the table repeats within each 128-bit lane there), and for K > 8 one
  `vblendvps` per level picks between two registers by color bit 3 (K <= 16: two permutes, one
  blend) and then bit 4 (K <= 24: three permutes, two blends; K <= 32: four and three). Colors are
  bit-packed at `bits = ceil(log2 K)` (1 for K <= 2): a row is cut into tiles of 8 uint32 words (one
  register); word `l` of a tile holds `G = 32 // bits` colors, group `g` at bits `[g*bits,
  (g+1)*bits)` being the color of column `tile*8G + 8g + l`. So group `g` is 8 consecutive columns
  (`x` stays in natural order), its permute index is `words >> (g*bits)` (the permute reads only the
  low three bits, or two, so for bits < 3 the table is the values repeated with period `2^bits`,
  which makes the neighbouring groups' bits irrelevant), and the blend masks are `words << (28 -
  g*bits)` (color bit 3 into the sign bit `vblendvps` reads) and `words << (27 - g*bits)` (bit 4).
* 'shuffle': the values split into their 4 bytes, byte `p` of all 16 values of a half in one
  128-bit table (doubled across the register's lanes); `vpshufb` looks up 32 one-byte colors at
  once per byte plane (K > 16: a second table for colors 16..31, selected by color bit 4 stored in
  bit 7, where `vpshufb` returns zero, and an OR), and four `vpunpck{l,h}bw` plus four
  `vpunpck{l,h}wd` interleave the 4 planes into 4 x 8 float32 weights.  The byte order of a
  32-column tile is permuted at `prepare` so that the weights come out in column order.  Lane-
  crossing permutes are the bottleneck of the 'permute' scheme (about one per cycle), and in-lane
  byte shuffles issue at up to two per cycle on AMD Zen cores; on Intel cores both share one port
  and cost about the same.

Reads at 4096x4096: 2 MiB (K = 2), 4 MiB (K = 4), 6.5 MiB (K = 8), 16 MiB (K > 8, one byte per
color), against 64 MiB of float32, so one core's product beats a one-thread dense GEMV at every
K <= 32 (`experiments/bench_inference.py --isa=avx2 --numpy_threads=1 --kernel_threads=1` measures it).

Rows run in parallel on every core (`chromnas.core.row_threads`: chunks of rows claimed by the
caller and helper threads, robust to cores busy with other work).  Batches run in chunks of up to
8 inputs that share each decoded weight vector (one decode, then one FMA per input), so a batch of
8 reads the colors once.

The kernel is LLVM IR emitted through numba (`numba.extending.intrinsic`), as in
`chromnas.core.permute` (the AVX-512 kernel), with AVX2 intrinsics only
(`llvm.x86.avx2.permps`, `llvm.x86.avx.vpermilvar.ps.256`, `llvm.x86.avx.blendv.ps.256`,
`llvm.x86.avx2.pshuf.b`, `llvm.fma.v8f32`, and vector shuffles LLVM lowers to `vpunpck*`): it runs on every x86-64
CPU with AVX2 and FMA (Haswell, Zen 1 and later), and on AVX-512 CPUs too (forced there with
`chromnas.core.runtime.Policy(matvec='avx2')`, or `CHROMNAS_NO_AVX512=1` for the automatic choice).
numba compiles for the host CPU, so there LLVM may use AVX-512VL encodings (masked permutes for
the blends); `experiments/bench_inference.py --isa=avx2` compiles without AVX-512 to measure the
AVX2 code itself.  `available()` says whether numba and the CPU allow it.  This module imports
only NumPy (numba and llvmlite lazily).
"""

from __future__ import annotations

import dataclasses
import functools
import threading

import numpy as np

from chromnas.core import mailman, permute, row_threads

MAX_COLORS = 32  # four 8-float registers of values
LANES = 8  # float32 per 256-bit register: columns per permute
CHUNKS = (8, 4, 1)  # inputs per kernel call in a batch (zero inputs pad a chunk)


def color_bits(num_colors: int) -> int:
  """Bits per packed color: `ceil(log2 K)`, at least 1 (K = 1 and 2 both use one bit)."""
  return max(1, int(num_colors - 1).bit_length())


SCHEMES = ("permute", "shuffle")
SHUFFLE_TILE = 32  # columns per byte-shuffle step (one 256-bit register of one-byte colors)


def default_scheme(num_colors: int) -> str:
  """'permute' (bit-packed colors, one `vpermps` per 8 weights) for K <= 8, 'shuffle' (byte colors,
  `vpshufb` on byte planes) above, where it needs fewer lane-crossing permutes."""
  return "permute" if num_colors <= LANES else "shuffle"


@dataclasses.dataclass(frozen=True)
class Avx2Plan:
  """A coloring laid out for the AVX2 kernel, C-contiguous, columns padded with color 0 (against
  zero inputs) to a whole tile; see the module docstring for both layouts:

  * scheme 'permute': `codes (rows, tiles * 8)` uint32, `bits` per color, `32 // bits` colors per word;
  * scheme 'shuffle': `codes (rows, tiles * 32)` uint8, one byte per color (`bits = 8`)."""

  rows: int
  cols: int
  num_colors: int
  scheme: str
  bits: int
  codes: np.ndarray

  @property
  def groups(self) -> int:
    """Colors per uint32 word of the 'permute' scheme, `32 // bits`."""
    return 32 // self.bits

  @property
  def width(self) -> int:
    """Padded columns."""
    return self.codes.shape[1] * (self.groups if self.scheme == "permute" else 1)

  @property
  def nbytes(self) -> int:
    """Bytes a matvec reads besides `x`: the codes."""
    return int(self.codes.nbytes)

  def check_operands(self, values_shape: tuple[int, ...], x_shape: tuple[int, ...]) -> None:
    """Raises `ValueError` unless `values` is `(K,)` and `x` is `(..., cols)` (shapes only)."""
    mailman.check_operands(self.cols, self.num_colors, values_shape, x_shape)


def prepare(colors, num_colors: int, scheme: str | None = None) -> Avx2Plan:
  """The plan of a `(rows, cols)` coloring with entries in `[0, num_colors)`, `num_colors <= 32`;
  `scheme` defaults to `default_scheme(num_colors)`.

  'permute': `codes[i, 8t + l] = sum_g colors[i, 8G t + 8g + l] << (g * bits)`.
  'shuffle': `codes[i, 32t + 16h + 4r + m] = e(colors[i, 32t + 8r + 4h + m])`, `e(c) = (c & 15) |
  (c & 16) << 3` (color bit 4 moved to bit 7, which makes `vpshufb` return zero)."""
  colors, num_colors = permute.checked_coloring(colors, num_colors, MAX_COLORS, "the AVX2 kernel")
  scheme = default_scheme(num_colors) if scheme is None else scheme
  if scheme not in SCHEMES:
    raise ValueError(f"scheme must be one of {SCHEMES}, got {scheme!r}")
  rows, cols = colors.shape
  if scheme == "shuffle":
    tiles = max(1, -(-cols // SHUFFLE_TILE))
    padded = np.zeros((rows, tiles * SHUFFLE_TILE), np.uint8)
    padded[:, :cols] = colors
    padded = (padded & 15) | ((padded & 16) << 3)
    # Column 32t + 8r + 4h + m -> byte 32t + 16h + 4r + m: where the byte-plane unpacking of the
    # kernel puts the weight that multiplies x[32t + 8r + 4h + m].
    codes = padded.reshape(rows, tiles, 4, 2, 4).transpose(0, 1, 3, 2, 4).reshape(rows, -1)
    return Avx2Plan(rows, cols, num_colors, scheme, 8, np.ascontiguousarray(codes))
  bits = color_bits(num_colors)
  groups = 32 // bits
  tile = LANES * groups
  tiles = max(1, -(-cols // tile))
  padded = np.zeros((rows, tiles * tile), np.uint32)
  padded[:, :cols] = colors
  # (rows, tile, group, lane) -> words (rows, tile, lane): the groups' bits side by side.
  digits = padded.reshape(rows, tiles, groups, LANES)
  shifts = (np.arange(groups, dtype=np.uint32) * np.uint32(bits))[None, None, :, None]
  words = np.bitwise_or.reduce(digits << shifts, axis=2).astype(np.uint32)
  return Avx2Plan(rows, cols, num_colors, scheme, bits, np.ascontiguousarray(words.reshape(rows, tiles * LANES)))


def value_table(values: np.ndarray, num_colors: int) -> np.ndarray:
  """The `(32,)` float32 register table of the 'permute' scheme: `values` repeated with period
  `2^bits` for bits < 3 (the permute then ignores the neighbouring colors' bits), zeros past K
  otherwise."""
  bits = color_bits(num_colors)
  table = np.zeros(MAX_COLORS, np.float32)
  if bits < 3:
    period = 1 << bits
    one = np.zeros(period, np.float32)
    one[:num_colors] = values
    table[:LANES] = np.tile(one, LANES // period)
  else:
    table[:num_colors] = values
  return table


def byte_planes(values: np.ndarray) -> np.ndarray:
  """The `(8, 32)` uint8 tables of the 'shuffle' scheme: row `4h + p` holds byte `p` of
  `values[16h:16h + 16]` (zeros past K), twice (one copy per 128-bit lane, as `vpshufb` looks up
  within a lane)."""
  table = np.zeros(MAX_COLORS, np.float32)
  table[: len(values)] = values
  planes = table.view(np.uint8).reshape(2, 16, 4).transpose(0, 2, 1)  # (half, byte, color)
  return np.ascontiguousarray(np.tile(planes, (1, 1, 2)).reshape(8, 32))


_lock = threading.Lock()
_state: dict = {}  # 'cpu': whether the CPU has AVX2 + FMA (probed once); (scheme, bits, regs, nb): kernels


def available() -> bool:
  """Whether the AVX2 kernel can run here: numba importable and enabled (`CHROMNAS_NO_NUMBA`
  unset) and a CPU with AVX2 and FMA (checked before anything is compiled: LLVM aborts, rather
  than raises, on an instruction the CPU lacks)."""
  if "cpu" not in _state:
    _state["cpu"] = mailman.numba_cpu_has("avx2", "fma")
  return mailman.backend() == "numba" and _state["cpu"]


def registers(num_colors: int) -> int:
  """Value registers of the kernel for K colors: one for K <= 8 (bits <= 3), two for K <= 16,
  three for K <= 24 (colors 16..23 need no blend by bit 3), four for K <= 32."""
  return 1 if num_colors <= 8 else -(-num_colors // LANES)


def _accumulate(builder, fma, w, x_rows, col, accs, slot: int) -> None:
  """Emits `accs[b][slot] += w * x_b[col : col + 8]` (one FMA) for every input `b`: the inner step
  shared by both AVX2 kernels, once their 8 weights `w` are decoded."""
  for b, x_row in enumerate(x_rows):
    xv = builder.load(builder.bitcast(builder.gep(x_row, [col]), w.type.as_pointer()), align=4)
    acc = accs[b][slot]
    builder.store(builder.call(fma, [w, xv, builder.load(acc)]), acc)


def _row_kernel(nb: int, per_input: int, emit_row):
  """An intrinsic `row(table, codes, i, xs, ys)` that stores `ys[b, i] = sum_j W[i, j] xs[b, j]` for
  the `nb` inputs `b`: the frame both AVX2 kernels share.  `emit_row(builder, table, row_codes,
  width, accumulate)` emits the loop over row `i`'s codes (`row_codes` points at the first of its
  `width`, `table` at the table's data) that decodes 8 weights `w` at a time and calls
  `accumulate(w, col, slot)` for them (see `_accumulate`; `slot < per_input`).  Each input's
  `per_input` accumulators are then summed in a fixed order (`permute.horizontal_sum`)."""
  from llvmlite import ir  # pylint: disable=g-import-not-at-top
  from numba import types  # pylint: disable=g-import-not-at-top
  from numba.core import cgutils  # pylint: disable=g-import-not-at-top
  from numba.extending import intrinsic  # pylint: disable=g-import-not-at-top

  vf = ir.VectorType(ir.FloatType(), LANES)

  def codegen(context, builder, signature, args):
    tab_t, codes_t, _, xs_t, ys_t = signature.args
    table = context.make_array(tab_t)(context, builder, args[0])
    codes = context.make_array(codes_t)(context, builder, args[1])
    xs = context.make_array(xs_t)(context, builder, args[3])
    ys = context.make_array(ys_t)(context, builder, args[4])
    row = args[2]
    width = builder.extract_value(codes.shape, 1)
    xwidth = builder.extract_value(xs.shape, 1)
    yrows = builder.extract_value(ys.shape, 1)
    i64 = width.type
    fma = cgutils.get_or_insert_function(builder.module, ir.FunctionType(vf, [vf, vf, vf]), "llvm.fma.v8f32")
    row_codes = builder.gep(codes.data, [builder.mul(row, width)])
    x_rows = [builder.gep(xs.data, [builder.mul(ir.Constant(i64, b), xwidth)]) for b in range(nb)]
    zero = ir.Constant(vf, [0.0] * LANES)
    accs = [[cgutils.alloca_once_value(builder, zero) for _ in range(per_input)] for _ in range(nb)]
    emit_row(
      builder, table.data, row_codes, width, lambda w, col, slot: _accumulate(builder, fma, w, x_rows, col, accs, slot)
    )
    for b, input_accs in enumerate(accs):
      where = builder.add(builder.mul(ir.Constant(i64, b), yrows), row)
      builder.store(permute.horizontal_sum(builder, input_accs), builder.gep(ys.data, [where]))
    return context.get_dummy_value()

  def typer(typingctx, table, codes, row, xs, ys):
    return types.none(table, codes, types.int64, xs, ys), codegen

  return intrinsic(typer)


def _row_intrinsic(bits: int, regs: int, nb: int):
  """An intrinsic `row(table, words, i, xs, ys)` that stores `ys[b, i] = sum_j W[i, j] xs[b, j]`
  for the `nb` inputs `b`, decoding 8 weights per group once for all of them."""
  from llvmlite import ir  # pylint: disable=g-import-not-at-top
  from numba.core import cgutils  # pylint: disable=g-import-not-at-top

  f32, i32 = ir.FloatType(), ir.IntType(32)
  vf, vi = ir.VectorType(f32, LANES), ir.VectorType(i32, LANES)
  groups = 32 // bits
  # Independent accumulators per input: enough FMAs in flight to cover their latency (one input:
  # 8 with few table registers, 4 where the four tables and blend temporaries need the registers).
  per_input = max(1, (8 if regs <= 2 else 4) // nb)

  def splat(value):
    return ir.Constant(vi, [value] * LANES)

  def sign_mask(builder, packed, bit):
    """`packed << bit` as the float mask of `vblendvps`, behind an empty inline-asm barrier: LLVM
    would otherwise rewrite the sign test of a shift as an and + compare (two ops for one)."""
    shifted = builder.shl(packed, splat(bit))
    opaque = builder.asm(ir.FunctionType(vi, [vi]), "", "=x,0", [shifted], False)
    return builder.bitcast(opaque, vf)

  def emit_row(builder, table, row_codes, width, accumulate):
    i64 = width.type  # `width`: uint32 words per row
    mod = builder.module
    # K <= 4: the table repeats with period 2^bits <= 4, so each 128-bit lane holds all the values
    # and the in-lane `vpermilps` (low two index bits) picks the same weights as `vpermps`, at
    # about two thirds of the time on Zen 3, where the lane-crossing permute is the slow op (a
    # Zen 4 and Intel cores run both at one per cycle).
    name = "llvm.x86.avx.vpermilvar.ps.256" if bits <= 2 else "llvm.x86.avx2.permps"
    permps = cgutils.get_or_insert_function(mod, ir.FunctionType(vf, [vf, vi]), name)
    blend = cgutils.get_or_insert_function(mod, ir.FunctionType(vf, [vf, vf, vf]), "llvm.x86.avx.blendv.ps.256")
    tab_ptr = builder.bitcast(table, vf.as_pointer())
    tabs = [builder.load(builder.gep(tab_ptr, [ir.Constant(i32, r)]), align=4) for r in range(regs)]
    row_words = builder.bitcast(row_codes, vi.as_pointer())
    with cgutils.for_range(builder, builder.sdiv(width, ir.Constant(i64, LANES))) as loop:
      packed = builder.load(builder.gep(row_words, [loop.index]), align=4)
      base = builder.mul(loop.index, ir.Constant(i64, LANES * groups))
      for g in range(groups):
        index = builder.lshr(packed, splat(g * bits)) if g else packed
        picked = [builder.call(permps, [t, index]) for t in tabs]
        if regs >= 2:  # color bit 3 into the sign bit: the odd register of a pair where it is set
          bit3 = sign_mask(builder, packed, 28 - g * bits)
          picked = [
            builder.call(blend, [picked[r], picked[r + 1], bit3]) if r + 1 < regs else picked[r]
            for r in range(0, regs, 2)
          ]
        if regs >= 3:  # then color bit 4: the upper pair (or the third register alone)
          bit4 = sign_mask(builder, packed, 27 - g * bits)
          picked = [builder.call(blend, [picked[0], picked[1], bit4])]
        accumulate(picked[0], builder.add(base, ir.Constant(i64, LANES * g)), g % per_input)

  return _row_kernel(nb, per_input, emit_row)


def shuffle_high(num_colors: int) -> int:
  """How the 'shuffle' scheme looks up colors 16..31: 0 (K <= 16: none), 1 (K = 17: the one color
  16, by a byte blend from a broadcast table, no second lookup), 2 (K >= 18: a second `vpshufb`)."""
  return 0 if num_colors <= 16 else (1 if num_colors == 17 else 2)


def _shuffle_intrinsic(high: int, nb: int):
  """An intrinsic `row(planes, codes, i, xs, ys)` that stores `ys[b, i] = sum_j W[i, j] xs[b, j]` for
  the `nb` inputs `b`, 32 weights per step: one `vpshufb` per byte plane, plus for colors 16..31
  (`high`, see `shuffle_high`) a second one and an OR (the upper table answers where the lower
  returns zero), or for K = 17 one `vpblendvb` from color 16's broadcast bytes; then two levels of
  byte / word unpacking assemble the four planes into 4 x 8 float32 weights."""
  from llvmlite import ir  # pylint: disable=g-import-not-at-top
  from numba.core import cgutils  # pylint: disable=g-import-not-at-top

  i8, i16, i32, f32 = ir.IntType(8), ir.IntType(16), ir.IntType(32), ir.FloatType()
  vb, vw, vf = ir.VectorType(i8, 32), ir.VectorType(i16, 16), ir.VectorType(f32, LANES)
  per_input = max(1, 4 // nb)

  def unpack(builder, a, b, high):
    """`vpunpck{l,h}{bw,wd}`: per 128-bit lane, the low (or high) halves of `a` and `b` interleaved."""
    n = a.type.count
    half = n // 2
    mask = []
    for lane in range(2):
      for k in range(half // 2):
        src = lane * half + k + (half // 2 if high else 0)
        mask += [src, n + src]
    return builder.shuffle_vector(a, b, ir.Constant(ir.VectorType(i32, n), mask))

  def emit_row(builder, planes_data, row_codes, width, accumulate):
    i64 = width.type
    pshufb = cgutils.get_or_insert_function(builder.module, ir.FunctionType(vb, [vb, vb]), "llvm.x86.avx2.pshuf.b")
    blendb = cgutils.get_or_insert_function(builder.module, ir.FunctionType(vb, [vb, vb, vb]), "llvm.x86.avx2.pblendvb")
    tab_ptr = builder.bitcast(planes_data, vb.as_pointer())
    tabs = [builder.load(builder.gep(tab_ptr, [ir.Constant(i32, r)]), align=1) for r in range(8 if high else 4)]
    flip = ir.Constant(vb, [-128] * 32)  # bit 7: the other half's colors
    with cgutils.for_range(builder, builder.sdiv(width, ir.Constant(i64, SHUFFLE_TILE))) as loop:
      base = builder.mul(loop.index, ir.Constant(i64, SHUFFLE_TILE))
      index = builder.load(builder.bitcast(builder.gep(row_codes, [base]), vb.as_pointer()), align=1)
      planes = [builder.call(pshufb, [tabs[p], index]) for p in range(4)]
      if high == 2:
        upper = builder.xor(index, flip)
        planes = [builder.or_(planes[p], builder.call(pshufb, [tabs[4 + p], upper])) for p in range(4)]
      elif high == 1:  # bit 7 of the index byte (color 16) picks the broadcast byte
        planes = [builder.call(blendb, [planes[p], tabs[4 + p], index]) for p in range(4)]
      low01, high01 = unpack(builder, planes[0], planes[1], False), unpack(builder, planes[0], planes[1], True)
      low23, high23 = unpack(builder, planes[2], planes[3], False), unpack(builder, planes[2], planes[3], True)
      low01, high01, low23, high23 = (builder.bitcast(v, vw) for v in (low01, high01, low23, high23))
      weights = [
        unpack(builder, low01, low23, False),
        unpack(builder, low01, low23, True),
        unpack(builder, high01, high23, False),
        unpack(builder, high01, high23, True),
      ]
      for r, w in enumerate(weights):  # weights r: columns base + 8r .. base + 8r + 7
        accumulate(builder.bitcast(w, vf), builder.add(base, ir.Constant(i64, LANES * r)), r % per_input)

  return _row_kernel(nb, per_input, emit_row)


def _kernel(scheme: str, bits: int, regs: int, nb: int):
  """The compiled `kernel(table, codes (rows, ...), xs (nb, padded cols), ys (nb, rows), lo, hi)` for
  rows `[lo, hi)`: `table` the `(32,)` float32 values ('permute': `bits` per color, `regs` value
  registers) or the `(8, 32)` uint8 byte planes ('shuffle': `regs` = `shuffle_high(K)`), `nb`
  inputs (compiled once per process; `chromnas.core.row_threads` runs it on all cores)."""
  key = (scheme, bits, regs, nb)
  fn = _state.get(key)
  if fn is not None:
    return fn
  with _lock:
    if key in _state:
      return _state[key]
    import numba  # pylint: disable=g-import-not-at-top

    row = _row_intrinsic(bits, regs, nb) if scheme == "permute" else _shuffle_intrinsic(regs, nb)

    def kernel(table, codes, xs, ys, lo, hi):
      for i in range(lo, hi):
        row(table, codes, i, xs, ys)

    array = numba.types.Array
    table_t: numba.types.Array  # element types and ranks differ between the two schemes
    codes_t: numba.types.Array
    if scheme == "permute":
      table_t, codes_t = array(numba.float32, 1, "C", readonly=True), array(numba.uint32, 2, "C", readonly=True)
    else:
      table_t, codes_t = array(numba.uint8, 2, "C", readonly=True), array(numba.uint8, 2, "C", readonly=True)
    sig = (table_t, codes_t, array(numba.float32, 2, "C"), array(numba.float32, 2, "C"), numba.int64, numba.int64)
    fn = numba.njit([sig], boundscheck=False, nogil=True)(kernel)
    _state[key] = fn
    return fn


@functools.lru_cache(maxsize=64)
def _tables(values_bytes: bytes, num_colors: int, scheme: str) -> tuple[np.ndarray, int]:
  """The kernel's read-only register table and register count for these values (cached: a policy
  multiplies by the same values at every step, and building the table costs ~4 us)."""
  values = np.frombuffer(values_bytes, np.float32)
  if scheme == "permute":
    table, regs = value_table(values, num_colors), registers(num_colors)
  else:
    table, regs = byte_planes(values), shuffle_high(num_colors)
    if regs == 1:
      table[4:] = table[4:, :1]  # color 16's bytes broadcast, for the byte blend
  table.setflags(write=False)
  return table, regs


def matvec(values, plan: Avx2Plan, x) -> np.ndarray:
  """`y = x @ values[colors].T`: `values (K,)`, `x (cols,)` or `(..., cols)` -> `y (..., rows)`, float32."""
  if not available():
    raise RuntimeError("the AVX2 kernel needs numba and a CPU with AVX2 and FMA (see permute_avx2.available())")
  values, x2, lead = mailman.matvec_operands(values, plan, x)
  batch = x2.shape[0]
  if batch == 0 or plan.rows == 0:
    return np.zeros((*lead, plan.rows), np.float32)
  table, regs = _tables(values.tobytes(), plan.num_colors, plan.scheme)
  ys = np.empty((batch, plan.rows), np.float32)
  start = 0
  while start < batch:
    left = batch - start
    # The smallest chunk that takes the rest at once, else the largest: a chunk of 8 decodes each
    # weight once for 8 inputs; zero inputs pad the last chunk (cheaper than another pass).
    nb = next((c for c in reversed(CHUNKS) if c >= left), CHUNKS[0])
    take = min(nb, left)
    xs = np.zeros((nb, plan.width), np.float32)
    xs[:take, : plan.cols] = x2[start : start + take]
    out = ys[start : start + take] if take == nb else np.empty((nb, plan.rows), np.float32)
    kernel = _kernel(plan.scheme, plan.bits, regs, nb)
    row_threads.run(kernel, plan.rows, table, plan.codes, xs, out)
    if take != nb:
      ys[start : start + take] = out[:take]
    start += take
  return ys.reshape(*lead, plan.rows)
