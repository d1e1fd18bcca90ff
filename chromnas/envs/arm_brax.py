"""Striker and Thrower as Brax environments on MJX (`PipelineEnv`, `backend='mjx'`).

The models, rewards and constants are `chromnas.envs.arm_tasks`' (see its docstring); this module
adds the Brax side and imports JAX, Brax and MJX (host worker processes never import it).
"""

from __future__ import annotations

import jax
import mujoco
import numpy as np
from brax.envs.base import PipelineEnv, State
from brax.io import mjcf
from jax import numpy as jp
from mujoco import mjx

from chromnas.envs.arm_tasks import (
  ACT_DIM,
  ARM_DOF,
  FRAME_SKIP,
  OBS_DIM,
  STRIKER_BALL_START,
  STRIKER_GOAL_HIGH,
  STRIKER_GOAL_LOW,
  STRIKER_QVEL_NOISE,
  TABLE_Z,
  TASKS,
  THROWER_GOAL_CENTER,
  THROWER_GOAL_SPREAD,
  THROWER_QVEL_NOISE,
  TORQUE_LIMIT,
  model_xml,
  striker_reward,
  thrower_reward,
)


class _BraxArmEnv(PipelineEnv):
  """Common part of the Brax arm tasks (see the module docstring); only `backend='mjx'`."""

  task = ""

  def __init__(self, backend: str = "mjx", n_frames: int = FRAME_SKIP, **kwargs):
    if backend != "mjx":
      raise ValueError(f"the {self.task} model runs on the 'mjx' Brax backend only, not {backend!r}")
    sys = mjcf.loads(model_xml(self.task))
    super().__init__(sys=sys, backend=backend, n_frames=n_frames, **kwargs)
    mj = sys.mj_model
    self._tip = mujoco.mj_name2id(mj, mujoco.mjtObj.mjOBJ_SITE, "tip")
    self._ball = mujoco.mj_name2id(mj, mujoco.mjtObj.mjOBJ_SITE, "ball")
    self._nq, self._nv = mj.nq, mj.nv
    self._qpos0 = np.asarray(mj.qpos0)

  @property
  def observation_size(self) -> int:
    return OBS_DIM

  @property
  def action_size(self) -> int:
    return ACT_DIM

  def positions(self, pipeline_state, goal):
    """Tip, ball and goal positions `(3,)` from fresh kinematics of `pipeline_state`."""
    sites = mjx.kinematics(self.sys, pipeline_state).site_xpos
    return sites[self._tip], sites[self._ball], goal

  def _arm_start(self, key: jax.Array, qvel_noise: float) -> tuple[jax.Array, jax.Array]:
    """`(qpos, qvel)` of a new episode: the model's rest pose, arm velocities `U(-noise, noise)`
    (from `key`) and the ball at rest."""
    qpos = jp.asarray(self._qpos0, jp.float32)
    noise = jax.random.uniform(key, (ARM_DOF,), minval=-qvel_noise, maxval=qvel_noise)
    return qpos, jp.zeros(self._nv).at[:ARM_DOF].set(noise)

  def _obs(self, pipeline_state, goal):
    tip, ball, goal = self.positions(pipeline_state, goal)
    return jp.concatenate([pipeline_state.qpos[:ARM_DOF], pipeline_state.qvel[:ARM_DOF], tip, ball, goal])

  def reset(self, rng: jax.Array) -> State:
    """New episode from a PRNG key."""
    return self.reset_to(*self.sample_initial_state(rng))

  def reset_to(self, qpos, qvel, goal) -> State:
    """Episode starting from `qpos (nq,)`, `qvel (nv,)`, `goal (3,)`."""
    qpos, qvel, goal = (jp.asarray(x, jp.float32) for x in (qpos, qvel, goal))
    pipeline_state = self.pipeline_init(qpos, qvel)
    obs = self._obs(pipeline_state, goal)
    info = {"goal": goal, **self._init_latches(obs)}
    zero = jp.zeros(())
    metrics = {k: zero for k in self._metric_names}
    return State(pipeline_state, obs, zero, zero, metrics, info)

  def step(self, state: State, action: jax.Array) -> State:
    """One control step; `action (7,)` in [-1, 1] is applied as torque `2 * action`."""
    torque = jp.clip(action * TORQUE_LIMIT, -TORQUE_LIMIT, TORQUE_LIMIT)
    pipeline_state = self.pipeline_step(state.pipeline_state, torque)
    goal = state.info["goal"]
    obs = self._obs(pipeline_state, goal)
    reward, latches, terms = self._reward(obs, torque, state.info)
    metrics = {**state.metrics, **terms}
    return state.replace(
      pipeline_state=pipeline_state, obs=obs, reward=reward, metrics=metrics, info={**state.info, **latches}
    )


