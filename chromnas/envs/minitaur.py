"""Minitaur quadruped on the PyBullet API, as a Gymnasium environment (no `pybullet_envs`).

`pybullet_envs` (with its `MinitaurBulletEnv`) cannot be imported with current packages (it needs
the old `gym`), so this module rebuilds the task directly on `pybullet` with the
`quadruped/minitaur.urdf` model shipped in `pybullet_data`.  Each `MinitaurEnv` owns its own
headless (`DIRECT`) physics client and passes `physicsClientId` on every call, so several
environments can live in one process.

Model.  `plane.urdf` plus `quadruped/minitaur.urdf` (6 kg); the two motors of each leg drive a
closed four-bar linkage, closed by a point-to-point constraint between the two lower legs, and the
knee joints are passive.  Gravity -10 m/s^2, simulation step `sim_dt = 0.002` s, 60 solver
iterations (the settings `pybullet_envs` used for its PD / accurate-motor modes).

Motors (a simple PD servo with a torque limit, applied with `TORQUE_CONTROL` at every simulation
step):  `tau = clip(kp * (q_des - q) - kd * dq, -max_torque, max_torque)` with
`kp = 8 N m/rad`, `kd = 0.2 N m s/rad`, `max_torque = 3.5 N m` (motor angles `q` are measured in
the motor's own direction, see `MOTOR_DIRECTION`).  `kp` and `kd` are roughly the stiffness and
damping of the DC-motor model of `pybullet_envs` (16 V, 0.186 ohm, 0.0954 N m/A, PWM gains 1.0
and 0.02, plus back-EMF damping), linearised; its PWM / current saturation is replaced by the
torque limit (3.5 N m, the force limit of `pybullet_envs`' default position control).

Actions (8 numbers in [-1, 1]).  With `leg_model=True` (the default, as in `pybullet_envs`) the
action is `(e_0..e_3, s_0..s_3)`: extension `e_l` and swing `s_l` of the legs front-left,
back-left, front-right, back-right, mapped to the desired motor angles
`q_des[2l + k] = pi - (pi/4) (s_l + 1.5) + sgn_{l,k} (pi/4) e_l`, with `sgn = (-1)^k` for the
left legs and `-(-1)^k` for the right ones (k = 0 for the L motor, 1 for the R motor).  With
`leg_model=False` the action is the 8 desired motor angles themselves, affinely mapped from
[-1, 1] onto [0, pi] (`q_des = pi/2 (a + 1)`).

Control.  One control step holds the action for `action_repeat = 5` simulation steps:
100 Hz control.  Episodes have `max_episode_steps = 1000` control steps (10 s) by default.

Observation (28, float64): the 8 motor angles (rad), the 8 motor velocities (rad/s), the 8 motor
torques of the last simulation step (N m), then the base orientation quaternion (x, y, z, w,
PyBullet's order), the layout of `pybullet_envs`' Minitaur observation.  The poster lists
`(7, 13)` for Minitaur; we could not find an observation / action layout of that size in any
Minitaur variant we know (PyBullet's has 28 / 8), so ours is the PyBullet one: `(28, 8)`.

Reward per control step, as `pybullet_envs`' `MinitaurBulletEnv` (distance weight 1, energy
weight 0.005, drift and shake weights 0): `(x_t - x_{t-1}) - 0.005 * E_t`, `x` the base's world x
position and `E_t = |tau . dq| * sim_dt` from the torques of the control step's last simulation
step and the motor velocities after it (`pybullet_envs` multiplies by its simulation step, 2 ms
with its accurate motor model, where the 5 simulation steps make one 10 ms control step).

Termination (`terminated=True`): the robot has fallen, i.e. the z component of the base's up
axis is below 0.85 or the base is below 0.13 m.  Truncation at `max_episode_steps`.

Reset.  The simulation is built once; `reset(seed)` restores the saved post-load state (so Bullet
starts from identical internal state: same seed -> same episode), puts the legs in the
standing pose with motor angles `pi/2 + U(-init_noise, init_noise)` (seeded), and lets the robot
settle for `settle_steps = 100` simulation steps under the PD servo holding that pose, as
`pybullet_envs` did.
"""

