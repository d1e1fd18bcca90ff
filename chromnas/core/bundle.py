"""A trained policy as plain NumPy arrays, and its `.npz` files (NumPy only, no pickle).

A training workdir holds `best_policy.npz` (the highest evaluation return so far) and
`latest_policy.npz` (the state of the last checkpoint); `load_workdir_policy` reads either.
(The compact binary `.chromnas` format is `chromnas.core.policy_file`'s.)
"""

from __future__ import annotations

import dataclasses
import json
import os

import numpy as np

from chromnas.core.policy_spec import PolicySpec

WORKDIR_POLICIES = ("best", "latest")


@dataclasses.dataclass(frozen=True)
class PolicyBundle:
  """A deployable policy: `spec`, flat `params (num_params,)`, `structure (structure_size,)`
  and the observation normaliser (`obs_mean`, `obs_std`, both `(obs_dim,)`; the policy sees
  `clip((obs - obs_mean) / obs_std, -obs_clip, obs_clip)`)."""

  spec: PolicySpec
  params: np.ndarray
  structure: np.ndarray
  obs_mean: np.ndarray
  obs_std: np.ndarray
  obs_clip: float = 10.0
  env: str = ""


def from_arrays(spec: PolicySpec, params, structure, obs_mean, obs_std, obs_clip: float, env: str) -> PolicyBundle:
  """A `PolicyBundle` of array-likes: `params (num_params,)` and `obs_mean`, `obs_std (obs_dim,)`
  as float32, `structure (structure_size,)` as int32."""
  return PolicyBundle(
    spec=spec,
    params=np.asarray(params, np.float32),
    structure=np.asarray(structure, np.int32),
    obs_mean=np.asarray(obs_mean, np.float32),
    obs_std=np.asarray(obs_std, np.float32),
    obs_clip=float(obs_clip),
    env=env,
  )


def save_npz(path: str, bundle: PolicyBundle, extra: dict | None = None) -> None:
  """Writes `bundle` as an `.npz` (no pickle), atomically (temp file + rename); `extra`
  (JSON-able) joins the spec in the file's `meta`."""
  spec = bundle.spec
  meta = {
    "obs_dim": spec.obs_dim,
    "act_dim": spec.act_dim,
    "hidden": list(spec.hidden),
    "family": spec.family,
    "num_colors": spec.num_colors,
    "obs_clip": bundle.obs_clip,
    "env": bundle.env,
    **(extra or {}),
  }
  tmp = path + ".tmp.npz"
  np.savez(
    tmp,
    params=bundle.params,
    structure=bundle.structure,
    obs_mean=bundle.obs_mean,
    obs_std=bundle.obs_std,
    meta=np.frombuffer(json.dumps(meta).encode(), np.uint8),
  )
  os.replace(tmp, path)


def load_npz(path: str) -> tuple[PolicyBundle, dict]:
  """Reads a file written by `save_npz`: `(bundle, meta)`; `ValueError` naming the file if it
  cannot be read."""
  try:
    with np.load(path, allow_pickle=False) as z:
      meta = json.loads(bytes(z["meta"]).decode())
      spec = PolicySpec(meta["obs_dim"], meta["act_dim"], tuple(meta["hidden"]), meta["family"], meta["num_colors"])
      bundle = PolicyBundle(
        spec, z["params"], z["structure"], z["obs_mean"], z["obs_std"], meta["obs_clip"], meta["env"]
      )
  except (OSError, ValueError, KeyError) as e:
    raise ValueError(f"cannot read the policy file {path}: {e}") from e
  return bundle, meta


def load_workdir_policy(workdir: str, which: str = "best") -> PolicyBundle:
  """The `best` (highest evaluation return) or `latest` policy saved in a training workdir."""
  if which not in WORKDIR_POLICIES:
    raise ValueError(f"which must be 'best' or 'latest', got {which!r}")
  path = os.path.join(workdir, f"{which}_policy.npz")
  if not os.path.exists(path):
    raise FileNotFoundError(
      f"{path} does not exist: is {workdir} a chromnas training workdir that has run at least one evaluation?"
    )
  return load_npz(path)[0]
