"""ONNX export (`chromnas.export.onnx_export`): every zoo policy passes `onnx.checker` and, run by
onnxruntime on 1000 observations, acts as the NumPy runtime to 1e-5, at any batch size.

Needs the `[onnx]` extra (part of `[test]`); skipped without it.
"""

import math
import pathlib
import subprocess
import sys

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason='the ONNX export needs pip install "chromnas[onnx]"')
pytest.importorskip("onnxruntime", reason='the ONNX check needs pip install "chromnas[onnx]"')
from onnx import numpy_helper  # noqa: E402

from chromnas.core import (
  policy_file,  # noqa: E402
  policy_spec,  # noqa: E402
  runtime,  # noqa: E402
)
from chromnas.core.bundle import PolicyBundle  # noqa: E402
from chromnas.export import (
  common,  # noqa: E402
  onnx_export,  # noqa: E402
  verify,  # noqa: E402
)

REPO = pathlib.Path(__file__).resolve().parents[1]
ZOO = sorted((REPO / "results" / "zoo").glob("*.chromnas"))
TOL = 1e-5


@pytest.fixture(scope="module")
def models():
  """`models(path) -> ModelProto`, each zoo policy converted once."""
  cache = {}

  def get(path):
    if path not in cache:
      cache[path] = onnx_export.to_onnx(path)
    return cache[path]

  return get


@pytest.mark.parametrize("path", ZOO, ids=lambda p: p.stem)
def test_zoo_policy_acts_as_runtime(models, path):
  model = models(path)
  onnx.checker.check_model(model, full_check=True)
  assert verify.onnx_error(path, model, 1000) <= TOL


@pytest.mark.parametrize("batch", [1, 7, 1000])
def test_any_batch_size(models, batch):
  path = REPO / "results" / "zoo" / "halfcheetah_h41h41_chromatic17.chromnas"
  model = models(path)
  dims = model.graph.input[0].type.tensor_type.shape.dim
  assert dims[0].dim_param == "batch" and dims[1].dim_value == 17
  assert verify.onnx_error(path, model, 1000, batch=batch) <= TOL


def _initializers(model):
  return {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}


@pytest.mark.parametrize("path", [p for p in ZOO if "chromatic" in p.stem], ids=lambda p: p.stem)
def test_chromatic_layers_are_gather_of_shared_values(models, path):
  model = models(path)
  e = policy_file.read_policy(path)
  inits = _initializers(model)
  ops = onnx_export.layer_ops(model)
  assert ops.count("MatMul") == len(e.layer_shapes) and "Gather" in ops
  # The colors are the payload's bit-packed bytes; no dense matrix is stored.
  payload = math.ceil(e.payload_bits / 8)
  data = path.read_bytes()
  structure = data[len(data) - 4 - payload + 4 * (e.num_values + sum(e.hidden)) : -4]
  assert inits["colors_packed"].dtype == np.uint8 and inits["colors_packed"].tobytes() == structure
  np.testing.assert_array_equal(inits["shared_values"], e.values)
  floats = sum(a.size for a in inits.values() if a.dtype == np.float32)
  assert floats == e.num_values + sum(e.hidden) + 2 * e.obs_dim + 2  # values, biases, normaliser, clip
  gather = next(n for n in model.graph.node if n.op_type == "Gather")
  assert gather.input[0] == "shared_values"


@pytest.mark.parametrize(
  "path", [p for p in ZOO if "toeplitz" in p.stem or "circulant" in p.stem or "masked" in p.stem], ids=lambda p: p.stem
)
def test_structured_layers_store_only_their_parameters(models, path):
  e = policy_file.read_policy(path)
  floats = sum(a.size for a in _initializers(models(path)).values() if a.dtype == np.float32)
  padding = 1 if e.record.masks else 0  # the 0 that dropped edges gather
  assert floats == e.num_values + padding + sum(e.hidden) + 2 * e.obs_dim + 2
  assert floats < e.num_edges


