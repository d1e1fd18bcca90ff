"""ONNX export of a `.chromnas` policy, built node by node with `onnx.helper` (no other framework).

The graph maps `obs (batch, obs_dim)` float32 (`batch` symbolic: any batch size) to
`action (batch, act_dim)`:

    z   = Clip((obs - obs_mean) / obs_std, -clip, clip)
    h_l = Tanh(MatMul(h_{l-1}, W_l^T) + b_l)        (b_l on hidden layers only)

Each `W_l` is built inside the graph from the family's own stored parameters, as in the file:

* chromatic: the payload's bit-packed colors (a uint8 initializer, the file's bytes) unpacked by
  integer ops into `color (edges,)`; `W = Gather(values, color)`, the K shared values;
* masked: the keep mask packed at 1 bit per edge; `W = Gather([0, kept values], mask * CumSum(mask))`
  (a dropped edge reads the 0 in front, the `s`-th kept edge value `s`);
* toeplitz / circulant: the layer's own values and an index map from `Range`:
  `j - i` / `cols - 1 + i - j` (Toeplitz), `(j - i) mod max(rows, cols)` (circulant);
* unstructured: the layer's values, reshaped.

Everything that builds a `W_l` depends on initializers only, so ONNX Runtime folds it into a
constant matrix when a session is created: inference is one MatMul per layer.  Opset 17.
"""

from __future__ import annotations

import os

import numpy as np

from chromnas.core import policy_file
from chromnas.export import common

try:
  import onnx
  from onnx import TensorProto, helper, numpy_helper
except ImportError:  # the package is optional: `pip install "chromnas[onnx]"`
  onnx = None  # type: ignore[assignment]  # an optional module: None says it is not installed

OPSET = 17
IR_VERSION = 8  # the oldest IR with opset 17: readable by every onnxruntime since 1.13
INPUT, OUTPUT = "obs", "action"
_MAX_BITS = 30  # the unpacked codes are int32


def _require_onnx():
  if onnx is None:
    raise ImportError('the ONNX export needs the onnx package: pip install "chromnas[onnx]"')


class _Builder:
  """Collects nodes and initializers under unique names."""

  def __init__(self):
    self.nodes, self.initializers, self._used = [], [], set()

  def _name(self, hint: str) -> str:
    name, n = hint, 1
    while name in self._used:
      n += 1
      name = f"{hint}_{n}"
    self._used.add(name)
    return name

  def const(self, hint: str, array) -> str:
    name = self._name(hint)
    self.initializers.append(numpy_helper.from_array(np.asarray(array), name))
    return name

  def op(self, op_type: str, inputs, hint: str, **attrs) -> str:
    out = self._name(hint)  # the graph output keeps its name: it is never used as a hint before
    # Nodes stay unnamed (optional in ONNX): their outputs carry the names, at half the bytes.
    self.nodes.append(helper.make_node(op_type, list(inputs), [out], **attrs))
    return out


def _unpack_codes(g: _Builder, packed: bytes, count: int, bits: int, hint: str) -> str:
  """`(count,)` int32 codes from `packed`, `bits` bits each, least significant bit first
  (`policy_file.pack_bits`): byte -> its 8 bits (`(byte // 2^k) mod 2`) -> the first
  `count * bits` bits as `(count, bits)` -> `sum_k bit_k 2^k`."""
  if bits == 0 or count == 0:
    return g.op(
      "ConstantOfShape",
      [g.const(f"{hint}_count", np.array([count], np.int64))],
      hint,
      value=helper.make_tensor("zero", TensorProto.INT32, [1], [0]),
    )
  if bits > _MAX_BITS:
    raise ValueError(f"{bits} bits per edge do not fit the int32 codes of the ONNX graph (at most {_MAX_BITS})")
  byte = g.op(
    "Cast", [g.const(f"{hint}_packed", np.frombuffer(packed, np.uint8))], f"{hint}_bytes", to=TensorProto.INT32
  )
  byte = g.op("Unsqueeze", [byte, g.const(f"{hint}_axis1", np.array([1], np.int64))], f"{hint}_column")
  planes = g.op(
    "Div", [byte, g.const(f"{hint}_place", (1 << np.arange(8, dtype=np.int32))[None, :])], f"{hint}_shifted"
  )
  planes = g.op("Mod", [planes, g.const(f"{hint}_two", np.array(2, np.int32))], f"{hint}_bits")
  flat = g.op("Reshape", [planes, g.const(f"{hint}_flat", np.array([-1], np.int64))], f"{hint}_bitstream")
  flat = g.op(
    "Slice",
    [
      flat,
      g.const(f"{hint}_start", np.array([0], np.int64)),
      g.const(f"{hint}_stop", np.array([count * bits], np.int64)),
    ],
    f"{hint}_used",
  )
  grid = g.op("Reshape", [flat, g.const(f"{hint}_grid", np.array([count, bits], np.int64))], f"{hint}_per_edge")
  weighted = g.op("Mul", [grid, g.const(f"{hint}_weights", (1 << np.arange(bits, dtype=np.int32)))], f"{hint}_weighted")
  return g.op("ReduceSum", [weighted, g.const(f"{hint}_axis", np.array([1], np.int64))], hint, keepdims=0)


