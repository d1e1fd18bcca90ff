"""One episode of a NumPy policy in a Gymnasium-API environment (JAX-free; runs in workers)."""

from __future__ import annotations

import math

import numpy as np

from chromnas.core import forward
from chromnas.engines.host_messages import EpisodeResult


def action_scaler(action_space):
  """Maps tanh outputs in [-1, 1] onto a bounded Box action space; `None` where no scaling is
  needed (the space is [-1, 1] or unbounded)."""
  low = np.asarray(getattr(action_space, "low", -1.0), np.float64)
  high = np.asarray(getattr(action_space, "high", 1.0), np.float64)
  if not (np.all(np.isfinite(low)) and np.all(np.isfinite(high))) or (np.all(low == -1) and np.all(high == 1)):
    return None
  return lambda a: low + (a + 1.0) * 0.5 * (high - low)


class PreparedPolicy:
  """`action = policy(obs)`: `tanh(W_L tanh(... tanh(W_1 z + b_1)))` with
  `z = clip((obs - mean) / std, -clip, clip)`, in float64, for one observation `(obs_dim,)`.

  Built for the host episode loops, where each NumPy call costs about a microsecond next to a
  ~30 us simulator step.  The normalisation is folded into the first layer: since `std > 0`,
  `z = (clip(obs, mean - clip std, mean + clip std) - mean) / std`, so
  `W_1 z + b_1 = [W_1 / std, b_1 - W_1 (mean / std)] . [clip(obs, lo, hi), 1]`, and the first
  layer is one clip, one dot and one tanh (equal to the unfolded form up to float rounding).
  Every call writes into buffers allocated once; the returned action is one of them and is
  overwritten by the next call.
  """

  def __init__(self, mats, biases, mean, std, clip: float):
    mean = np.asarray(mean, np.float64)
    std = np.asarray(std, np.float64)
    n = mean.shape[0]
    weights_t = [np.asarray(w, np.float64).T for w in mats]
    biases = [np.asarray(b, np.float64) for b in biases]
    first_bias = biases[0] if biases else np.zeros(weights_t[0].shape[1])
    scaled = weights_t[0] / std[:, None]
    self.first = np.ascontiguousarray(np.vstack([scaled, first_bias - mean @ scaled]))
    self.x = np.ones(n + 1)  # [clipped obs, 1]
    self.x_obs = self.x[:n]
    self.lo, self.hi = mean - float(clip) * std, mean + float(clip) * std
    self.h1 = np.empty(self.first.shape[1])
    self.rest = [
      (np.ascontiguousarray(w), biases[i + 1] if i + 1 < len(biases) else None, np.empty(w.shape[1]))
      for i, w in enumerate(weights_t[1:])
    ]

  def __call__(self, obs: np.ndarray) -> np.ndarray:
    forward.clip_ufunc(obs, self.lo, self.hi, out=self.x_obs)
    h = np.tanh(np.dot(self.x, self.first, out=self.h1), out=self.h1)
    for wt, b, out in self.rest:
      np.dot(h, wt, out=out)
      if b is not None:
        out += b
      h = np.tanh(out, out=out)
    return h


def run_episode(
  env, policy: tuple, obs_norm: tuple, *, seed: int, episode_length: int, action_repeat: int = 1, scale=None
) -> EpisodeResult:
  """Runs one episode of at most `episode_length` control steps.

  `policy = (mats, biases)` from `families.weight_matrices`; `obs_norm = (mean, std, clip)`.
  The policy sees `clip((obs - mean) / std, -clip, clip)` and acts with the same float
  maths as `forward.forward` (in float64 here, `PreparedPolicy`).  Each control step
  repeats the action `action_repeat` times, summing rewards.  A non-finite observation or
  reward, or an exception from the simulator, marks the episode diverged (NaN return); only
  the observations before the first non-finite one enter the statistics.  Observations go
  into a preallocated buffer and are summed once at the end.  Environments with a fused
  episode loop (`env.rollout`, e.g. `chromnas.envs.mujoco_tasks.MujocoTask`) run it instead of
  the Gymnasium `reset`/`step` loop when the actions need no scaling.
  """
  act = PreparedPolicy(*policy, *obs_norm)
  total, length, diverged = 0.0, 0, False
  buf = None
  try:
    obs, _ = env.reset(seed=int(seed))
    buf = np.empty((episode_length, np.shape(obs)[0]), np.float64)
    if scale is None and hasattr(env, "rollout"):
      total, length = env.rollout(act, buf, episode_length=episode_length, action_repeat=action_repeat)
      diverged = not math.isfinite(total)
    else:
      scale = scale or (lambda a: a)
      for t in range(episode_length):
        buf[t] = obs
        action = scale(act(obs))
        done = False
        for _ in range(action_repeat):
          obs, reward, terminated, truncated, _ = env.step(action)
          total += float(reward)
          if terminated or truncated:
            done = True
            break
        length = t + 1
        if not math.isfinite(total):
          diverged = True
          break
        if done:
          break
  except Exception:  # a simulator that blows up mid-episode counts as diverged  # pylint: disable=broad-except
    if buf is None:
      raise
    diverged = True
  seen = buf[:length]
  finite_rows = np.all(np.isfinite(seen), axis=1)
  if not finite_rows.all():
    diverged = True
    seen = seen[: int(np.argmin(finite_rows))]
  return EpisodeResult(
    math.nan if diverged else total, length, float(seen.shape[0]), seen.sum(axis=0), np.einsum("ij,ij->j", seen, seen)
  )
