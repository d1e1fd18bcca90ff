"""Checks an export against the NumPy runtime (`chromnas.core.runtime`) on probe observations.

`onnx_error` runs the ONNX model with onnxruntime, `c_error` compiles the C source into a shared
library and calls it through ctypes; both return `max |export - runtime|` over
`common.probe_observations` (1000 by default).
"""

from __future__ import annotations

import os

import numpy as np

from chromnas.core import policy_file, runtime
from chromnas.export import c_build, c_export, common


def onnx_error(path_or_bytes, model_or_path, count: int = 1000, batch: int | None = None) -> float:
  """Max action error of the ONNX model against the runtime on `count` probe observations, run
  `batch` at a time (all at once by default)."""
  from chromnas.export import onnx_export  # pylint: disable=g-import-not-at-top

  data = policy_file.read_bytes(path_or_bytes)
  policy = runtime.load_policy(data)
  obs = common.probe_observations(policy.exported, count)
  sess = onnx_export.session(model_or_path)
  step = batch or count
  actions = np.concatenate([onnx_export.run(sess, obs[k : k + step]) for k in range(0, count, step)])
  return common.max_abs_error(actions, policy.act(obs))


def c_error(
  path_or_bytes,
  source: str,
  library: str,
  count: int = 1000,
  cc: str | None = None,
  prefix: str = c_export.DEFAULT_PREFIX,
) -> tuple[float, c_build.CPolicy]:
  """Compiles `source` into `library` and returns (max action error against the runtime on `count`
  probe observations, the loaded `CPolicy`)."""
  data = policy_file.read_bytes(path_or_bytes)
  policy = runtime.load_policy(data)
  c_build.compile_shared(source, library, cc)
  cpolicy = c_build.CPolicy(os.path.abspath(library), policy.obs_dim, policy.act_dim, prefix)
  obs = common.probe_observations(policy.exported, count)
  return common.max_abs_error(cpolicy.act(obs), policy.act(obs)), cpolicy
