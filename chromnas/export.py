"""A compact, versioned binary format for deployed policies (writer and reader, NumPy only).

This module imports nothing but the standard library and NumPy, so the NumPy runtime
(`chromnas.runtime`) shares its reader; `write_policy` / `dumps` accept a
`chromnas.bundle.PolicyBundle` (duck-typed: `spec`, `params`, `structure`, `obs_mean`,
`obs_std`, `obs_clip`, `env`) without importing it.  No pickle anywhere.

Format, version 1.  All integers are unsigned little-endian, all floats IEEE little-endian.

    offset  size        field
    ------  ----        -----
    0       8           magic  b"CHROMNAS"
    8       2           uint16 format version (1)
    10      4           uint32 total file length in bytes, checksum included
    14      1           uint8  family code: 0 unstructured, 1 toeplitz, 2 circulant, 3 masked, 4 chromatic
    15      1           uint8  number of hidden layers L
    16      4           uint32 obs_dim
    20      4           uint32 act_dim
    24      4*L         uint32 hidden sizes, input side first
    .       4           uint32 num_values: K (chromatic), kept edges (masked), the family's
                               weight-value count summed over layers (others; checked on read)
    .       8           float64 obs_clip
    .       2           uint16 E, length of the environment name
    .       E           environment name, UTF-8
    -- normaliser ---------------------------------------------------------------------------
    .       4*obs_dim   float32 obs_mean
    .       4*obs_dim   float32 obs_std      (the policy sees clip((obs - mean) / std, -clip, clip))
    -- payload: exactly ceil(partitions.spec_footprint(spec, kept).bits / 8) bytes ----------
    .       4*num_values float32 weight values: the K shared values (chromatic), the kept edges'
                               values in edge order (masked), or the family's values layer by layer
                               in `chromnas.policies` order (unstructured / toeplitz / circulant)
    .       4*sum(L)    float32 hidden biases, layer by layer
    .       ceil(E*B/8) the structure bit-packed, B bits per edge (E = edges, all layers, row-major
                               in a layer), least significant bit first, zero padding bits:
                               chromatic: the color, B = ceil(log2 K) (0 bits when K = 1);
                               masked: a slot index, B = ceil(log2 kept) (see below);
                               other families: nothing (B = 0)
    -- trailer ------------------------------------------------------------------------------
    .       4           uint32 zlib.crc32 of every preceding byte

Masked slot indices.  Slot `s` is the `s`-th kept edge in edge order, holding value `s`.  A kept
edge stores its own slot; a dropped edge stores any other index (the writer stores `r XOR 1`,
where `r` is the slot the next kept edge will take, or 0 once every slot is used).  The reader
scans the edges in order with a counter `r` starting at 0: an edge whose index equals `r` (while
`r < kept`) is kept with slot `r` and `r` advances; any other edge is dropped.  This stores the
mask and the slot map in exactly `edges * ceil(log2 kept)` bits, the masked footprint of
`chromnas.partitions`.  Two degenerate cases cannot fit that budget and are stored differently:
`kept = 1` (0 bits would be available) stores the keep mask at 1 bit per edge, and `kept = 0`
stores no structure at all (every edge dropped).

Any problem (truncated data, wrong magic, unknown version, length mismatch, checksum mismatch,
inconsistent header) raises a `ValueError` that names it.
"""
from __future__ import annotations

import dataclasses
import math
import os
import struct
import zlib
from typing import Sequence

import numpy as np

MAGIC = b"CHROMNAS"
FORMAT_VERSION = 1
SUPPORTED_VERSIONS = (1,)
FAMILY_CODES = {"unstructured": 0, "toeplitz": 1, "circulant": 2, "masked": 3, "chromatic": 4}
FAMILY_NAMES = {code: name for name, code in FAMILY_CODES.items()}

_PREFIX = struct.Struct("<8sHI")  # magic, version, total length
_FIXED = struct.Struct("<BBII")  # family code, number of hidden layers, obs_dim, act_dim
_TAIL = struct.Struct("<IdH")  # num_values, obs_clip, env name length
_CRC = struct.Struct("<I")
_MAX_HIDDEN_LAYERS = 255


def index_bits(num_values: int) -> int:
  """`ceil(log2(num_values))`, 0 for one value (same rule as `chromnas.partitions.index_bits`)."""
  return int(math.ceil(math.log2(num_values))) if num_values > 1 else 0


