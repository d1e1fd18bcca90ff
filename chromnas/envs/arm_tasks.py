"""Striker and Thrower: the 7-DoF arm tasks of the old MuJoCo gym (v2), rebuilt on Gymnasium's Pusher arm.

Neither Brax nor Gymnasium ships them any more.  Both models are built here with `mujoco.MjSpec`
from the Pusher model in the installed Gymnasium package
(`gymnasium/envs/mujoco/assets/pusher.xml`): its object and goal bodies are removed and a ball
is added.  The same MJCF (`model_xml(name)`) drives a host version (`StrikerEnv`, `ThrowerEnv`:
`gymnasium.Env` on the plain `mujoco` API) and a Brax version through MJX
(`chromnas.envs.arm_brax.BraxStriker`, `BraxThrower`: `brax.envs.base.PipelineEnv`, `backend='mjx'`).

Common to both tasks
  * Physics step 0.01 s (the Pusher's), `frame_skip = 5` physics steps per control step
    (dt = 0.05 s), episodes of `max_episode_steps = 100` control steps (5 s).
  * Action: 7 joint torques in [-2, 2] N m (the Pusher's ctrlrange).  Host envs take torques
    (`action_space = Box(-2, 2, (7,))`, clipped); Brax envs take `a` in [-1, 1] and apply
    `2 a` (clipped), as Brax's own Pusher does.  Rewards use the torque `u`.
  * Observation (23) = 7 arm joint angles, 7 arm joint velocities, tip position (3), ball
    position (3), goal position (3).  The tip is the point between the two gripper fingers
    (the centre of Pusher's `tips_arm` body); the ball position is its centre.  Positions are
    computed from the current joint positions (kinematics rerun after the physics steps).
    Host observations are float64, Brax observations float32.
  * Initial state: arm at the zero pose with joint velocities `U(-v, v)` (v = 0.1 striker,
    0.005 thrower), ball at rest, random goal.  Host and Brax draw from different generators
    (NumPy / `jax.random`), so the same seed gives different episodes on the two engines;
    `reset_to(qpos, qvel, goal)` starts either engine from a given state.

Striker (gym's Striker-v2 idea): a ball of radius 0.05 m and 0.1 kg slides frictionlessly on
  the table (x, y slide joints at height -0.275, damping 0.1 N s/m, so a struck ball glides for
  ~1 s) from a fixed start (0.5, -0.175); it only collides with the three gripper capsules.  The
  goal is uniform in x in [0.15, 0.7], y in [0.1, 1.0] at the ball's height (at least 0.275 m
  from the start).  Reward after each control step:
      r = -3 * d_min - 0.5 * n - 0.1 * |u|^2
  with `d_min` the smallest ball-goal distance so far in the episode (a ball that passes over the
  goal keeps its credit), `n = |tip - ball|` until the strike (the tip first comes within 0.1 m
  of the ball, or the ball has moved by 0.01 m), 0 afterwards.  (gym's version used
  `-|ball - strike point|` after the strike and computed the reward before the physics steps.)
Thrower (gym's Thrower-v2 idea): gravity is on (-9.81) but the arm's bodies are
  gravity-compensated (`gravcomp=1`: the arm floats as in Pusher; the ball's weight on it is not
  compensated).  A tray under the gripper fingers (two rails and a front lip) holds a free ball
  (radius 0.035 m, 0.05 kg, friction 0.8) that the arm must fling onto the table, at a goal
  uniform in (0.575, 0.5) +- 0.3 on the table (z = -0.325), mostly beyond the arm's reach.  The
  ball "lands" the first time its centre goes below z = -0.25; reward after each control step:
      r = -|b_xy - g_xy| - 0.002 * |u|^2
  with `b_xy` the landing point once landed, the ball's current (x, y) before.  (gym used the
  same weights.)

The goal is not part of the physics model: each environment stores it (host: an attribute;
Brax: `state.info['goal']`), with the episode's reward latches (`min_dist`, `struck`, `ball0`
for the striker, `landed`, `landing` for the thrower).

MJX notes: the models use only MJX-supported features (plane, sphere and capsule geoms; hinge,
slide and free joints; gravcomp; Euler integrator).  One simplification: the thrower's tray is
made of capsules, because MJX's sphere-box collision missed the ball resting on a box tray.
Brax fuses jointless bodies into their parents when it loads MJCF; that only renames bodies, the
dynamics are the same (`tests/test_envs.py` checks that both engines give the same observations
and rewards from the same state, to 1e-3 over a few steps).

This module holds the models, the rewards and the host environments, and imports neither JAX nor
Brax (host worker processes import it); the Brax versions are in `chromnas.envs.arm_brax`.
"""

