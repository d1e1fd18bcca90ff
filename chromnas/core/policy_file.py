"""A compact, versioned binary format for deployed policies (writer and reader, NumPy only).

This module imports nothing but the standard library, NumPy and the JAX-free `chromnas.core`
modules, so the NumPy runtime (`chromnas.core.runtime`) shares its reader; `write_policy` /
`dumps` take a `chromnas.core.bundle.PolicyBundle`.  No pickle anywhere.

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
    -- payload: exactly ceil(footprint.spec_footprint(spec, kept).bits / 8) bytes ----------
    .       4*num_values float32 weight values: the K shared values (chromatic), the kept edges'
                               values in edge order (masked), or the family's values layer by layer
                               in `chromnas.model.policies` order (unstructured / toeplitz / circulant)
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
`chromnas.core.footprint`.  Two degenerate cases cannot fit that budget and are stored differently:
`kept = 1` (0 bits would be available) stores the keep mask at 1 bit per edge, and `kept = 0`
stores no structure at all (every edge dropped).

What a family stores (values per layer, shared values, a mask) comes from its record in
`chromnas.core.families`; this module owns only the layout, the family codes and the masked
slot encoding.

Any problem (truncated data, wrong magic, unknown version, length mismatch, checksum mismatch,
inconsistent header) raises a `ValueError` that names it.
"""

from __future__ import annotations

import dataclasses
import math
import os
import struct
import zlib

import numpy as np

from chromnas.core import families
from chromnas.core.bundle import PolicyBundle
from chromnas.core.policy_spec import PolicySpec

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


def structure_bits_per_edge(record: families.Family, num_values: int) -> int:
  """Bits each edge's structure entry takes in the file: `index_bits(num_values)` for a searched
  family (`record.structure_bits` of one edge: the footprint's rule), 0 for the others, and 1 for a
  masked policy with a single kept edge, which stores its keep mask (see the module docstring)."""
  if record.masks and num_values == 1:
    return 1
  return record.structure_bits(1, num_values)


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


def encode_mask(mask: np.ndarray) -> np.ndarray:
  """Per-edge codes (int64) of a 0/1 keep mask, stored at `structure_bits_per_edge` bits each:
  slot indices (see the module docstring), or the mask itself for `kept <= 1`."""
  mask = np.asarray(mask).astype(bool).reshape(-1)
  kept = int(mask.sum())
  if kept <= 1:  # kept = 1: the mask at 1 bit per edge; kept = 0: 0 bits, nothing is stored
    return mask.astype(np.int64)
  nxt = np.cumsum(mask) - mask  # slot the next kept edge takes, at each edge
  other = np.where(nxt < kept, nxt ^ 1, 0)
  return np.where(mask, nxt, other).astype(np.int64)


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
  def record(self) -> families.Family:
    """The record of this policy's weight family (`chromnas.core.families`)."""
    return families.FAMILIES[self.family]

  @property
  def num_colors(self) -> int:
    """K where the family shares its values (chromatic), else 0 (as in `PolicySpec.num_colors`)."""
    return self.num_values if self.record.shared_values else 0

  @property
  def spec(self) -> PolicySpec:
    """The policy's static description."""
    return PolicySpec(self.obs_dim, self.act_dim, self.hidden, self.family, self.num_colors)

  @property
  def layer_shapes(self) -> tuple[tuple[int, int], ...]:
    """`(out, in)` of every weight matrix, input layer first."""
    return self.spec.layer_shapes

  @property
  def num_edges(self) -> int:
    return self.spec.num_edges

  @property
  def payload_bits(self) -> int:
    """Bits of values, biases and structure, `32 (num_values + hidden biases) + edges B`: the
    footprint's bits (`footprint.spec_footprint`) but for masked `kept <= 1` (module docstring)."""
    bits = structure_bits_per_edge(self.record, self.num_values)
    return 32 * (self.num_values + sum(self.hidden)) + self.num_edges * bits

  @property
  def values_label(self) -> str:
    """What `num_values` counts, for summaries: 'K=17' (shared values), 'kept=40' (a mask), or ''
    (the family's own values)."""
    record = self.record
    return f"K={self.num_values}" if record.shared_values else f"kept={self.num_values}" if record.masks else ""

  def params(self) -> np.ndarray:
    """The flat `chromnas.model.policies` parameter vector (weight values then hidden biases); for
    masked, the dense matrices with zeros at dropped edges."""
    if self.record.masks:
      dense = np.zeros((self.num_edges,), np.float32)
      dense[self.structure.astype(bool)] = self.values
      return np.concatenate([dense, self.biases])
    return np.concatenate([self.values, self.biases]).astype(np.float32)