def _bundle(family, arch, seed, num_colors=5, keep=None, obs=9, act=3):
  spec = policy_spec.make_spec(obs, act, arch, family, num_colors if family == "chromatic" else 0)
  rng = np.random.default_rng(seed)
  params = rng.standard_normal(spec.num_params).astype(np.float32)
  structure = rng.integers(0, spec.num_choices, spec.structure_size).astype(np.int32)
  if keep is not None:
    structure = np.zeros(spec.structure_size, np.int32)
    structure[rng.choice(spec.structure_size, keep, replace=False)] = 1
  return PolicyBundle(
    spec,
    params,
    structure,
    rng.standard_normal(obs).astype(np.float32),
    rng.uniform(0.5, 2.0, obs).astype(np.float32),
    3.0,
    "synthetic",
  )


CASES = [
  (family, arch, {})
  for family in ("unstructured", "toeplitz", "circulant", "masked", "chromatic")
  for arch in ("L", "H7", "H6,H11")
] + [
  ("chromatic", "H6", {"num_colors": 1}),
  ("chromatic", "H41", {"num_colors": 300}),
  ("masked", "H6", {"keep": 0}),
  ("masked", "H6", {"keep": 1}),
  ("masked", "L", {"keep": 27}),
  ("toeplitz", "H3", {"obs": 13}),
  ("circulant", "H20", {}),
]


@pytest.mark.parametrize("family,arch,opts", CASES, ids=lambda c: str(c))
def test_synthetic_policy_acts_as_runtime(family, arch, opts):
  data = policy_file.dumps(_bundle(family, arch, len(arch) + len(family), **opts))
  model = onnx_export.to_onnx(data)
  assert verify.onnx_error(data, model, 300, batch=64) <= TOL


def test_write_and_cli(tmp_path):
  path = REPO / "results" / "zoo" / "hopper_h41_chromatic11.chromnas"
  size = onnx_export.write_onnx(path, tmp_path / "a.onnx")
  assert size == (tmp_path / "a.onnx").stat().st_size
  out = tmp_path / "b.onnx"
  proc = subprocess.run(
    [sys.executable, "-m", "experiments.export", f"--policy={path}", "--format=onnx", f"--out={out}"],
    cwd=REPO,
    capture_output=True,
    text=True,
    timeout=300,
  )
  assert proc.returncode == 0, proc.stderr
  assert out.read_bytes() == (tmp_path / "a.onnx").read_bytes()
  assert f"{size} bytes (the .chromnas file: {path.stat().st_size} bytes)" in proc.stdout
  assert "onnxruntime: max |action - runtime|" in proc.stdout
  sess = onnx_export.session(str(out))
  obs = common.probe_observations(policy_file.read_policy(path), 5)
  np.testing.assert_allclose(onnx_export.run(sess, obs), runtime.load_policy(path).act(obs), atol=TOL)


def test_bad_file_is_refused():
  data = bytearray((REPO / "results" / "zoo" / "hopper_l_chromatic11.chromnas").read_bytes())
  with pytest.raises(ValueError, match="truncated"):
    onnx_export.to_onnx(bytes(data[:40]))


def test_cli_from_workdir(tmp_path):
  """`--workdir` exports the run's best policy, as the compact format does."""
  from chromnas.core import bundle as bundle_lib  # pylint: disable=g-import-not-at-top

  path = REPO / "results" / "zoo" / "walker2d_h41_toeplitz.chromnas"
  workdir = tmp_path / "run"
  workdir.mkdir()
  bundle_lib.save_npz(str(workdir / "best_policy.npz"), policy_file.load_bundle(path))
  out = tmp_path / "w.onnx"
  proc = subprocess.run(
    [sys.executable, "-m", "experiments.export", f"--workdir={workdir}", "--format=onnx", f"--out={out}"],
    cwd=REPO,
    capture_output=True,
    text=True,
    timeout=300,
  )
  assert proc.returncode == 0, proc.stderr
  assert verify.onnx_error(path, str(out), 200) <= TOL