from __future__ import annotations

import functools
import pathlib

import gymnasium
import mujoco
import numpy as np

OBS_DIM, ACT_DIM = 23, 7
ARM_DOF = 7
FRAME_SKIP = 5
EPISODE_STEPS = 100
TORQUE_LIMIT = 2.0
TASKS = ("striker", "thrower")

TABLE_Z = -0.325
# Striker.
STRIKER_BALL_RADIUS, STRIKER_BALL_MASS, STRIKER_BALL_DAMPING = 0.05, 0.1, 0.1
STRIKER_BALL_START = (0.5, -0.175, TABLE_Z + STRIKER_BALL_RADIUS)
STRIKER_GOAL_LOW, STRIKER_GOAL_HIGH = (0.15, 0.1), (0.7, 1.0)
STRIKER_QVEL_NOISE = 0.1
STRIKE_RADIUS, STRIKE_MOVE = 0.1, 0.01
# Thrower.
THROWER_BALL_RADIUS, THROWER_BALL_MASS = 0.035, 0.05
THROWER_GOAL_CENTER, THROWER_GOAL_SPREAD = (0.575, 0.5), 0.3
THROWER_QVEL_NOISE = 0.005
LANDING_Z = -0.25
TRAY_HOLD = (0.06, 0.0, 0.0)  # ball centre in the wrist-roll frame, between the fingers


def pusher_xml_path() -> pathlib.Path:
  """Path of Gymnasium's Pusher MJCF (the source of the arm)."""
  return pathlib.Path(gymnasium.__file__).parent / "envs" / "mujoco" / "assets" / "pusher.xml"


def _gripper_capsules(spec: mujoco.MjSpec) -> list:
  """The three colliding capsules of the gripper (the unnamed geoms of `r_wrist_roll_link`)."""
  return [g for g in spec.body("r_wrist_roll_link").geoms if g.type == mujoco.mjtGeom.mjGEOM_CAPSULE]


