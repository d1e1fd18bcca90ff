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
import os

import gymnasium
import mujoco
import numpy as np


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
    "hopper": TaskRules("hopper.xml", 4, 1e-3, 5e-3, False, 1, 10.0, 1.0, (0.7, np.inf), (-0.2, 0.2),
                        (-100.0, 100.0)),
    "walker2d": TaskRules("walker2d_v5.xml", 4, 1e-3, 5e-3, False, 1, 10.0, 1.0, (0.8, 2.0), (-1.0, 1.0)),
}


def asset_path(xml: str) -> str:
  """Path of a model file shipped in Gymnasium's MuJoCo assets."""
  return os.path.join(os.path.dirname(gymnasium.__file__), "envs", "mujoco", "assets", xml)


class MujocoTask(gymnasium.Env):
  """A Gymnasium-API locomotion task stepping `mujoco` directly (see the module docstring)."""

  def __init__(self, name: str, max_episode_steps: int = 1000):
    if name not in RULES:
      raise ValueError(f"unknown native MuJoCo task {name!r}; choose one of {sorted(RULES)}")
    self.rules = r = RULES[name]
    self.model = mujoco.MjModel.from_xml_path(asset_path(r.xml))
    self.data = mujoco.MjData(self.model)
    self.init_qpos = self.data.qpos.copy()
    self.init_qvel = self.data.qvel.copy()
    self.dt = self.model.opt.timestep * r.frame_skip
    self.max_episode_steps = max_episode_steps
    obs_dim = self.model.nq - r.skip_qpos + self.model.nv
    self.observation_space = gymnasium.spaces.Box(-np.inf, np.inf, (obs_dim,), np.float64)
    low, high = self.model.actuator_ctrlrange.T.astype(np.float32)
    self.action_space = gymnasium.spaces.Box(low, high, dtype=np.float32)
    self._rng = np.random.default_rng()
    self._t = 0

  def _obs(self) -> np.ndarray:
    qvel = self.data.qvel
    if self.rules.clip_qvel is not None:
      qvel = np.clip(qvel, -self.rules.clip_qvel, self.rules.clip_qvel)
    return np.concatenate([self.data.qpos[self.rules.skip_qpos:], qvel])

  def _healthy(self) -> bool:
    r, qpos = self.rules, self.data.qpos
    if r.healthy_z is None:
      return True
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

  def step(self, action):
    r = self.rules
    x_before = self.data.qpos[0]
    self.data.ctrl[:] = action
    mujoco.mj_step(self.model, self.data, nstep=r.frame_skip)
    velocity = (self.data.qpos[0] - x_before) / self.dt
    reward = velocity - r.ctrl_cost * float(np.dot(action, action))
    terminated = False
    if r.healthy_z is not None:
      healthy = self._healthy()
      reward += r.healthy_reward * healthy
      terminated = not healthy
    self._t += 1
    return self._obs(), reward, terminated, self._t >= self.max_episode_steps, {}


def make_host(name: str, **kwargs) -> MujocoTask:
  """Registry hook: `make_host('halfcheetah')` etc."""
  return MujocoTask(name, **kwargs)