def _index_map(g: _Builder, family: str, shape: tuple[int, int], hint: str) -> str:
  """The `(rows, cols)` int32 index map of a Toeplitz or circulant layer (`families`), from `Range`."""
  rows, cols = shape
  scalar = lambda name, v: g.const(f"{hint}_{name}", np.array(v, np.int32))  # noqa: E731
  i = g.op("Range", [scalar("zero", 0), scalar("rows", rows), scalar("one", 1)], f"{hint}_i")
  j = g.op("Range", [scalar("zero", 0), scalar("cols", cols), scalar("one", 1)], f"{hint}_j")
  i = g.op("Unsqueeze", [i, g.const(f"{hint}_axis1", np.array([1], np.int64))], f"{hint}_i_column")
  j = g.op("Unsqueeze", [j, g.const(f"{hint}_axis0", np.array([0], np.int64))], f"{hint}_j_row")
  diff = g.op("Sub", [j, i], f"{hint}_j_minus_i")
  if family == "toeplitz":  # j - i on and above the diagonal, cols - 1 + (i - j) below
    below = g.op("Sub", [scalar("cols_minus_1", cols - 1), diff], f"{hint}_below")
    upper = g.op("GreaterOrEqual", [diff, scalar("zero_", 0)], f"{hint}_upper")
    return g.op("Where", [upper, diff, below], hint)
  n = max(rows, cols)  # circulant: (j - i) mod n, shifted to be non-negative before the Mod
  shifted = g.op("Add", [diff, scalar("n", n)], f"{hint}_shifted")
  return g.op("Mod", [shifted, scalar("n_", n)], hint)


def _edge_weights(g: _Builder, src: common.Source) -> str | None:
  """`(edges,)` float32 weights of every layer in edge order, for the searched families."""
  e = src.exported
  if e.record.shared_values:  # chromatic: the K values gathered by the stored colors
    colors = _unpack_codes(g, src.structure_bytes, e.num_edges, src.bits, "colors")
    return g.op("Gather", [g.const("shared_values", e.values.astype(np.float32)), colors], "edge_weights")
  if e.record.masks:
    mask = e.structure.astype(np.int64)
    keep = _unpack_codes(g, policy_file.pack_bits(mask, 1), e.num_edges, 1, "keep_mask")
    slot = g.op(
      "Mul", [keep, g.op("CumSum", [keep, g.const("edge_axis", np.array(0, np.int32))], "kept_before")], "slot_plus_one"
    )
    padded = np.concatenate([np.zeros(1, np.float32), e.values.astype(np.float32)])
    return g.op("Gather", [g.const("kept_values", padded), slot], "edge_weights")
  return None


def _layer_matrix_t(
  g: _Builder, src: common.Source, layer: int, shape, edge: int, offset: int, edge_weights: str | None
) -> str:
  """`W_l^T (cols, rows)` of layer `layer`, whose edges start at `edge` and (own-valued families)
  whose values start at `values[offset]`."""
  e, (rows, cols) = src.exported, shape
  hint = f"layer{layer + 1}"
  shape_const = lambda: g.const(f"{hint}_shape", np.array([rows, cols], np.int64))  # noqa: E731
  if edge_weights is not None:
    flat = g.op(
      "Slice",
      [
        edge_weights,
        g.const(f"{hint}_first_edge", np.array([edge], np.int64)),
        g.const(f"{hint}_end_edge", np.array([edge + rows * cols], np.int64)),
      ],
      f"{hint}_edges",
    )
    w = g.op("Reshape", [flat, shape_const()], f"{hint}_W")
  else:
    n = e.record.layer_values(shape)
    values = e.values[offset : offset + n].astype(np.float32)
    if e.record.value_map is None:
      w = g.op("Reshape", [g.const(f"{hint}_values", values), shape_const()], f"{hint}_W")
    else:
      index = _index_map(g, e.family, shape, f"{hint}_index")
      w = g.op("Gather", [g.const(f"{hint}_values", values), index], f"{hint}_W")
  return g.op("Transpose", [w], f"{hint}_W_T", perm=[1, 0])


