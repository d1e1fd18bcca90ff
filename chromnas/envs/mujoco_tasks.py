"""Lean MuJoCo locomotion tasks with Gymnasium v5 semantics, for the host workers.

Gymnasium's `HalfCheetah-v5`, `Hopper-v5`, `Walker2d-v5` and `Swimmer-v5` spend about as much
time in Python around the simulator as in `mj_step` itself.  These classes load the same
model files that Gymnasium ships and apply the same documented rules (frame skip, reward
weights, health checks, observation layout, reset noise drawn from
`numpy.random.default_rng(seed)` in the same order), with only what an ES rollout needs.
`tests/test_mujoco_tasks.py` checks that they reproduce Gymnasium's observations, rewards
and terminations step for step.

Rewards per control step (dt = timestep x frame_skip, `v` the forward velocity over the step):
* halfcheetah: `v - 0.1 |a|^2`;  swimmer: `v - 1e-4 |a|^2`;
* hopper:   `v + 1[healthy] - 1e-3 |a|^2`, ends when z <= 0.7, |angle| >= 0.2 or |state[2:]| >= 100;
* walker2d: `v + 1[healthy] - 1e-3 |a|^2`, ends when z outside (0.8, 2) or |angle| >= 1.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re

import gymnasium
import mujoco
import numpy as np

from chromnas.core import forward


@dataclasses.dataclass(frozen=True)
class TaskRules:
  xml: str
  frame_skip: int
  ctrl_cost: float
  reset_noise: float
  reset_qvel_gaussian: bool  # True: qvel noise is scale * N(0, 1); False: U(-scale, scale)
  skip_qpos: int  # leading qpos entries left out of the observation
  clip_qvel: float | None
  healthy_reward: float = 0.0
  healthy_z: tuple[float, float] | None = None
  healthy_angle: tuple[float, float] | None = None
  healthy_state: tuple[float, float] | None = None


RULES = {
  "halfcheetah": TaskRules("half_cheetah.xml", 5, 0.1, 0.1, True, 1, None),
  "swimmer": TaskRules("swimmer.xml", 4, 1e-4, 0.1, False, 2, None),
  "hopper": TaskRules("hopper.xml", 4, 1e-3, 5e-3, False, 1, 10.0, 1.0, (0.7, np.inf), (-0.2, 0.2), (-100.0, 100.0)),
  "walker2d": TaskRules("walker2d_v5.xml", 4, 1e-3, 5e-3, False, 1, 10.0, 1.0, (0.8, 2.0), (-1.0, 1.0)),
}


def asset_path(xml: str) -> str:
  """Path of a model file shipped in Gymnasium's MuJoCo assets."""
  return os.path.join(os.path.dirname(gymnasium.__file__), "envs", "mujoco", "assets", xml)


def load_model(path: str) -> mujoco.MjModel:
  """Compiles a model file.  A deprecated `<compiler settotalmass="M">` (HalfCheetah's) is
  applied after compiling with `mj_setTotalmass` + `mj_setConst`, the replacement MuJoCo's
  deprecation warning names, which gives the same model without a warning in every worker."""
  with open(path, encoding="utf-8") as f:
    xml = f.read()
  match = re.search(r'\s+settotalmass="([^"]+)"', xml)
  if match is None:
    return mujoco.MjModel.from_xml_path(path)
  spec = mujoco.MjSpec.from_string(xml.replace(match.group(0), ""))
  spec.modelfiledir = os.path.dirname(path)
  model = spec.compile()
  mujoco.mj_setTotalmass(model, float(match.group(1)))
  mujoco.mj_setConst(model, mujoco.MjData(model))
  return model