def dumps(bundle: PolicyBundle) -> bytes:
  """Serialises a `PolicyBundle` to bytes in the format above; raises `ValueError` on a bundle
  that cannot be stored (wrong lengths, colors out of range, a mask that is not 0/1, NaN/inf)."""
  spec = bundle.spec
  family, obs_dim, act_dim, hidden = spec.family, int(spec.obs_dim), int(spec.act_dim), tuple(spec.hidden)
  if family not in FAMILY_CODES:
    raise ValueError(f"cannot export family {family!r}; known: {tuple(FAMILY_CODES)}")
  if len(hidden) > _MAX_HIDDEN_LAYERS:
    raise ValueError(f"cannot export more than {_MAX_HIDDEN_LAYERS} hidden layers")
  record, edges = spec.family_record, spec.num_edges
  params = np.asarray(bundle.params, np.float32).reshape(-1)
  structure = np.asarray(bundle.structure).reshape(-1)
  if params.size != spec.num_params:
    raise ValueError(f"params has length {params.size}, a {family} policy with hidden {hidden} needs {spec.num_params}")
  if not np.all(np.isfinite(params)):
    raise ValueError("params contain NaN or inf; refusing to export a diverged policy")
  weights, biases = params[: spec.num_weight_values], params[spec.num_weight_values :]
  codes = np.zeros((0,), np.int64)
  if record.searched:
    if structure.size != edges:
      raise ValueError(f"structure has length {structure.size}, this {family} policy has {edges} edges")
    limit = spec.num_choices
    if structure.size and (structure.min() < 0 or structure.max() >= limit):
      raise ValueError(
        f"{family} structure values must lie in [0, {limit}), found [{structure.min()}, {structure.max()}]"
      )
    codes = structure.astype(np.int64)
  if record.masks:  # only the kept edges' values are stored, the mask as slot codes
    keep = codes.astype(bool)
    weights, codes = weights[keep], encode_mask(keep)
  num_values = weights.size
  bits = structure_bits_per_edge(record, num_values)
  obs_mean = np.asarray(bundle.obs_mean, np.float32).reshape(-1)
  obs_std = np.asarray(bundle.obs_std, np.float32).reshape(-1)
  if obs_mean.size != obs_dim or obs_std.size != obs_dim:
    raise ValueError(f"normaliser mean/std have sizes {obs_mean.size}/{obs_std.size}, obs_dim is {obs_dim}")
  if not (np.all(np.isfinite(obs_mean)) and np.all(np.isfinite(obs_std)) and np.all(obs_std > 0)):
    raise ValueError("normaliser mean/std must be finite and std positive")
  env = str(getattr(bundle, "env", "") or "").encode("utf-8")
  if len(env) > 0xFFFF:
    raise ValueError("environment name is longer than 65535 bytes")
  header = (
    _FIXED.pack(FAMILY_CODES[family], len(hidden), obs_dim, act_dim)
    + struct.pack(f"<{len(hidden)}I", *hidden)
    + _TAIL.pack(num_values, float(bundle.obs_clip), len(env))
    + env
  )
  body = (
    header
    + obs_mean.astype("<f4").tobytes()
    + obs_std.astype("<f4").tobytes()
    + weights.astype("<f4").tobytes()
    + biases.astype("<f4").tobytes()
    + pack_bits(codes, bits)
  )
  total = _PREFIX.size + len(body) + _CRC.size
  head = _PREFIX.pack(MAGIC, FORMAT_VERSION, total)
  crc = zlib.crc32(body, zlib.crc32(head))
  return head + body + _CRC.pack(crc)


def write_policy(path: str | os.PathLike, bundle: PolicyBundle) -> int:
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
      raise ValueError(
        f"policy data is truncated: reading the {what} needs bytes {self.offset}..{end}, only {len(self.data)} present"
      )
    out = self.data[self.offset : end]
    self.offset = end
    return out

  def floats(self, count: int, what: str) -> np.ndarray:
    return np.frombuffer(self.take(4 * count, what), "<f4").astype(np.float32)