def layer_shapes(obs_dim: int, act_dim: int, hidden: Sequence[int]) -> list[tuple[int, int]]:
  """`(out, in)` of every weight matrix, input layer first."""
  sizes = (obs_dim, *hidden, act_dim)
  return [(sizes[i + 1], sizes[i]) for i in range(len(sizes) - 1)]


def family_value_counts(family: str, shapes: Sequence[tuple[int, int]]) -> list[int]:
  """Trainable weight values per layer of the families with per-layer values (the same counts as
  `chromnas.policies.PolicySpec.layer_weight_sizes`; masked counts its full dense matrices)."""
  if family in ("unstructured", "masked"):
    return [r * c for r, c in shapes]
  if family == "toeplitz":
    return [r + c - 1 for r, c in shapes]
  if family == "circulant":
    return [max(r, c) for r, c in shapes]
  raise ValueError(f"family {family!r} has no per-layer values")


def structure_bits_per_edge(family: str, num_values: int) -> int:
  """Bits each edge's structure entry takes in the file (see the module docstring)."""
  if family == "chromatic":
    return index_bits(num_values)
  if family == "masked":
    if num_values == 0:
      return 0
    return 1 if num_values == 1 else index_bits(num_values)
  return 0


def payload_bits(family: str, obs_dim: int, act_dim: int, hidden: Sequence[int], num_values: int) -> int:
  """Bits of values + biases + structure: `partitions.footprint(...).bits` (for masked with
  `kept >= 2`; `kept = 1` adds one bit per edge, `kept = 0` has no structure)."""
  edges = sum(r * c for r, c in layer_shapes(obs_dim, act_dim, hidden))
  return 32 * (num_values + sum(hidden)) + edges * structure_bits_per_edge(family, num_values)


def pack_bits(codes: np.ndarray, bits: int) -> bytes:
  """Packs non-negative ints `< 2**bits` at `bits` bits each, least significant bit first."""
  codes = np.asarray(codes, np.int64).reshape(-1)
  if bits == 0 or codes.size == 0:
    return b""
  planes = ((codes[:, None] >> np.arange(bits, dtype=np.int64)) & 1).astype(np.uint8)
  return np.packbits(planes.reshape(-1), bitorder="little").tobytes()


def unpack_bits(data: bytes, count: int, bits: int) -> np.ndarray:
  """Inverse of `pack_bits`: `count` ints (int64) of `bits` bits each."""
  if bits == 0 or count == 0:
    return np.zeros((count,), np.int64)
  flat = np.unpackbits(np.frombuffer(data, np.uint8), count=count * bits, bitorder="little")
  return flat.reshape(count, bits).astype(np.int64) @ (np.int64(1) << np.arange(bits, dtype=np.int64))


def encode_mask(mask: np.ndarray) -> tuple[np.ndarray, int]:
  """Per-edge slot indices of a 0/1 keep mask: `(codes, bits_per_edge)` (see the docstring)."""
  mask = np.asarray(mask).astype(bool).reshape(-1)
  kept = int(mask.sum())
  bits = structure_bits_per_edge("masked", kept)
  if kept <= 1:
    return mask.astype(np.int64) if bits else np.zeros((0,), np.int64), bits
  nxt = np.cumsum(mask) - mask  # slot the next kept edge takes, at each edge
  other = np.where(nxt < kept, nxt ^ 1, 0)
  return np.where(mask, nxt, other).astype(np.int64), bits


def decode_mask(codes: np.ndarray, kept: int, edges: int) -> np.ndarray:
  """Inverse of `encode_mask`: the 0/1 int32 keep mask of `edges` edges."""
  if kept == 0:
    return np.zeros((edges,), np.int32)
  if kept == 1:
    mask = np.asarray(codes, np.int32)
  else:
    mask = np.zeros((edges,), np.int32)
    r = 0
    for e, code in enumerate(np.asarray(codes).tolist()):
      if r < kept and code == r:
        mask[e] = 1
        r += 1
  if int(mask.sum()) != kept:
    raise ValueError(f"corrupt masked structure: it keeps {int(mask.sum())} edges, the header says {kept}")
  return mask