from __future__ import annotations

import math

import gymnasium
import numpy as np
import pybullet
import pybullet_data

OBS_DIM, ACT_DIM = 28, 8
NUM_LEGS, NUM_MOTORS = 4, 8
LEG_NAMES = ("front_left", "back_left", "front_right", "back_right")
MOTOR_NAMES = tuple(f"motor_{leg}{side}_joint" for leg in LEG_NAMES for side in "LR")
KNEE_NAMES = tuple(f"knee_{leg}{side}_link" for leg in LEG_NAMES for side in "LR")
MOTOR_DIRECTION = np.array([-1, -1, -1, -1, 1, 1, 1, 1], np.float64)
KNEE_ANGLE = -2.1834  # standing pose of the passive knees (rad, in the motor's direction)
KNEE_POINT_R, KNEE_POINT_L = (0.0, 0.005, 0.2), (0.0, 0.01, 0.2)  # four-bar closure points
INIT_POSITION, INIT_ORIENTATION = (0.0, 0.0, 0.2), (0.0, 0.0, 0.0, 1.0)


def leg_model_to_motor_angles(action: np.ndarray) -> np.ndarray:
  """Desired motor angles `(8,)` from a leg-model action `(8,)` = (4 extensions, 4 swings)."""
  action = np.asarray(action, np.float64)
  ext, swing = action[:NUM_LEGS], action[NUM_LEGS:]
  quarter_pi = math.pi / 4
  angles = np.empty(NUM_MOTORS)
  for i in range(NUM_MOTORS):
    leg = i // 2
    extension = (-1) ** i * quarter_pi * ext[leg]
    if i >= NUM_MOTORS // 2:
      extension = -extension
    angles[i] = math.pi - quarter_pi * (swing[leg] + 1.5) + extension
  return angles


def up_z(quaternion) -> float:
  """z component of the body's up axis for an (x, y, z, w) quaternion: `1 - 2 (x^2 + y^2)`."""
  x, y, _, _ = quaternion
  return 1.0 - 2.0 * (x * x + y * y)