def to_onnx(path_or_bytes) -> onnx.ModelProto:
  """The ONNX model of a `.chromnas` file (a path or its bytes); checked with `onnx.checker`
  (full check: types and shapes inferred).  Raises `ValueError` on a bad file, `ImportError`
  without the onnx package."""
  _require_onnx()
  src = common.read_source(path_or_bytes)
  e = src.exported
  g = _Builder()
  g._used.add(INPUT)
  h = g.op("Sub", [INPUT, g.const("obs_mean", e.obs_mean.astype(np.float32))], "centred")
  h = g.op("Div", [h, g.const("obs_std", e.obs_std.astype(np.float32))], "scaled")
  clip = np.float32(e.obs_clip)
  h = g.op(
    "Clip",
    [h, g.const("clip_low", np.array(-clip, np.float32)), g.const("clip_high", np.array(clip, np.float32))],
    "normalised",
  )
  edge_weights = _edge_weights(g, src)
  edge, offset, bias_at = 0, 0, 0
  shapes = e.layer_shapes
  for layer, shape in enumerate(shapes):
    last = layer == len(shapes) - 1
    w_t = _layer_matrix_t(g, src, layer, shape, edge, offset, edge_weights)
    edge += shape[0] * shape[1]
    offset += 0 if e.record.searched else e.record.layer_values(shape)
    h = g.op("MatMul", [h, w_t], f"layer{layer + 1}_product")
    if not last:
      bias = e.biases[bias_at : bias_at + shape[0]].astype(np.float32)
      bias_at += shape[0]
      h = g.op("Add", [h, g.const(f"layer{layer + 1}_bias", bias)], f"layer{layer + 1}_preactivation")
    h = g.op("Tanh", [h], OUTPUT if last else f"layer{layer + 1}_output")
  graph = helper.make_graph(
    g.nodes,
    "chromnas_policy",
    [helper.make_tensor_value_info(INPUT, TensorProto.FLOAT, ["batch", e.obs_dim])],
    [helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, ["batch", e.act_dim])],
    initializer=g.initializers,
  )
  model = helper.make_model(
    graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="chromnas", ir_version=IR_VERSION
  )
  arch = ",".join(f"H{n}" for n in e.hidden) or "L"
  model.doc_string = (
    f"{e.env or '?'} {e.family} {arch} policy from a .chromnas v{e.version} file: "
    "action = tanh(W_L ... tanh(W_1 clip((obs - mean) / std) + b_1)), obs (batch, obs_dim)"
  )
  helper.set_model_props(
    model,
    {
      "env": e.env,
      "family": e.family,
      "architecture": arch,
      "num_values": str(e.num_values),
      "obs_clip": repr(float(e.obs_clip)),
    },
  )
  onnx.checker.check_model(model, full_check=True)
  return model


def write_onnx(path_or_bytes, out: str | os.PathLike) -> int:
  """Writes `to_onnx(path_or_bytes)` to `out`; returns the file's size in bytes."""
  data = to_onnx(path_or_bytes).SerializeToString()
  out = os.fspath(out)
  with open(out, "wb") as f:
    f.write(data)
  return len(data)


def session(model_or_path, threads: int = 1):
  """An `onnxruntime.InferenceSession` on the CPU with `threads` intra-op threads."""
  import onnxruntime  # pylint: disable=g-import-not-at-top

  options = onnxruntime.SessionOptions()
  options.intra_op_num_threads = threads
  options.inter_op_num_threads = 1
  if not isinstance(model_or_path, (str, os.PathLike)):
    model_or_path = model_or_path.SerializeToString()
  return onnxruntime.InferenceSession(model_or_path, options, providers=["CPUExecutionProvider"])


def run(sess, obs: np.ndarray) -> np.ndarray:
  """Actions `(batch, act_dim)` of an onnxruntime session for `obs (batch, obs_dim)`."""
  return sess.run([OUTPUT], {INPUT: np.ascontiguousarray(obs, np.float32)})[0]


def layer_ops(model) -> list[str]:
  """The op types of a model's nodes, in order (for summaries and tests)."""
  return [n.op_type for n in model.graph.node]
