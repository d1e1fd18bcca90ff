"""Exports a training workdir's policy to the compact format and checks the file round-trips.

The check reads the file back with the NumPy runtime and compares its actions with the
bundle's own NumPy forward pass on a few random observations.
"""

from __future__ import annotations

import math

import numpy as np

from chromnas.core import bundle as bundle_lib
from chromnas.core import episode, families, forward, policy_file, runtime

# How judged policies multiply: in a fixed order, so that a zoo file's judged return is the same
# on every CPU (with BLAS, the kernel a CPU gets can change the actions' last bits, and so the
# return of a chaotic episode).
JUDGE_MATVEC = "ordered"


def export_workdir(workdir: str, out: str, which: str = "best", loader=None) -> str:
  """Writes the `which` policy of `workdir` to `out`, checks it, and returns a summary line.

  `loader(workdir, which) -> PolicyBundle` defaults to `chromnas.core.bundle.load_workdir_policy`.
  """
  bundle = (loader or bundle_lib.load_workdir_policy)(workdir, which)
  size = policy_file.write_policy(out, bundle)
  policy = runtime.load_policy(out)
  spec = bundle.spec
  obs = np.random.default_rng(0).normal(0.0, 1.0, (4, spec.obs_dim)).astype(np.float32) * bundle.obs_std
  obs += bundle.obs_mean
  mats, biases = families.weight_matrices(
    spec.family, (spec.obs_dim, *spec.hidden, spec.act_dim), spec.num_colors, bundle.params, bundle.structure
  )
  expected = forward.forward(mats, biases, forward.normalize(obs, bundle.obs_mean, bundle.obs_std, bundle.obs_clip))
  err = float(np.max(np.abs(policy.act(obs) - expected)))
  if err > 1e-5:
    raise RuntimeError(f"the exported policy does not reproduce the bundle (max action error {err:.2e})")
  decoded = policy_file.read_policy(out)
  payload = math.ceil(decoded.payload_bits / 8)
  extra = f" {decoded.values_label}" if decoded.values_label else ""
  return (
    f"{out}: {bundle.env or '?'} {spec.family} {spec.architecture}{extra} policy ({which}), "
    f"{size} bytes ({payload} bytes = {decoded.payload_bits} bits of values, biases and structure; "
    f"{size - payload} bytes of header, normaliser and checksum), format v{decoded.version}"
  )


def make_judge_env(task: str, **env_kwargs):
  """The environment a policy file of `task` is judged on: `(env, episode_length, description)`.

  The registry's `Task.judge` names it: Gymnasium's own environment where one exists (not the
  lean copy the host workers step), else the host engine's environment."""
  from chromnas.envs import (
    host_envs,  # pylint: disable=g-import-not-at-top
    tasks,  # pylint: disable=g-import-not-at-top
  )

  t = tasks.get_task(task)
  et = tasks.engine_task(task, "host")
  if t.judge:
    import gymnasium  # pylint: disable=g-import-not-at-top

    return gymnasium.make(t.judge, max_episode_steps=et.episode_length, **env_kwargs), et.episode_length, t.judge
  kwargs = {"max_episode_steps": et.episode_length, **env_kwargs}
  return host_envs.make_host_env(et.make, **kwargs), et.episode_length, et.make.split(":")[-1]


def _finite(t: int, obs: np.ndarray) -> bool:
  """Whether observation `t` is finite: a non-finite one means the simulator diverged, and the
  judged episode ends there as NaN."""
  del t
  return bool(np.all(np.isfinite(obs)))


def episode_returns(act, task: str, episodes: int, seed: int = 0) -> tuple[np.ndarray, str]:
  """Returns `(returns (episodes,), env description)` of any `act(obs) -> action` on `task`'s
  judge environment, episode `e` reset with seed `seed + e`.

  Each episode runs until termination or the task's episode length; actions in `[-1, 1]` are
  mapped onto the environment's bounded action box.  A diverging episode returns NaN.
  """
  if not (isinstance(episodes, int) and episodes >= 1):
    raise ValueError(f"episodes must be a positive integer, got {episodes!r}")
  env, length, name = make_judge_env(task)
  scale = episode.action_scaler(env.action_space)
  returns = np.empty((episodes,), np.float64)
  try:
    for e in range(episodes):
      total, _ = episode.run(env, act, seed=seed + e, episode_length=length, scale=scale, observe=_finite)
      returns[e] = total if math.isfinite(total) else math.nan
  finally:
    env.close()
  return returns, name


def evaluate_policy_file(path: str, episodes: int, seed: int = 0, task: str | None = None) -> tuple[np.ndarray, str]:
  """Returns `(returns (episodes,), env description)` of the compact policy at `path`, run by
  the NumPy runtime (`runtime.Policy.act`, `JUDGE_MATVEC`) on `episodes` fresh episodes seeded
  `seed, seed+1, ...` (`episode_returns`)."""
  if not (isinstance(episodes, int) and episodes >= 1):
    raise ValueError(f"episodes must be a positive integer, got {episodes!r}")
  policy = runtime.load_policy(path, matvec=JUDGE_MATVEC)
  task = task or policy.env
  if not task:
    raise ValueError(f"{path} does not name its task; pass task=")
  return episode_returns(policy.act, task, episodes, seed)