class BraxStriker(_BraxArmEnv):
  """Striker through MJX (`PipelineEnv`); kwargs `backend='mjx'`, `n_frames=5`."""

  task = "striker"
  _metric_names = ("reward_dist", "reward_near", "reward_ctrl")

  def sample_initial_state(self, rng):
    """`(qpos, qvel, goal)`: arm velocities `U(-0.1, 0.1)`, goal uniform in its box."""
    k1, k2 = jax.random.split(rng)
    qpos, qvel = self._arm_start(k1, STRIKER_QVEL_NOISE)
    goal_xy = jax.random.uniform(k2, (2,), minval=jp.array(STRIKER_GOAL_LOW), maxval=jp.array(STRIKER_GOAL_HIGH))
    return qpos, qvel, jp.concatenate([goal_xy, jp.array([STRIKER_BALL_START[2]])])

  def _init_latches(self, obs):
    return {"min_dist": jp.linalg.norm(obs[17:20] - obs[20:23]), "struck": jp.bool_(False), "ball0": obs[17:20]}

  def _reward(self, obs, torque, info):
    reward, min_dist, struck, terms = striker_reward(
      jp, obs[14:17], obs[17:20], obs[20:23], torque, info["min_dist"], info["struck"], info["ball0"]
    )
    return reward, {"min_dist": min_dist, "struck": struck}, terms


class BraxThrower(_BraxArmEnv):
  """Thrower through MJX (`PipelineEnv`); kwargs `backend='mjx'`, `n_frames=5`."""

  task = "thrower"
  _metric_names = ("reward_dist", "reward_ctrl")

  def sample_initial_state(self, rng):
    """`(qpos, qvel, goal)`: arm velocities `U(-0.005, 0.005)`, goal uniform in its square."""
    k1, k2 = jax.random.split(rng)
    qpos, qvel = self._arm_start(k1, THROWER_QVEL_NOISE)
    goal_xy = jp.array(THROWER_GOAL_CENTER) + jax.random.uniform(
      k2, (2,), minval=-THROWER_GOAL_SPREAD, maxval=THROWER_GOAL_SPREAD
    )
    return qpos, qvel, jp.concatenate([goal_xy, jp.array([TABLE_Z])])

  def _init_latches(self, obs):
    return {"landed": jp.bool_(False), "landing": obs[17:19]}

  def _reward(self, obs, torque, info):
    reward, landed, landing, terms = thrower_reward(jp, obs[17:20], obs[20:23], torque, info["landed"], info["landing"])
    return reward, {"landed": landed, "landing": landing}, terms


BRAX_ENVS = {"striker": BraxStriker, "thrower": BraxThrower}


def make_brax(name: str, backend: str = "mjx", **kwargs) -> _BraxArmEnv:
  """`'striker'` or `'thrower'` as a Brax `PipelineEnv` on MJX (kwargs: `n_frames`, `debug`)."""
  if name not in BRAX_ENVS:
    raise ValueError(f"unknown arm task {name!r}; use one of {TASKS}")
  return BRAX_ENVS[name](backend=backend, **kwargs)