@dataclasses.dataclass(frozen=True)
class ExportedPolicy:
  """The decoded contents of a policy file (plain NumPy; no JAX).

  `values` are the stored weight values (K shared values, the kept edges' values, or the
  family's values), `biases` the hidden biases concatenated, `structure` the per-edge colors
  (chromatic) or 0/1 keep mask (masked), empty otherwise.
  """

  family: str
  obs_dim: int
  act_dim: int
  hidden: tuple[int, ...]
  num_values: int
  obs_clip: float
  env: str
  obs_mean: np.ndarray
  obs_std: np.ndarray
  values: np.ndarray
  biases: np.ndarray
  structure: np.ndarray
  version: int = FORMAT_VERSION

  @property
  def num_colors(self) -> int:
    """K for chromatic policies, else 0 (as in `PolicySpec.num_colors`)."""
    return self.num_values if self.family == "chromatic" else 0

  @property
  def layer_shapes(self) -> list[tuple[int, int]]:
    return layer_shapes(self.obs_dim, self.act_dim, self.hidden)

  @property
  def num_edges(self) -> int:
    return sum(r * c for r, c in self.layer_shapes)

  @property
  def payload_bits(self) -> int:
    return payload_bits(self.family, self.obs_dim, self.act_dim, self.hidden, self.num_values)

  def params(self) -> np.ndarray:
    """The flat `chromnas.policies` parameter vector (weight values then hidden biases); for
    masked, the dense matrices with zeros at dropped edges."""
    if self.family == "masked":
      dense = np.zeros((self.num_edges,), np.float32)
      dense[self.structure.astype(bool)] = self.values
      return np.concatenate([dense, self.biases])
    return np.concatenate([self.values, self.biases]).astype(np.float32)


def _spec_fields(bundle) -> tuple[str, int, int, tuple[int, ...], int]:
  spec = bundle.spec
  return spec.family, int(spec.obs_dim), int(spec.act_dim), tuple(int(h) for h in spec.hidden), int(spec.num_colors)


def dumps(bundle) -> bytes:
  """Serialises a `PolicyBundle` to bytes in the format above; raises `ValueError` on a bundle
  that cannot be stored (wrong lengths, colors out of range, a mask that is not 0/1, NaN/inf)."""
  family, obs_dim, act_dim, hidden, num_colors = _spec_fields(bundle)
  if family not in FAMILY_CODES:
    raise ValueError(f"cannot export family {family!r}; known: {tuple(FAMILY_CODES)}")
  if len(hidden) > _MAX_HIDDEN_LAYERS:
    raise ValueError(f"cannot export more than {_MAX_HIDDEN_LAYERS} hidden layers")
  shapes = layer_shapes(obs_dim, act_dim, hidden)
  edges, num_biases = sum(r * c for r, c in shapes), sum(hidden)
  params = np.asarray(bundle.params, np.float32).reshape(-1)
  structure = np.asarray(bundle.structure).reshape(-1)
  weight_values = num_colors if family == "chromatic" else sum(family_value_counts(family, shapes))
  if params.size != weight_values + num_biases:
    raise ValueError(f"params has length {params.size}, a {family} policy with hidden {hidden} needs "
                     f"{weight_values + num_biases}")
  if not np.all(np.isfinite(params)):
    raise ValueError("params contain NaN or inf; refusing to export a diverged policy")
  weights, biases = params[:weight_values], params[weight_values:]
  codes, bits = np.zeros((0,), np.int64), 0
  if family in ("chromatic", "masked"):
    if structure.size != edges:
      raise ValueError(f"structure has length {structure.size}, this {family} policy has {edges} edges")
    limit = num_colors if family == "chromatic" else 2
    if structure.size and (structure.min() < 0 or structure.max() >= limit):
      raise ValueError(f"{family} structure values must lie in [0, {limit}), found "
                       f"[{structure.min()}, {structure.max()}]")
    structure = structure.astype(np.int64)
  if family == "chromatic":
    num_values, bits, codes = num_colors, index_bits(num_colors), structure
  elif family == "masked":
    keep = structure.astype(bool)
    weights = weights[keep]
    num_values = weights.size
    codes, bits = encode_mask(keep)
  else:
    num_values = weight_values
  obs_mean = np.asarray(bundle.obs_mean, np.float32).reshape(-1)
  obs_std = np.asarray(bundle.obs_std, np.float32).reshape(-1)
  if obs_mean.size != obs_dim or obs_std.size != obs_dim:
    raise ValueError(f"normaliser mean/std have sizes {obs_mean.size}/{obs_std.size}, obs_dim is {obs_dim}")
  if not (np.all(np.isfinite(obs_mean)) and np.all(np.isfinite(obs_std)) and np.all(obs_std > 0)):
    raise ValueError("normaliser mean/std must be finite and std positive")
  env = str(getattr(bundle, "env", "") or "").encode("utf-8")
  if len(env) > 0xFFFF:
    raise ValueError("environment name is longer than 65535 bytes")
  header = (_FIXED.pack(FAMILY_CODES[family], len(hidden), obs_dim, act_dim)
            + struct.pack(f"<{len(hidden)}I", *hidden)
            + _TAIL.pack(num_values, float(bundle.obs_clip), len(env)) + env)
  body = (header + obs_mean.astype("<f4").tobytes() + obs_std.astype("<f4").tobytes()
          + weights.astype("<f4").tobytes() + biases.astype("<f4").tobytes() + pack_bits(codes, bits))
  total = _PREFIX.size + len(body) + _CRC.size
  head = _PREFIX.pack(MAGIC, FORMAT_VERSION, total)
  crc = zlib.crc32(body, zlib.crc32(head))
  return head + body + _CRC.pack(crc)