def build_spec(name: str) -> mujoco.MjSpec:
  """The `MjSpec` of `'striker'` or `'thrower'`: Pusher's arm, a ball, a `tip` and a `ball` site."""
  if name not in TASKS:
    raise ValueError(f"unknown arm task {name!r}; use one of {TASKS}")
  spec = mujoco.MjSpec.from_file(str(pusher_xml_path()))
  spec.modelname = name
  for body in ("object", "goal"):
    spec.delete(spec.body(body))
  spec.body("tips_arm").add_site(name="tip", pos=[0.1, 0.0, 0.0], size=[0.01, 0.01, 0.01])
  nolimit = mujoco.mjtLimited.mjLIMITED_FALSE
  if name == "striker":
    for g in _gripper_capsules(spec):  # the gripper also collides with the ball (contype 2)
      g.conaffinity = 3
    ball = spec.worldbody.add_body(name="ball", pos=list(STRIKER_BALL_START))
    for axis, jname in (([1, 0, 0], "ball_x"), ([0, 1, 0], "ball_y")):
      ball.add_joint(
        name=jname,
        type=mujoco.mjtJoint.mjJNT_SLIDE,
        axis=axis,
        limited=nolimit,
        armature=0.0,
        damping=STRIKER_BALL_DAMPING,
      )
    _add_ball(ball, STRIKER_BALL_RADIUS, STRIKER_BALL_MASS, collision=2, condim=1)
    return spec
  # Thrower: gravity, gravity-compensated arm, a tray under the fingers and a free ball on it.
  spec.option.gravity = [0.0, 0.0, -9.81]
  for body in spec.bodies:
    if body.name != "world":
      body.gravcomp = 1.0
  wrist = spec.body("r_wrist_roll_link")
  # The tray: two rails along the gripper under the ball (capsules, so that every ball contact is an
  # analytic sphere-capsule one in both MuJoCo and MJX; MJX's sphere-box test misses a resting
  # ball) and a lip across the open front, which keeps the resting ball in: it rolls out when the
  # tray tilts by more than ~45 degrees, or is flung out by the arm's motion.
  rail_r, rail_y = 0.01, 0.03
  rail_z = TRAY_HOLD[2] - float(np.sqrt((THROWER_BALL_RADIUS + rail_r) ** 2 - rail_y**2))
  for side, y in (("rail_l", -rail_y), ("rail_r", rail_y)):
    wrist.add_geom(
      name=side,
      type=mujoco.mjtGeom.mjGEOM_CAPSULE,
      size=[rail_r, 0, 0],
      fromto=[0.0, y, rail_z, 0.12, y, rail_z],
      contype=1,
      conaffinity=1,
    )
  wrist.add_geom(
    name="lip",
    type=mujoco.mjtGeom.mjGEOM_CAPSULE,
    size=[0.012, 0, 0],
    fromto=[0.12, -0.08, rail_z, 0.12, 0.08, rail_z],
    contype=1,
    conaffinity=1,
  )
  wrist.add_site(name="hold", pos=list(TRAY_HOLD), size=[0.01, 0.01, 0.01])
  # Place the ball on the tray at the arm's zero pose.
  model = spec.compile()
  data = mujoco.MjData(model)
  mujoco.mj_kinematics(model, data)
  hold = data.site_xpos[mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_SITE, "hold")].copy()
  ball = spec.worldbody.add_body(name="ball", pos=hold.tolist())
  ball.add_freejoint(name="ball_free")
  _add_ball(ball, THROWER_BALL_RADIUS, THROWER_BALL_MASS, collision=1, condim=3)
  return spec


def _add_ball(body, radius: float, mass: float, *, collision: int, condim: int) -> None:
  """The ball's white sphere geom (`contype = conaffinity = collision`) and its site on `body`."""
  body.add_geom(
    name="ball",
    type=mujoco.mjtGeom.mjGEOM_SPHERE,
    size=[radius, 0, 0],
    mass=mass,
    contype=collision,
    conaffinity=collision,
    condim=condim,
    rgba=[1, 1, 1, 1],
  )
  body.add_site(name="ball", size=[0.01, 0.01, 0.01])


@functools.cache
def model_xml(name: str) -> str:
  """MJCF text of `'striker'` or `'thrower'` (what both the host and the Brax versions load)."""
  return build_spec(name).to_xml()


# --- rewards (shared by both engines; `xp` is numpy or jax.numpy) ----------------------------------
def striker_reward(xp, tip, ball, goal, torque, min_dist, struck, ball0):
  """Striker reward from positions `(3,)` after the step, torque `(7,)` and the episode's latches.

  `ball0 (3,)` is the ball's position at the start of the episode.  Returns
  `(reward, min_dist, struck, terms)`: the updated smallest ball-goal distance and "struck" flag
  (the tip came within `STRIKE_RADIUS` of the ball or the ball moved by more than
  `STRIKE_MOVE`), and a dict of the reward's terms.
  """
  dist = xp.linalg.norm(ball - goal)
  near = xp.linalg.norm(tip - ball)
  moved = xp.linalg.norm(ball - ball0)
  struck = xp.logical_or(struck, xp.logical_or(near < STRIKE_RADIUS, moved > STRIKE_MOVE))
  min_dist = xp.minimum(min_dist, dist)
  near_term = xp.where(struck, 0.0, near)
  ctrl = xp.sum(torque * torque)
  reward = -3.0 * min_dist - 0.5 * near_term - 0.1 * ctrl
  return reward, min_dist, struck, {"reward_dist": -min_dist, "reward_near": -near_term, "reward_ctrl": -ctrl}