def loads(data: bytes | bytearray | memoryview) -> ExportedPolicy:
  """Parses and checks bytes written by `dumps`; raises `ValueError` naming any problem."""
  data = bytes(data)
  if len(data) < len(MAGIC):
    raise ValueError(f"policy data is truncated: {len(data)} bytes, shorter than the magic")
  if data[: len(MAGIC)] != MAGIC:
    raise ValueError(f"not a chromnas policy file: wrong magic {data[: len(MAGIC)]!r} (expected {MAGIC!r})")
  if len(data) < _PREFIX.size:
    raise ValueError(f"policy data is truncated: {len(data)} bytes, shorter than the {_PREFIX.size}-byte prefix")
  _, version, total = _PREFIX.unpack_from(data)
  if version not in SUPPORTED_VERSIONS:
    raise ValueError(f"unknown policy format version {version}; this reader supports {SUPPORTED_VERSIONS}")
  if len(data) < total:
    raise ValueError(f"policy data is truncated: the header says {total} bytes, only {len(data)} present")
  if len(data) > total:
    raise ValueError(
      f"policy data has {len(data) - total} unexpected trailing bytes after the {total} the header declares"
    )
  if total < _PREFIX.size + _CRC.size:
    raise ValueError(f"corrupt policy data: declared length {total} is too small")
  (stored_crc,) = _CRC.unpack_from(data, total - _CRC.size)
  crc = zlib.crc32(data[: total - _CRC.size])
  if crc != stored_crc:
    raise ValueError(
      f"policy data is corrupted: checksum mismatch (CRC32 stored {stored_crc:#010x}, computed {crc:#010x})"
    )
  reader = _Reader(data[: total - _CRC.size], _PREFIX.size)
  code, num_hidden, obs_dim, act_dim = _FIXED.unpack(reader.take(_FIXED.size, "header"))
  if code not in FAMILY_NAMES:
    raise ValueError(f"corrupt header: unknown family code {code}")
  family = FAMILY_NAMES[code]
  hidden = struct.unpack(f"<{num_hidden}I", reader.take(4 * num_hidden, "hidden sizes"))
  num_values, obs_clip, env_len = _TAIL.unpack(reader.take(_TAIL.size, "header"))
  env = reader.take(env_len, "environment name").decode("utf-8", errors="replace")
  if obs_dim <= 0 or act_dim <= 0 or any(h <= 0 for h in hidden):
    raise ValueError(f"corrupt header: dims must be positive, got obs {obs_dim}, act {act_dim}, hidden {hidden}")
  record = families.FAMILIES[family]
  shapes = families.layer_shapes((obs_dim, *hidden, act_dim))
  edges = sum(r * c for r, c in shapes)
  if record.searched:  # K colors (at least one) or the kept edges (maybe none), at most one per edge
    least = 1 if record.shared_values else 0
    if not least <= num_values <= edges:
      raise ValueError(
        f"corrupt header: {family} num_values = {num_values}, a policy with {edges} edges needs {least}..{edges}"
      )
  elif num_values != record.num_weight_values(shapes, 0):
    raise ValueError(
      f"corrupt header: a {family} policy with hidden {hidden} has "
      f"{record.num_weight_values(shapes, 0)} values, the header says {num_values}"
    )
  obs_mean = reader.floats(obs_dim, "normaliser mean")
  obs_std = reader.floats(obs_dim, "normaliser std")
  values = reader.floats(num_values, "weight values")
  biases = reader.floats(sum(hidden), "hidden biases")
  bits = structure_bits_per_edge(record, num_values)
  packed = reader.take((edges * bits + 7) // 8, "structure")
  codes = unpack_bits(packed, edges, bits)
  if reader.offset != len(reader.data):
    raise ValueError(f"corrupt policy data: {len(reader.data) - reader.offset} bytes left over after the structure")
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
  if record.masks:
    structure = decode_mask(codes, num_values, edges)
  elif record.shared_values:
    structure = codes.astype(np.int32)
    if structure.size and structure.max() >= num_values:
      raise ValueError(f"corrupt structure: color {structure.max()} out of range for K = {num_values}")
  else:
    structure = np.zeros((0,), np.int32)
  return ExportedPolicy(
    family,
    obs_dim,
    act_dim,
    tuple(hidden),
    num_values,
    float(obs_clip),
    env,
    obs_mean,
    obs_std,
    values,
    biases,
    structure,
    version,
  )


def read_bytes(path_or_bytes) -> bytes:
  """The bytes of a path (str / PathLike) or of a bytes-like object."""
  if isinstance(path_or_bytes, (bytes, bytearray, memoryview)):
    return bytes(path_or_bytes)
  with open(os.fspath(path_or_bytes), "rb") as f:
    return f.read()


def read_policy(path_or_bytes) -> ExportedPolicy:
  """`loads` on a file path or bytes."""
  return loads(read_bytes(path_or_bytes))


def to_bundle(exported: ExportedPolicy) -> PolicyBundle:
  """The `PolicyBundle` of a decoded file (NumPy only).  For masked policies the params hold
  zeros at dropped edges."""
  return PolicyBundle(
    exported.spec,
    exported.params(),
    exported.structure.astype(np.int32),
    exported.obs_mean,
    exported.obs_std,
    exported.obs_clip,
    exported.env,
  )


def load_bundle(path_or_bytes) -> PolicyBundle:
  """`to_bundle(read_policy(path_or_bytes))`."""
  return to_bundle(read_policy(path_or_bytes))