def write_policy(path: str | os.PathLike, bundle) -> int:
  """Writes `dumps(bundle)` to `path` atomically (temp file + rename); returns the size in bytes."""
  data = dumps(bundle)
  path = os.fspath(path)
  tmp = path + ".tmp"
  with open(tmp, "wb") as f:
    f.write(data)
  os.replace(tmp, path)
  return len(data)


class _Reader:
  """Sequential reads from a byte string that report truncation by field name."""

  def __init__(self, data: bytes, offset: int):
    self.data, self.offset = data, offset

  def take(self, size: int, what: str) -> bytes:
    end = self.offset + size
    if end > len(self.data):
      raise ValueError(f"policy data is truncated: reading the {what} needs bytes {self.offset}..{end}, "
                       f"only {len(self.data)} present")
    out = self.data[self.offset:end]
    self.offset = end
    return out

  def floats(self, count: int, what: str) -> np.ndarray:
    return np.frombuffer(self.take(4 * count, what), "<f4").astype(np.float32)


def loads(data: bytes | bytearray | memoryview) -> ExportedPolicy:
  """Parses and checks bytes written by `dumps`; raises `ValueError` naming any problem."""
  data = bytes(data)
  if len(data) < len(MAGIC):
    raise ValueError(f"policy data is truncated: {len(data)} bytes, shorter than the magic")
  if data[:len(MAGIC)] != MAGIC:
    raise ValueError(f"not a chromnas policy file: wrong magic {data[:len(MAGIC)]!r} (expected {MAGIC!r})")
  if len(data) < _PREFIX.size:
    raise ValueError(f"policy data is truncated: {len(data)} bytes, shorter than the {_PREFIX.size}-byte prefix")
  _, version, total = _PREFIX.unpack_from(data)
  if version not in SUPPORTED_VERSIONS:
    raise ValueError(f"unknown policy format version {version}; this reader supports {SUPPORTED_VERSIONS}")
  if len(data) < total:
    raise ValueError(f"policy data is truncated: the header says {total} bytes, only {len(data)} present")
  if len(data) > total:
    raise ValueError(f"policy data has {len(data) - total} unexpected trailing bytes after the {total} the "
                     "header declares")
  if total < _PREFIX.size + _CRC.size:
    raise ValueError(f"corrupt policy data: declared length {total} is too small")
  (stored_crc,) = _CRC.unpack_from(data, total - _CRC.size)
  crc = zlib.crc32(data[:total - _CRC.size])
  if crc != stored_crc:
    raise ValueError(f"policy data is corrupted: checksum mismatch (CRC32 stored {stored_crc:#010x}, "
                     f"computed {crc:#010x})")
  reader = _Reader(data[:total - _CRC.size], _PREFIX.size)
  code, num_hidden, obs_dim, act_dim = _FIXED.unpack(reader.take(_FIXED.size, "header"))
  if code not in FAMILY_NAMES:
    raise ValueError(f"corrupt header: unknown family code {code}")
  family = FAMILY_NAMES[code]
  hidden = struct.unpack(f"<{num_hidden}I", reader.take(4 * num_hidden, "hidden sizes"))
  num_values, obs_clip, env_len = _TAIL.unpack(reader.take(_TAIL.size, "header"))
  env = reader.take(env_len, "environment name").decode("utf-8", errors="replace")
  if obs_dim <= 0 or act_dim <= 0 or any(h <= 0 for h in hidden):
    raise ValueError(f"corrupt header: dims must be positive, got obs {obs_dim}, act {act_dim}, hidden {hidden}")
  shapes = layer_shapes(obs_dim, act_dim, hidden)
  edges = sum(r * c for r, c in shapes)
  if family == "chromatic" and not 1 <= num_values <= edges:
    raise ValueError(f"corrupt header: K = {num_values} for a chromatic policy with {edges} edges")
  if family == "masked" and num_values > edges:
    raise ValueError(f"corrupt header: {num_values} kept edges of {edges}")
  if family not in ("chromatic", "masked") and num_values != sum(family_value_counts(family, shapes)):
    raise ValueError(f"corrupt header: a {family} policy with hidden {hidden} has "
                     f"{sum(family_value_counts(family, shapes))} values, the header says {num_values}")
  obs_mean = reader.floats(obs_dim, "normaliser mean")
  obs_std = reader.floats(obs_dim, "normaliser std")
  payload_start = reader.offset
  values = reader.floats(num_values, "weight values")
  biases = reader.floats(sum(hidden), "hidden biases")
  bits = structure_bits_per_edge(family, num_values)
  packed = reader.take((edges * bits + 7) // 8, "structure")
  codes = unpack_bits(packed, edges, bits)
  if reader.offset != len(reader.data):
    raise ValueError(f"corrupt policy data: {len(reader.data) - reader.offset} bytes left over after the structure")
  expected = (payload_bits(family, obs_dim, act_dim, hidden, num_values) + 7) // 8
  if reader.offset - payload_start != expected:  # internal consistency of this reader
    raise ValueError(f"payload is {reader.offset - payload_start} bytes, the footprint says {expected}")
  # The writer checks these too; the reader must not trust a file that passed only its CRC (a
  # file written by another tool, or rebuilt with a valid checksum): NaN weights, a zero or
  # negative std or a non-positive clip would load and then give NaN or constant actions.
  if not (math.isfinite(obs_clip) and obs_clip > 0):
    raise ValueError(f"invalid policy: obs_clip must be a finite positive number, got {obs_clip}")
  if not np.all(np.isfinite(obs_mean)):
    raise ValueError("invalid policy: the normaliser mean has non-finite entries")
  if not (np.all(np.isfinite(obs_std)) and np.all(obs_std > 0)):
    raise ValueError(f"invalid policy: the normaliser std must be finite and positive, min {float(np.min(obs_std))}")
  if not (np.all(np.isfinite(values)) and np.all(np.isfinite(biases))):
    raise ValueError("invalid policy: non-finite weight values or biases")
  if family == "chromatic":
    structure = codes.astype(np.int32)
    if structure.size and structure.max() >= num_values:
      raise ValueError(f"corrupt structure: color {structure.max()} out of range for K = {num_values}")
  elif family == "masked":
    structure = decode_mask(codes, num_values, edges)
  else:
    structure = np.zeros((0,), np.int32)
  return ExportedPolicy(family, obs_dim, act_dim, tuple(hidden), num_values, float(obs_clip), env, obs_mean,
                        obs_std, values, biases, structure, version)


def read_bytes(path_or_bytes) -> bytes:
  """The bytes of a path (str / PathLike) or of a bytes-like object."""
  if isinstance(path_or_bytes, (bytes, bytearray, memoryview)):
    return bytes(path_or_bytes)
  with open(os.fspath(path_or_bytes), "rb") as f:
    return f.read()


def read_policy(path_or_bytes) -> ExportedPolicy:
  """`loads` on a file path or bytes."""
  return loads(read_bytes(path_or_bytes))


def to_bundle(exported: ExportedPolicy):
  """A `chromnas.bundle.PolicyBundle` of a decoded file (imports JAX, via `chromnas.policies`).
  For masked policies the params hold zeros at dropped edges."""
  from chromnas.bundle import PolicyBundle  # pylint: disable=g-import-not-at-top
  from chromnas.policies import PolicySpec  # pylint: disable=g-import-not-at-top
  spec = PolicySpec(exported.obs_dim, exported.act_dim, exported.hidden, exported.family, exported.num_colors)
  return PolicyBundle(spec, exported.params(), exported.structure.astype(np.int32), exported.obs_mean,
                      exported.obs_std, exported.obs_clip, exported.env)


def load_bundle(path_or_bytes):
  """`to_bundle(read_policy(path_or_bytes))`."""
  return to_bundle(read_policy(path_or_bytes))