class MujocoTask(gymnasium.Env):
  """A Gymnasium-API locomotion task stepping `mujoco` directly (see the module docstring)."""

  def __init__(
    self,
    name: str,
    max_episode_steps: int = 1000,
    healthy_reward: float | None = None,
    ctrl_cost_weight: float | None = None,
  ):
    """`healthy_reward` and `ctrl_cost_weight` (Gymnasium's names) replace the task's own."""
    if name not in RULES:
      raise ValueError(f"unknown native MuJoCo task {name!r}; choose one of {sorted(RULES)}")
    r = RULES[name]
    if healthy_reward is not None:
      r = dataclasses.replace(r, healthy_reward=float(healthy_reward))
    if ctrl_cost_weight is not None:
      r = dataclasses.replace(r, ctrl_cost=float(ctrl_cost_weight))
    self.rules = r
    self.model = load_model(asset_path(r.xml))
    self.data = mujoco.MjData(self.model)
    self.init_qpos = self.data.qpos.copy()
    self.init_qvel = self.data.qvel.copy()
    self.dt = self.model.opt.timestep * r.frame_skip
    self.max_episode_steps = max_episode_steps
    obs_dim = self._obs_dim = self.model.nq - r.skip_qpos + self.model.nv
    self.observation_space = gymnasium.spaces.Box(-np.inf, np.inf, (obs_dim,), np.float64)
    low, high = self.model.actuator_ctrlrange.T.astype(np.float32)
    self.action_space = gymnasium.spaces.Box(low, high, dtype=np.float32)
    self._rng = np.random.default_rng()
    self._t = 0

  def _write_obs(self, out: np.ndarray) -> np.ndarray:
    """Writes the observation `[qpos[skip:], clip(qvel)]` into `out (obs_dim,)` and returns it."""
    qpos, qvel = self.data.qpos, self.data.qvel
    np.concatenate((qpos[self.rules.skip_qpos :], qvel), out=out)
    if self.rules.clip_qvel is not None:
      vel = out[qpos.shape[0] - self.rules.skip_qpos :]
      forward.clip_ufunc(vel, -self.rules.clip_qvel, self.rules.clip_qvel, out=vel)
    return out

  def _obs(self) -> np.ndarray:
    return self._write_obs(np.empty(self._obs_dim))

  def _healthy(self) -> bool:
    r, qpos = self.rules, self.data.qpos
    if r.healthy_z is None:
      return True
    assert r.healthy_angle is not None, "the walkers' healthy range bounds the torso angle too"
    z, angle = qpos[1], qpos[2]
    ok = r.healthy_z[0] < z < r.healthy_z[1] and r.healthy_angle[0] < angle < r.healthy_angle[1]
    if ok and r.healthy_state is not None:
      state = np.concatenate([qpos, self.data.qvel])[2:]
      ok = bool(np.all((r.healthy_state[0] < state) & (state < r.healthy_state[1])))
    return ok

  def reset(self, *, seed=None, options=None):
    if seed is not None:
      self._rng = np.random.default_rng(seed)
    r = self.rules
    mujoco.mj_resetData(self.model, self.data)
    self.data.qpos[:] = self.init_qpos + self._rng.uniform(-r.reset_noise, r.reset_noise, self.model.nq)
    if r.reset_qvel_gaussian:
      self.data.qvel[:] = self.init_qvel + r.reset_noise * self._rng.standard_normal(self.model.nv)
    else:
      self.data.qvel[:] = self.init_qvel + self._rng.uniform(-r.reset_noise, r.reset_noise, self.model.nv)
    mujoco.mj_forward(self.model, self.data)
    self._t = 0
    return self._obs(), {}

  def _advance(self, action) -> tuple[float, bool]:
    """One control step of the simulator: `(reward, terminated)`."""
    r, data = self.rules, self.data
    x_before = data.qpos[0]
    data.ctrl[:] = action
    mujoco.mj_step(self.model, data, nstep=r.frame_skip)
    reward = (data.qpos[0] - x_before) / self.dt - r.ctrl_cost * float(np.dot(action, action))
    if r.healthy_z is None:
      return reward, False
    healthy = self._healthy()
    return reward + r.healthy_reward * healthy, not healthy

  def step(self, action):
    reward, terminated = self._advance(action)
    self._t += 1
    return self._obs(), reward, terminated, self._t >= self.max_episode_steps, {}

  def rollout(self, policy, obs_buf: np.ndarray, *, episode_length: int, action_repeat: int = 1) -> tuple[float, int]:
    """The episode loop fused with the simulator, for the host workers: call after `reset`.

    Runs up to `episode_length` control steps of `action = policy(obs)`, each repeated
    `action_repeat` times, with exactly `step`'s rules, writing the observation seen at control
    step `t` into `obs_buf[t]`.  Returns `(total reward, control steps run)`.  It skips what
    `step` builds for the Gymnasium API (a new observation array and the result tuple), which
    is a few microseconds of a ~30 us step.
    """
    total = 0.0
    for t in range(episode_length):
      action = policy(self._write_obs(obs_buf[t]))
      for _ in range(action_repeat):
        reward, terminated = self._advance(action)
        total += reward
        self._t += 1
        if terminated or self._t >= self.max_episode_steps:
          return total, t + 1
      if not math.isfinite(total):
        return total, t + 1
    return total, episode_length


def make_host(name: str, **kwargs) -> MujocoTask:
  """Registry hook: `make_host('halfcheetah')` etc."""
  return MujocoTask(name, **kwargs)