def thrower_reward(xp, ball, goal, torque, landed, landing):
  """Thrower reward from the ball / goal positions `(3,)`, torque `(7,)` and the landing latches.

  Returns `(reward, landed, landing, terms)`: `landing (2,)` is the ball's (x, y), frozen at
  the first step its centre is below `LANDING_Z`.
  """
  landing = xp.where(landed, landing, ball[:2])
  landed = xp.logical_or(landed, ball[2] < LANDING_Z)
  dist = xp.linalg.norm(landing - goal[:2])
  ctrl = xp.sum(torque * torque)
  reward = -dist - 0.002 * ctrl
  return reward, landed, landing, {"reward_dist": -dist, "reward_ctrl": -ctrl}


# --- host (Gymnasium) versions ----------------------------------------------------------------------
class _HostArmEnv(gymnasium.Env):
  """Common part of the host arm tasks (see the module docstring)."""

  metadata = {"render_modes": []}
  task = ""

  def __init__(self, max_episode_steps: int = EPISODE_STEPS, frame_skip: int = FRAME_SKIP):
    self.max_episode_steps = int(max_episode_steps)
    self.frame_skip = int(frame_skip)
    self.model = build_spec(self.task).compile()
    self.data = mujoco.MjData(self.model)
    self._tip = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_SITE, "tip")
    self._ball = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_SITE, "ball")
    self.observation_space = gymnasium.spaces.Box(-np.inf, np.inf, (OBS_DIM,), np.float64)
    self.action_space = gymnasium.spaces.Box(-TORQUE_LIMIT, TORQUE_LIMIT, (ACT_DIM,), np.float64)
    self.dt = self.model.opt.timestep * self.frame_skip
    self.np_random = np.random.default_rng(0)  # until `reset(seed=...)`: explicit, not from the OS
    self._goal = np.zeros(3)
    self._t = 0

  def sample_initial_state(self, rng: np.random.Generator):
    """`(qpos (nq,), qvel (nv,), goal (3,))` of a new episode."""
    raise NotImplementedError

  def _init_latches(self) -> None:
    """Sets the task's per-episode latches from the state `reset_to` just made."""
    raise NotImplementedError

  def _reward(self, torque: np.ndarray) -> tuple[float, dict[str, float]]:
    """`(reward, info terms)` of the step just taken with `torque (7,)`; updates the latches."""
    raise NotImplementedError

  def _arm_velocities(self, rng: np.random.Generator, noise: float) -> np.ndarray:
    """Joint velocities of a fresh episode: `U(-noise, noise)` on the arm's joints, 0 elsewhere."""
    qvel = np.zeros(self.model.nv)
    qvel[:ARM_DOF] = rng.uniform(-noise, noise, ARM_DOF)
    return qvel

  def reset(self, *, seed=None, options=None):
    """New episode (seeded when `seed` is given); returns `(obs (23,), info)`."""
    super().reset(seed=seed)  # reseeds `self.np_random` when `seed` is given
    return self.reset_to(*self.sample_initial_state(self.np_random))

  def reset_to(self, qpos, qvel, goal):
    """Starts an episode from `qpos (nq,)`, `qvel (nv,)`, `goal (3,)`; returns `(obs (23,), info)`."""
    mujoco.mj_resetData(self.model, self.data)
    self.data.qpos[:] = qpos
    self.data.qvel[:] = qvel
    mujoco.mj_forward(self.model, self.data)
    self._goal = np.array(goal, np.float64)
    self._t = 0
    self._init_latches()
    return self._obs(), {}

  def positions(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Tip, ball and goal positions `(3,), (3,), (3,)` at the current state."""
    return self.data.site_xpos[self._tip].copy(), self.data.site_xpos[self._ball].copy(), self._goal.copy()

  def _obs(self) -> np.ndarray:
    tip, ball, goal = self.positions()
    return np.concatenate([self.data.qpos[:ARM_DOF], self.data.qvel[:ARM_DOF], tip, ball, goal])

  def step(self, action):
    """One control step (`frame_skip` physics steps); `(obs, reward, terminated, truncated, info)`."""
    torque = np.clip(np.asarray(action, np.float64), -TORQUE_LIMIT, TORQUE_LIMIT)
    self.data.ctrl[:] = torque
    mujoco.mj_step(self.model, self.data, nstep=self.frame_skip)
    mujoco.mj_kinematics(self.model, self.data)
    reward, info = self._reward(torque)
    self._t += 1
    return self._obs(), float(reward), False, self._t >= self.max_episode_steps, info


class StrikerEnv(_HostArmEnv):
  """Striker on the host (`gymnasium.Env`); kwargs `max_episode_steps=100`, `frame_skip=5`."""

  task = "striker"

  def sample_initial_state(self, rng):
    """Arm at zero with velocities `U(-0.1, 0.1)`, ball at its start, goal uniform in its box."""
    qvel = self._arm_velocities(rng, STRIKER_QVEL_NOISE)
    goal_xy = rng.uniform(STRIKER_GOAL_LOW, STRIKER_GOAL_HIGH)
    return self.model.qpos0.copy(), qvel, np.array([goal_xy[0], goal_xy[1], STRIKER_BALL_START[2]])

  def _init_latches(self):
    _, ball, goal = self.positions()
    self._min_dist = float(np.linalg.norm(ball - goal))
    self._struck = False
    self._ball0 = ball

  def _reward(self, torque):
    reward, self._min_dist, self._struck, terms = striker_reward(
      np, *self.positions(), torque, self._min_dist, self._struck, self._ball0
    )
    return reward, {k: float(v) for k, v in terms.items()}


class ThrowerEnv(_HostArmEnv):
  """Thrower on the host (`gymnasium.Env`); kwargs `max_episode_steps=100`, `frame_skip=5`."""

  task = "thrower"

  def sample_initial_state(self, rng):
    """Arm at zero with velocities `U(-0.005, 0.005)`, ball on the tray, goal uniform in its square."""
    qvel = self._arm_velocities(rng, THROWER_QVEL_NOISE)
    goal_xy = np.asarray(THROWER_GOAL_CENTER) + rng.uniform(-THROWER_GOAL_SPREAD, THROWER_GOAL_SPREAD, 2)
    return self.model.qpos0.copy(), qvel, np.array([goal_xy[0], goal_xy[1], TABLE_Z])

  def _init_latches(self):
    self._landed = False
    self._landing = self.positions()[1][:2]

  def _reward(self, torque):
    _, ball, goal = self.positions()
    reward, self._landed, self._landing, terms = thrower_reward(np, ball, goal, torque, self._landed, self._landing)
    self._landed = bool(self._landed)
    return reward, {**{k: float(v) for k, v in terms.items()}, "landed": self._landed}


HOST_ENVS = {"striker": StrikerEnv, "thrower": ThrowerEnv}


def make_host(name: str, **kwargs) -> _HostArmEnv:
  """`'striker'` or `'thrower'` as a `gymnasium.Env` (kwargs: `max_episode_steps`, `frame_skip`)."""
  if name not in HOST_ENVS:
    raise ValueError(f"unknown arm task {name!r}; use one of {TASKS}")
  return HOST_ENVS[name](**kwargs)
