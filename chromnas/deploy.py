"""Exports a training workdir's policy to the compact format and checks the file round-trips.

The check reads the file back with the NumPy runtime and compares its actions with the
bundle's own NumPy forward pass on a few random observations.
"""
from __future__ import annotations

import math

import numpy as np

from chromnas import export
from chromnas import numpy_policy
from chromnas import runtime


def export_workdir(workdir: str, out: str, which: str = "best", loader=None) -> str:
  """Writes the `which` policy of `workdir` to `out`, checks it, and returns a summary line.

  `loader(workdir, which) -> PolicyBundle` defaults to `chromnas.trainer.load_policy_bundle`.
  """
  if loader is None:
    from chromnas import trainer  # pylint: disable=g-import-not-at-top
    loader = trainer.load_policy_bundle
  bundle = loader(workdir, which)
  size = export.write_policy(out, bundle)
  policy = runtime.load_policy(out)
  spec = bundle.spec
  obs = np.random.default_rng(0).normal(0.0, 1.0, (4, spec.obs_dim)).astype(np.float32) * bundle.obs_std
  obs += bundle.obs_mean
  mats, biases = numpy_policy.weight_matrices(spec.family, (spec.obs_dim, *spec.hidden, spec.act_dim),
                                              spec.num_colors, bundle.params, bundle.structure)
  expected = numpy_policy.forward(mats, biases, numpy_policy.normalize(obs, bundle.obs_mean, bundle.obs_std,
                                                                      bundle.obs_clip))
  err = float(np.max(np.abs(policy.act(obs) - expected)))
  if err > 1e-5:
    raise RuntimeError(f"the exported policy does not reproduce the bundle (max action error {err:.2e})")
  decoded = export.read_policy(out)
  payload = math.ceil(decoded.payload_bits / 8)
  extra = {"chromatic": f" K={spec.num_colors}", "masked": f" kept={decoded.num_values}"}.get(spec.family, "")
  return (f"{out}: {bundle.env or '?'} {spec.family} {spec.architecture}{extra} policy ({which}), "
          f"{size} bytes ({payload} bytes = {decoded.payload_bits} bits of values, biases and structure; "
          f"{size - payload} bytes of header, normaliser and checksum), format v{decoded.version}")