class MinitaurEnv(gymnasium.Env):
  """Minitaur walking forward on a plane; see the module docstring for every detail.

  Args:
    max_episode_steps: control steps before truncation (default 1000, 10 s).
    action_repeat: simulation steps per control step (default 5; with `sim_dt` 0.002: 100 Hz).
    sim_dt: simulation step in seconds.
    leg_model: actions are leg extensions / swings (True) or motor angles (False).
    motor_kp, motor_kd, max_torque: the PD servo (N m/rad, N m s/rad, N m).
    energy_weight: weight of the energy penalty in the reward.
    init_noise: half-width of the uniform noise on the initial motor angles (rad).
    settle_steps: simulation steps the robot settles for at reset.
    solver_iterations: Bullet solver iterations.
  """

  metadata = {"render_modes": []}

  def __init__(
    self,
    max_episode_steps: int = 1000,
    action_repeat: int = 5,
    sim_dt: float = 0.002,
    leg_model: bool = True,
    motor_kp: float = 8.0,
    motor_kd: float = 0.2,
    max_torque: float = 3.5,
    energy_weight: float = 0.005,
    init_noise: float = 0.05,
    settle_steps: int = 100,
    solver_iterations: int = 60,
  ):
    self.max_episode_steps = int(max_episode_steps)
    self.action_repeat = int(action_repeat)
    self.sim_dt = float(sim_dt)
    self.leg_model = bool(leg_model)
    self.kp, self.kd, self.max_torque = float(motor_kp), float(motor_kd), float(max_torque)
    self.energy_weight = float(energy_weight)
    self.init_noise = float(init_noise)
    self.settle_steps = int(settle_steps)
    self.observation_space = gymnasium.spaces.Box(-np.inf, np.inf, (OBS_DIM,), np.float64)
    self.action_space = gymnasium.spaces.Box(-1.0, 1.0, (ACT_DIM,), np.float64)
    self.np_random = np.random.default_rng(0)  # until `reset(seed=...)`: explicit, not from the OS
    self._t = 0
    self._torque = np.zeros(NUM_MOTORS)
    self._cid = pybullet.connect(pybullet.DIRECT)
    self._build(int(solver_iterations))

  # --- simulation -------------------------------------------------------------------------------
  def _build(self, solver_iterations: int) -> None:
    cid = self._cid
    pybullet.resetSimulation(physicsClientId=cid)
    pybullet.setPhysicsEngineParameter(numSolverIterations=solver_iterations, physicsClientId=cid)
    pybullet.setTimeStep(self.sim_dt, physicsClientId=cid)
    pybullet.setGravity(0, 0, -10, physicsClientId=cid)
    data = pybullet_data.getDataPath()
    pybullet.loadURDF(f"{data}/plane.urdf", physicsClientId=cid)
    self._robot = pybullet.loadURDF(
      f"{data}/quadruped/minitaur.urdf", INIT_POSITION, INIT_ORIENTATION, physicsClientId=cid
    )
    names = {}
    for j in range(pybullet.getNumJoints(self._robot, physicsClientId=cid)):
      info = pybullet.getJointInfo(self._robot, j, physicsClientId=cid)
      names[info[1].decode()] = j
    self._motors = [names[n] for n in MOTOR_NAMES]
    self._knees = [names[n] for n in KNEE_NAMES]
    self._set_pose(np.full(NUM_MOTORS, math.pi / 2))
    for leg in range(NUM_LEGS):  # close each leg's four-bar linkage
      pybullet.createConstraint(
        self._robot,
        self._knees[2 * leg + 1],
        self._robot,
        self._knees[2 * leg],
        pybullet.JOINT_POINT2POINT,
        [0, 0, 0],
        KNEE_POINT_R,
        KNEE_POINT_L,
        physicsClientId=cid,
      )
    # Free the knees and switch off Bullet's default velocity motors (we apply torques).
    pybullet.setJointMotorControlArray(
      self._robot,
      self._motors + self._knees,
      pybullet.VELOCITY_CONTROL,
      forces=[0.0] * (2 * NUM_MOTORS),
      physicsClientId=cid,
    )
    self._saved = pybullet.saveState(physicsClientId=cid)

  def _set_pose(self, motor_angles: np.ndarray) -> None:
    """Puts the base at its initial pose and the legs at `motor_angles` `(8,)` (motor direction)."""
    cid = self._cid
    pybullet.resetBasePositionAndOrientation(self._robot, INIT_POSITION, INIT_ORIENTATION, physicsClientId=cid)
    pybullet.resetBaseVelocity(self._robot, [0, 0, 0], [0, 0, 0], physicsClientId=cid)
    for i in range(NUM_MOTORS):
      d = MOTOR_DIRECTION[i]
      pybullet.resetJointState(self._robot, self._motors[i], d * motor_angles[i], 0.0, physicsClientId=cid)
      pybullet.resetJointState(self._robot, self._knees[i], d * KNEE_ANGLE, 0.0, physicsClientId=cid)

  def motor_state(self) -> tuple[np.ndarray, np.ndarray]:
    """Motor angles and velocities `(8,), (8,)`, in the motors' own direction."""
    states = pybullet.getJointStates(self._robot, self._motors, physicsClientId=self._cid)
    q = np.array([s[0] for s in states]) * MOTOR_DIRECTION
    dq = np.array([s[1] for s in states]) * MOTOR_DIRECTION
    return q, dq

  def base_pose(self) -> tuple[np.ndarray, np.ndarray]:
    """Base position `(3,)` and orientation quaternion `(4,)` (x, y, z, w)."""
    pos, quat = pybullet.getBasePositionAndOrientation(self._robot, physicsClientId=self._cid)
    return np.asarray(pos), np.asarray(quat)

  def _sim_step(self, q_des: np.ndarray) -> float:
    """One simulation step under the PD servo towards `q_des`; returns the energy |tau.dq| dt (J)."""
    q, dq = self.motor_state()
    tau = np.clip(self.kp * (q_des - q) - self.kd * dq, -self.max_torque, self.max_torque)
    pybullet.setJointMotorControlArray(
      self._robot, self._motors, pybullet.TORQUE_CONTROL, forces=tau * MOTOR_DIRECTION, physicsClientId=self._cid
    )
    pybullet.stepSimulation(physicsClientId=self._cid)
    self._torque = tau
    return abs(float(np.dot(tau, dq))) * self.sim_dt

  def _obs(self) -> np.ndarray:
    q, dq = self.motor_state()
    _, quat = self.base_pose()
    return np.concatenate([q, dq, self._torque, quat])

  def fallen(self) -> bool:
    """True when the base's up axis has z < 0.85 or the base is lower than 0.13 m."""
    pos, quat = self.base_pose()
    return up_z(quat) < 0.85 or pos[2] < 0.13

  def motor_targets(self, action) -> np.ndarray:
    """Desired motor angles `(8,)` for an action `(8,)` in [-1, 1] (clipped)."""
    a = np.clip(np.asarray(action, np.float64), -1.0, 1.0)
    return leg_model_to_motor_angles(a) if self.leg_model else (a + 1.0) * (math.pi / 2)

  # --- Gymnasium API ---------------------------------------------------------------------------
  def reset(self, *, seed=None, options=None):
    """Restores the standing pose (seeded noise on the motor angles); returns `(obs (28,), info)`."""
    super().reset(seed=seed)  # reseeds `self.np_random` when `seed` is given
    pybullet.restoreState(self._saved, physicsClientId=self._cid)
    home = np.full(NUM_MOTORS, math.pi / 2) + self.np_random.uniform(-self.init_noise, self.init_noise, NUM_MOTORS)
    self._set_pose(home)
    self._torque = np.zeros(NUM_MOTORS)
    for _ in range(self.settle_steps):
      self._sim_step(home)
    self._t = 0
    self._x = self.base_pose()[0][0]
    return self._obs(), {}

  def step(self, action):
    """One control step (`action_repeat` simulation steps); `(obs, reward, terminated, truncated, info)`."""
    q_des = self.motor_targets(action)
    for _ in range(self.action_repeat):
      self._sim_step(q_des)
    # pybullet_envs charges the energy once per control step, from the last simulation step's
    # torques and the motor velocities after it, times the simulation step.
    energy = abs(float(np.dot(self._torque, self.motor_state()[1]))) * self.sim_dt
    x = self.base_pose()[0][0]
    forward = x - self._x
    self._x = x
    reward = forward - self.energy_weight * energy
    self._t += 1
    terminated = self.fallen()
    truncated = self._t >= self.max_episode_steps
    info = {"forward": forward, "energy": energy, "x": x}
    return self._obs(), float(reward), bool(terminated), bool(truncated), info

  def push(self, linear_velocity=(0.0, 0.0, 0.0), angular_velocity=(0.0, 0.0, 0.0)) -> None:
    """Sets the base's velocity (m/s, rad/s, world frame): a kick, for tests and robustness checks."""
    pybullet.resetBaseVelocity(self._robot, list(linear_velocity), list(angular_velocity), physicsClientId=self._cid)

  def close(self):
    """Disconnects this environment's physics client."""
    if getattr(self, "_cid", -1) >= 0:
      try:
        pybullet.disconnect(physicsClientId=self._cid)
      except pybullet.error:
        pass
      self._cid = -1

  def __del__(self):
    try:
      self.close()
    except Exception:  # at interpreter exit pybullet may be torn down before this object
      pass


def make_host(name: str = "minitaur", **kwargs) -> MinitaurEnv:
  """`'minitaur'`: a `MinitaurEnv` (keyword arguments go to its constructor)."""
  if name != "minitaur":
    raise ValueError(f"unknown task {name!r}; this module provides 'minitaur'")
  return MinitaurEnv(**kwargs)
