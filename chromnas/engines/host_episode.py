"""One episode of a NumPy policy in a Gymnasium-API environment (JAX-free; runs in workers)."""

from __future__ import annotations

import math

import numpy as np

from chromnas.core import episode, forward
from chromnas.engines.host_messages import EpisodeResult


def run_episode(
  env, policy: tuple, obs_norm: tuple, *, seed: int, episode_length: int, action_repeat: int = 1, scale=None
) -> EpisodeResult:
  """Runs one episode of at most `episode_length` control steps.

  `policy = (mats, biases)` from `families.weight_matrices`; `obs_norm = (mean, std, clip)`.
  The policy sees `clip((obs - mean) / std, -clip, clip)` and acts with the same float
  maths as `forward.forward` (in float64 here, `forward.PreparedPolicy`); `scale` maps its
  actions onto the action box (`episode.action_scaler`).  The Gymnasium `reset`/`step` loop is
  `episode.run`; environments with a fused episode loop (`env.rollout`, e.g.
  `chromnas.envs.mujoco_tasks.MujocoTask`) run that instead when the actions need no scaling.
  A non-finite observation or reward, or an exception from the simulator, marks the episode
  diverged (NaN return); only the observations before the first non-finite one enter the
  statistics.  Observations go into a preallocated buffer and are summed once at the end.
  """
  act = forward.PreparedPolicy(*policy, *obs_norm)
  total, length, diverged = 0.0, 0, False
  buf: np.ndarray | None = None

  def observe(t, obs):
    nonlocal buf, length
    if buf is None:
      buf = np.empty((episode_length, np.shape(obs)[0]), np.float64)
    buf[t] = obs
    length = t  # the control steps completed, should the simulator raise during this one

  try:
    if scale is None and hasattr(env, "rollout"):
      obs, _ = env.reset(seed=int(seed))
      buf = np.empty((episode_length, np.shape(obs)[0]), np.float64)
      total, length = env.rollout(act, buf, episode_length=episode_length, action_repeat=action_repeat)
    else:
      total, length = episode.run(
        env,
        act,
        seed=seed,
        episode_length=episode_length,
        action_repeat=action_repeat,
        scale=scale,
        observe=observe,
      )
    diverged = not math.isfinite(total)
  except Exception:  # a simulator that blows up mid-episode counts as diverged  # pylint: disable=broad-except
    if buf is None:
      raise
    diverged = True
  assert buf is not None, "every episode observes its first observation"
  seen = buf[:length]
  finite_rows = np.all(np.isfinite(seen), axis=1)
  if not finite_rows.all():
    diverged = True
    seen = seen[: int(np.argmin(finite_rows))]
  return EpisodeResult(
    math.nan if diverged else total, length, float(seen.shape[0]), seen.sum(axis=0), np.einsum("ij,ij->j", seen, seen)
  )
