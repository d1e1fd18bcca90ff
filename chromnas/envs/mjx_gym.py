"""Gymnasium v5's MuJoCo tasks on MJX, behind Brax's environment API (`PipelineEnv`, MJX pipeline).

The JAX engine selects these with `engine='brax', backend='mjx_gym'`.  Each task compiles the
model file that the installed Gymnasium package ships (`mujoco.MjModel.from_xml_path`, as
Gymnasium does: `brax.io.mjcf.load` would fuse jointless bodies and change Ant's contact-force
layout) and computes, in JAX, what Gymnasium's `*-v5` class computes with its default arguments:

* frame skip: each control step sets `ctrl = action` (MuJoCo clamps it to the actuator range)
  and runs `frame_skip` physics steps; `dt = timestep * frame_skip`;
* rewards (`a` the raw action, `v` the forward velocity over the control step):
    halfcheetah `v - 0.1 |a|^2`;  swimmer `v - 1e-4 |a|^2` (`v` of the root slider);
    hopper, walker2d `v + 1[healthy] - 1e-3 |a|^2`;
    ant `v + 1[healthy] - 0.5 |a|^2 - 5e-4 |clip(cfrc_ext, -1, 1)|^2` (`v` of the torso's frame
      origin `xpos`, which after a step is where MuJoCo last ran kinematics: its last RK4 stage);
    reacher `-|fingertip - target| - |a|^2`;  pusher `-|obj - goal| - 0.5 |obj - tips| - 0.1 |a|^2`
      (body positions `xpos`, likewise those of the last physics step's start);
* termination (none for halfcheetah, swimmer, reacher, pusher), healthy ranges as v5 has them:
    hopper strict `0.7 < z`, `-0.2 < angle < 0.2`, `-100 < (qpos[2:], qvel) < 100`;
    walker2d strict `0.8 < z < 2`, `-1 < angle < 1`;  ant inclusive `0.2 <= z <= 1` and a
    finite state;
* observations: `qpos` without the root's x (and y for swimmer and ant), `qvel` (clipped to
  [-10, 10] for hopper and walker2d), and for ant `clip(cfrc_ext[1:], -1, 1)` (13 bodies x 6,
  from `mjx.rne_postconstraint`, as Gymnasium calls `mj_rnePostConstraint` after each step);
  reacher 10 and pusher 23 as in Gymnasium;
* reset noise: `qpos0 + U(-s, s)`, and `qvel` `s N(0, 1)` (halfcheetah, ant) or `U(-s, s)`;
  s = 0.1 (halfcheetah, swimmer, ant), 5e-3 (hopper, walker2d); reacher's goal uniform in the disc
  of radius 0.2, pusher's cylinder uniform in its box outside the 0.17 disc (rejection sampling,
  as Gymnasium).

Random draws use JAX keys, so episodes are not Gymnasium's seeds' episodes; `reset_to(qpos, qvel)`
starts from a given state (the tests start both from Gymnasium's).

Ant's XML asks for RK4.  MJX's RK4 turns the free joint's quaternion by the RK-weighted sum of the
stage angular velocities; C MuJoCo 4 integrates rotations by Runge-Kutta-Munthe-Kaas (each
stage's body-frame angular velocity `w` taken through `dexp^-1` of the stage's rotation vector
`theta`: `w + theta x w / 2 + (1 - (a/2) cot(a/2)) / a^2 theta x (theta x w)`, `a = |theta|`).
From the same state the two differ by about 5e-8 per physics step.  And C MuJoCo 4 orients a capsule-on-plane
contact's friction
pyramid along the capsule's axis projected on the plane, MJX along a fixed tangent of the normal:
for Ant's legs (not for the planar walkers' legs, whose pyramids are the same either way) that
changes the friction forces.  With MJX's own step, Ant's observations are O(1) away from C's
within ten control steps.  `ant_integrator` picks:
* `'rk4'` (default): C MuJoCo's RK4 and contact frames, written here on MJX's public stages
  (`_rk4_step`, `_forward`); equals C to roundoff;
* `'mjx_rk4'`: MJX's own `mjx.step` with the model's RK4;
* `'euler'`: MJX's own step under semi-implicit Euler (not Gymnasium's dynamics).
"""

from __future__ import annotations

import copy
import dataclasses
import importlib.util
import os
from typing import Any

import jax
import mujoco
import numpy as np
from brax.base import Motion, Transform
from brax.envs.base import PipelineEnv, State
from brax.io import mjcf
from jax import numpy as jp
from mujoco import mjx

BACKEND = "mjx_gym"  # the config's `backend` that selects these tasks on the brax engine


def gymnasium_asset(xml: str) -> str:
  """Path of `xml` in the installed Gymnasium's MuJoCo assets (found without importing Gymnasium)."""
  spec = importlib.util.find_spec("gymnasium")
  if spec is None or spec.origin is None:
    raise ValueError(
      "the mjx_gym tasks load Gymnasium's model files: install gymnasium[mujoco] (pip install 'chromnas[host]')"
    )
  path = os.path.join(os.path.dirname(spec.origin), "envs", "mujoco", "assets", xml)
  if not os.path.exists(path):
    raise ValueError(f"the installed Gymnasium has no model file {path}")
  return path


@dataclasses.dataclass(frozen=True)
class Rules:
  """Gymnasium v5's defaults for one task (names follow the v5 constructor arguments)."""

  xml: str
  frame_skip: int
  episode_length: int
  ctrl_cost_weight: float
  reset_noise_scale: float = 0.0
  qvel_noise_normal: bool = False  # True: qvel noise is `scale * N(0, 1)`; False: `U(-scale, scale)`
  skip_qpos: int = 1  # leading qpos entries left out of the observation
  clip_qvel: float | None = None
  healthy_reward: float = 0.0
  healthy_z: tuple[float, float] | None = None
  healthy_angle: tuple[float, float] | None = None
  healthy_state: tuple[float, float] | None = None
  healthy_inclusive: bool = False  # Ant's z range is inclusive, Hopper's and Walker2d's strict
  contact_cost_weight: float = 0.0
  contact_force_range: tuple[float, float] = (-1.0, 1.0)


RULES = {
  "halfcheetah": Rules("half_cheetah.xml", 5, 1000, 0.1, 0.1, qvel_noise_normal=True),
  "hopper": Rules(
    "hopper.xml",
    4,
    1000,
    1e-3,
    5e-3,
    clip_qvel=10.0,
    healthy_reward=1.0,
    healthy_z=(0.7, float("inf")),
    healthy_angle=(-0.2, 0.2),
    healthy_state=(-100.0, 100.0),
  ),
  "walker2d": Rules(
    "walker2d_v5.xml",
    4,
    1000,
    1e-3,
    5e-3,
    clip_qvel=10.0,
    healthy_reward=1.0,
    healthy_z=(0.8, 2.0),
    healthy_angle=(-1.0, 1.0),
  ),
  "swimmer": Rules("swimmer.xml", 4, 1000, 1e-4, 0.1, skip_qpos=2),
  "ant": Rules(
    "ant.xml",
    5,
    1000,
    0.5,
    0.1,
    qvel_noise_normal=True,
    skip_qpos=2,
    healthy_reward=1.0,
    healthy_z=(0.2, 1.0),
    healthy_inclusive=True,
    contact_cost_weight=5e-4,
  ),
  "reacher": Rules("reacher.xml", 2, 50, 1.0),
  "pusher": Rules("pusher_v5.xml", 5, 100, 0.1),
}
OBS_DIMS = {"halfcheetah": 17, "hopper": 11, "walker2d": 17, "swimmer": 8, "ant": 105, "reacher": 10, "pusher": 23}
INTEGRATORS = ("rk4", "mjx_rk4", "euler")
_RK4_A = (0.5, 0.5, 1.0)  # the classic tableau's sub-diagonal (C's RK4_A has no other entries)
_RK4_B = (1.0 / 6.0, 1.0 / 3.0, 1.0 / 3.0, 1.0 / 6.0)


def load_model(name: str) -> mujoco.MjModel:
  """The task's model, compiled from Gymnasium's file exactly as Gymnasium compiles it."""
  return mujoco.MjModel.from_xml_path(gymnasium_asset(RULES[name].xml))


def _quat_mul(p: jax.Array, q: jax.Array) -> jax.Array:
  """Hamilton product `p q` of `(w, x, y, z)` quaternions."""
  return jp.stack(
    [
      p[0] * q[0] - p[1] * q[1] - p[2] * q[2] - p[3] * q[3],
      p[0] * q[1] + p[1] * q[0] + p[2] * q[3] - p[3] * q[2],
      p[0] * q[2] - p[1] * q[3] + p[2] * q[0] + p[3] * q[1],
      p[0] * q[3] + p[1] * q[2] - p[2] * q[1] + p[3] * q[0],
    ]
  )


def _quat_turn(quat: jax.Array, theta: jax.Array) -> jax.Array:
  """`normalize(quat) exp(theta)`: `quat (4,)` turned by the body-frame rotation vector `theta (3,)`."""
  angle = jp.linalg.norm(theta)
  axis = theta / jp.where(angle > 0, angle, 1.0)
  turn = jp.concatenate([jp.cos(0.5 * angle)[None], jp.sin(0.5 * angle) * axis])
  return _quat_mul(quat / jp.linalg.norm(quat), turn)


def _dexp_inv(theta: jax.Array, w: jax.Array) -> jax.Array:
  """`dexp^-1_theta(w) = w + theta x w / 2 + c(a) theta x (theta x w)`, `c = (1 - (a/2) cot(a/2)) / a^2`,
  `a = |theta|` (`c -> 1/12 + a^2/720` for small `a`): the rotation-vector rate of a body turning at `w`."""
  a = jp.linalg.norm(theta)
  small = a < 1e-6
  safe = jp.where(small, 1.0, a)
  c = jp.where(small, 1.0 / 12.0 + a * a / 720.0, (1.0 - 0.5 * safe / jp.tan(0.5 * safe)) / (safe * safe))
  tw = jp.cross(theta, w)
  return w + 0.5 * tw + c * jp.cross(theta, tw)


def _rejection(key: jax.Array, sample, accept) -> jax.Array:
  """First `x = sample(k)` with `accept(x)`, over keys split off `key` (Gymnasium's `while True` loops)."""

  def draw(carry):
    key, _ = carry
    key, sub = jax.random.split(key)
    return key, sample(sub)

  return jax.lax.while_loop(lambda c: ~accept(c[1]), draw, draw((key, sample(key))))[1]


class GymMjxEnv(PipelineEnv):
  """One Gymnasium v5 MuJoCo task on MJX (see the module docstring).

  Args:
    name: one of `RULES`.
    backend: `'mjx_gym'` (the registry's name) or `'mjx'`; physics always runs on MJX.
    ant_integrator: Ant's physics step, `'rk4'` (C MuJoCo's RK4 and contact frames), `'mjx_rk4'`
      or `'euler'` (see the module docstring); the other tasks' XMLs ask for Euler, run by MJX.
  `reset(key)` and `step(state, action (act_dim,))` are pure and jittable; observations, rewards
  and `done` (1.0 on termination) take the float width JAX runs at (float64 under `jax_enable_x64`).
  """

  def __init__(self, name: str, backend: str = BACKEND, ant_integrator: str = "rk4", **kwargs: Any):
    if name not in RULES:
      raise ValueError(f"unknown mjx_gym task {name!r}; choose one of {sorted(RULES)}")
    if backend not in (BACKEND, "mjx"):
      raise ValueError(f"the mjx_gym tasks run on MJX: backend must be {BACKEND!r} or 'mjx', got {backend!r}")
    if ant_integrator not in INTEGRATORS:
      raise ValueError(f"ant_integrator must be one of {INTEGRATORS}, got {ant_integrator!r}")
    self.name, self.rules = name, RULES[name]
    mj = load_model(name)
    if name == "ant" and ant_integrator == "euler":
      mj.opt.integrator = mujoco.mjtIntegrator.mjINT_EULER
    self.mj_model = mj
    self._c_rk4 = mj.opt.integrator == mujoco.mjtIntegrator.mjINT_RK4 and ant_integrator == "rk4"
    # Joint layout for `_integrate_pos`: scalar coordinates (slides, hinges, free positions) and
    # quaternions (free and ball joints) with their velocity addresses.
    scalar_q, scalar_v, self._quats = [], [], []
    for j in range(mj.njnt):
      qa, va, typ = int(mj.jnt_qposadr[j]), int(mj.jnt_dofadr[j]), mj.jnt_type[j]
      if typ == mujoco.mjtJoint.mjJNT_FREE:
        scalar_q += [qa, qa + 1, qa + 2]
        scalar_v += [va, va + 1, va + 2]
        self._quats.append((qa + 3, va + 3))
      elif typ == mujoco.mjtJoint.mjJNT_BALL:
        self._quats.append((qa, va))
      else:
        scalar_q.append(qa)
        scalar_v.append(va)
    self._scalar_q, self._scalar_v = np.array(scalar_q, int), np.array(scalar_v, int)
    # `mjcf.load_model` writes +-inf into unlimited ranges of the model it is given: give it a copy.
    super().__init__(sys=mjcf.load_model(copy.copy(mj)), backend="mjx", n_frames=self.rules.frame_skip, **kwargs)
    self._dt = float(mj.opt.timestep) * self.rules.frame_skip
    self._qpos0 = np.array(mj.qpos0)
    self._nq, self._nv, self._nu = mj.nq, mj.nv, mj.nu
    body = lambda b: mujoco.mj_name2id(mj, mujoco.mjtObj.mjOBJ_BODY, b)
    if name == "reacher":
      self._bodies: tuple[int, ...] = (body("fingertip"), body("target"))
    elif name == "pusher":
      self._bodies = (body("tips_arm"), body("object"), body("goal"))

  @property
  def observation_size(self) -> int:
    return OBS_DIMS[self.name]

  @property
  def action_size(self) -> int:
    return self._nu

  @property
  def episode_length(self) -> int:
    """Gymnasium's `max_episode_steps` for the task."""
    return self.rules.episode_length

  # ---- reset -------------------------------------------------------------------------------

  def sample_initial_state(self, key: jax.Array) -> tuple[jax.Array, jax.Array]:
    """`(qpos (nq,), qvel (nv,))` drawn as Gymnasium's `reset_model` draws them."""
    k1, k2, k3 = jax.random.split(key, 3)
    qpos0 = jp.asarray(self._qpos0, dtype=float)
    if self.name == "reacher":
      qpos = qpos0 + jax.random.uniform(k1, (self._nq,), minval=-0.1, maxval=0.1)
      goal = _rejection(
        k3, lambda k: jax.random.uniform(k, (2,), minval=-0.2, maxval=0.2), lambda g: jp.linalg.norm(g) < 0.2
      )
      qvel = jax.random.uniform(k2, (self._nv,), minval=-0.005, maxval=0.005)
      return qpos.at[-2:].set(goal), qvel.at[-2:].set(0.0)
    if self.name == "pusher":
      sample = lambda k: jp.stack(
        [
          jax.random.uniform(k, (), minval=-0.3, maxval=0.0),
          jax.random.uniform(jax.random.fold_in(k, 1), (), minval=-0.2, maxval=0.2),
        ]
      )
      cylinder = _rejection(k3, sample, lambda c: jp.linalg.norm(c) > 0.17)  # the goal is at (0, 0)
      qvel = jax.random.uniform(k2, (self._nv,), minval=-0.005, maxval=0.005)
      return qpos0.at[-4:-2].set(cylinder).at[-2:].set(0.0), qvel.at[-4:].set(0.0)
    s = self.rules.reset_noise_scale
    qpos = qpos0 + jax.random.uniform(k1, (self._nq,), minval=-s, maxval=s)
    if self.rules.qvel_noise_normal:
      qvel = s * jax.random.normal(k2, (self._nv,))
    else:
      qvel = jax.random.uniform(k2, (self._nv,), minval=-s, maxval=s)
    return qpos, qvel

  def reset(self, rng: jax.Array) -> State:
    """A new episode from a PRNG key."""
    return self.reset_to(*self.sample_initial_state(rng))

  def reset_to(self, qpos: jax.Array, qvel: jax.Array) -> State:
    """An episode starting from `qpos (nq,)`, `qvel (nv,)` (Gymnasium's `set_state`: forward kinematics
    and dynamics, no contact forces yet)."""
    qpos = jp.asarray(qpos, dtype=float)
    pipeline_state = self.pipeline_init(qpos, jp.asarray(qvel, dtype=float))
    # MJX's kinematics writes normalised quaternions back into qpos; C (and so Gymnasium's first
    # observation) keeps the noisy ones, and the first physics step normalises them on both sides.
    pipeline_state = pipeline_state.replace(qpos=qpos, q=qpos)
    zero = jp.zeros((), pipeline_state.qpos.dtype)
    metrics = {k: zero for k in self._metric_names()}
    return State(pipeline_state, self._obs(pipeline_state), zero, zero, metrics, {})

  # ---- step --------------------------------------------------------------------------------

  def step(self, state: State, action: jax.Array) -> State:
    """One control step: `frame_skip` physics steps with `ctrl = action`, then Gymnasium's
    observation, reward and termination."""
    before = state.pipeline_state
    # The scan over physics steps keeps ctrl's dtype; the control cost is taken of the action as
    # given, in its own width, as Gymnasium takes it of its float32 action.
    after = self.pipeline_step(before, jp.asarray(action, before.qpos.dtype))
    if self.name == "ant":  # Gymnasium calls mj_rnePostConstraint after every step
      after = mjx.rne_postconstraint(self.sys, after)
    reward, terminated, metrics = self._reward(before, after, jp.asarray(action))
    return state.replace(
      pipeline_state=after, obs=self._obs(after), reward=reward, done=terminated.astype(reward.dtype), metrics=metrics
    )

  # ---- C MuJoCo's RK4 (Ant) ----------------------------------------------------------------

  def pipeline_step(self, pipeline_state: Any, action: jax.Array) -> Any:
    """`frame_skip` physics steps with `ctrl = action`: MJX's `mjx.step`, or for C's RK4 `_rk4_step`."""
    if not self._c_rk4:
      return super().pipeline_step(pipeline_state, action)
    d = jax.lax.scan(
      lambda d, _: (self._rk4_step(d), None), pipeline_state.replace(ctrl=action), (), self.rules.frame_skip
    )[0]
    # The Brax-side fields that Brax's MJX pipeline derives after each step (nothing here reads them).
    offset = Transform.create(pos=d.xpos[1:] - d.subtree_com[self.sys.body_rootid[1:]])
    xd = offset.vmap().do(Motion(vel=d.cvel[1:, 3:], ang=d.cvel[1:, :3]))
    return d.replace(q=d.qpos, qd=d.qvel, x=Transform(pos=d.xpos[1:], rot=d.xquat[1:]), xd=xd)

  def _forward(self, d):
    """`mjx.forward` from its public stages, with C MuJoCo's capsule-on-plane contact frames
    (`_c_contact_frames`) put in between collision and constraint assembly."""
    m = self.sys
    for stage in (
      mjx.kinematics,
      mjx.com_pos,
      mjx.camlight,
      mjx.tendon,
      mjx.crb,
      mjx.tendon_armature,
      mjx.factor_m,
      mjx.collision,
    ):
      d = stage(m, d)
    d = self._c_contact_frames(d)
    for stage in (
      mjx.make_constraint,
      mjx.transmission,
      mjx.sensor_pos,
      mjx.fwd_velocity,
      mjx.sensor_vel,
      mjx.fwd_actuation,
      mjx.fwd_acceleration,
    ):
      d = stage(m, d)
    if d._impl.efc_J.size == 0:  # pylint: disable=protected-access
      return d.replace(qacc=d.qacc_smooth)
    return mjx.sensor_acc(m, mjx.solve(m, d))

  def _c_contact_frames(self, d):
    """Contact frames `[n, t1, n x t1]` of capsule-on-plane contacts with `t1` the capsule's axis
    projected on the plane (C MuJoCo 4's choice, which orients the friction pyramid), or the
    world x axis projected when the capsule stands (nearly) upright; other contacts keep MJX's."""
    contact = d._impl.contact  # pylint: disable=protected-access
    if contact.geom.shape[0] == 0:
      return d
    types = jp.asarray(self.mj_model.geom_type)
    g1, g2 = contact.geom[:, 0], contact.geom[:, 1]
    plane, capsule = int(mujoco.mjtGeom.mjGEOM_PLANE), int(mujoco.mjtGeom.mjGEOM_CAPSULE)
    chosen = ((types[g1] == plane) & (types[g2] == capsule)) | ((types[g1] == capsule) & (types[g2] == plane))
    axis = d.geom_xmat[jp.where(types[g1] == capsule, g1, g2)][:, :, 2]
    normal = contact.frame[:, 0]
    project = lambda v: v - jp.sum(v * normal, axis=-1, keepdims=True) * normal
    tangent = project(axis)
    length = jp.linalg.norm(tangent, axis=-1, keepdims=True)
    # C falls back for a projection of length 1.7e-6 but not 1.7e-5 (measured); 1e-5 lies between.
    upright = project(jp.broadcast_to(jp.array([1.0, 0.0, 0.0], normal.dtype), normal.shape))
    t1 = jp.where(
      length > 1e-5,
      tangent / jp.where(length > 0, length, 1.0),
      upright / jp.linalg.norm(upright, axis=-1, keepdims=True),
    )
    frame = jp.stack([normal, t1, jp.cross(normal, t1)], axis=1)
    return d.tree_replace({"_impl.contact.frame": jp.where(chosen[:, None, None], frame, contact.frame)})

  def _integrate_pos(self, qpos: jax.Array, theta: jax.Array) -> jax.Array:
    """`qpos (nq,)` moved by the tangent vector `theta (nv,)`: added to scalar coordinates, each
    quaternion turned by its 3 entries (C's `mj_integratePos` with `dt = 1`)."""
    qpos = qpos.at[self._scalar_q].add(theta[self._scalar_v])
    for qa, va in self._quats:
      qpos = qpos.at[qa : qa + 4].set(_quat_turn(qpos[qa : qa + 4], theta[va : va + 3]))
    return qpos

  def _rotation_rates(self, theta: jax.Array, qvel: jax.Array) -> jax.Array:
    """Tangent rates `(nv,)`: `qvel`, with each quaternion's angular velocity through `_dexp_inv`."""
    for _, va in self._quats:
      qvel = qvel.at[va : va + 3].set(_dexp_inv(theta[va : va + 3], qvel[va : va + 3]))
    return qvel

  def _rk4_step(self, d):
    """One physics step of C MuJoCo's RK4 (`mj_RungeKutta`, N = 4) on MJX data `d` (ctrl set).

    Stage i = 1..3 (h the timestep): `theta_i = h A_i k_{i-1}`, `qpos_i = qpos_0 (+) theta_i`,
    `qvel_i = qvel_0 + h A_i qacc_{i-1}`, forward dynamics there give `qacc_i` and
    `k_i = dexp^-1_{theta_i}(qvel_i)` (`k_0 = qvel_0`).  Then `qvel = qvel_0 + h sum B_i qacc_i`,
    `qpos = qpos_0 (+) h sum B_i k_i`.  As in C, the other fields (positions of bodies, forces) are
    the last stage's and the next step's solver warm start is that stage's `qacc`.
    """
    h = self.sys.opt.timestep
    d = self._forward(d)
    qpos0, qvel0, t0 = d.qpos, d.qvel, d.time
    b0 = _RK4_B[0]

    def stage(carry, ab):
      d, k, qacc, k_sum, qacc_sum = carry
      a, b = ab
      theta = h * a * k
      d = self._forward(d.replace(qpos=self._integrate_pos(qpos0, theta), qvel=qvel0 + h * a * qacc))
      k = self._rotation_rates(theta, d.qvel)
      return (d, k, d.qacc, k_sum + b * k, qacc_sum + b * d.qacc), None

    tableau = (jp.asarray(_RK4_A, qpos0.dtype), jp.asarray(_RK4_B[1:], qpos0.dtype))
    carry = (d, qvel0, d.qacc, b0 * qvel0, b0 * d.qacc)
    d, _, _, k_sum, qacc_sum = jax.lax.scan(stage, carry, tableau)[0]
    return d.replace(
      qpos=self._integrate_pos(qpos0, h * k_sum), qvel=qvel0 + h * qacc_sum, time=t0 + h, qacc_warmstart=d.qacc
    )

  def _metric_names(self) -> tuple[str, ...]:
    if self.name == "reacher":
      return ("reward_dist", "reward_ctrl")
    if self.name == "pusher":
      return ("reward_dist", "reward_ctrl", "reward_near")
    names: tuple[str, ...] = ("x_velocity", "reward_forward", "reward_ctrl")
    if self.rules.healthy_reward:
      names += ("reward_survive",)
    if self.rules.contact_cost_weight:
      names += ("reward_contact",)
    return names

  def _contact_forces(self, ps) -> jax.Array:
    """`clip(cfrc_ext, lo, hi)` of every body `(nbody, 6)` (Ant)."""
    return jp.clip(ps.cfrc_ext, *self.rules.contact_force_range)

  def _obs(self, ps) -> jax.Array:
    r = self.rules
    if self.name == "reacher":
      tip, target = ps.xpos[self._bodies[0]], ps.xpos[self._bodies[1]]
      theta = ps.qpos[:2]
      return jp.concatenate([jp.cos(theta), jp.sin(theta), ps.qpos[2:], ps.qvel[:2], (tip - target)[:2]])
    if self.name == "pusher":
      return jp.concatenate([ps.qpos[:7], ps.qvel[:7], *(ps.xpos[b] for b in self._bodies)])
    qvel = ps.qvel if r.clip_qvel is None else jp.clip(ps.qvel, -r.clip_qvel, r.clip_qvel)
    parts = [ps.qpos[r.skip_qpos :], qvel]
    if self.name == "ant":
      parts.append(self._contact_forces(ps)[1:].ravel())
    return jp.concatenate(parts)

  def _healthy(self, ps) -> jax.Array:
    r = self.rules
    assert r.healthy_z is not None, "only tasks with a healthy height range terminate"
    if r.healthy_inclusive:  # Ant: z in [lo, hi] and every qpos, qvel finite
      z = ps.qpos[2]
      finite = jp.all(jp.isfinite(ps.qpos)) & jp.all(jp.isfinite(ps.qvel))
      return finite & (r.healthy_z[0] <= z) & (z <= r.healthy_z[1])
    assert r.healthy_angle is not None, "the planar walkers' healthy range bounds the torso angle too"
    z, angle = ps.qpos[1], ps.qpos[2]
    ok = (r.healthy_z[0] < z) & (z < r.healthy_z[1]) & (r.healthy_angle[0] < angle) & (angle < r.healthy_angle[1])
    if r.healthy_state is not None:
      state = jp.concatenate([ps.qpos, ps.qvel])[2:]
      ok = ok & jp.all((r.healthy_state[0] < state) & (state < r.healthy_state[1]))
    return ok

  def _reward(self, before, after, action):
    """`(reward, terminated, metrics)` of the control step from `before` to `after`."""
    r = self.rules
    ctrl_cost = (r.ctrl_cost_weight * jp.sum(jp.square(action))).astype(before.qpos.dtype)
    if self.name == "reacher":
      dist = -jp.linalg.norm(after.xpos[self._bodies[0]] - after.xpos[self._bodies[1]])
      return dist - ctrl_cost, jp.bool_(False), {"reward_dist": dist, "reward_ctrl": -ctrl_cost}
    if self.name == "pusher":
      tips, obj, goal = (after.xpos[b] for b in self._bodies)
      near, dist = -0.5 * jp.linalg.norm(obj - tips), -jp.linalg.norm(obj - goal)
      return (
        dist - ctrl_cost + near,
        jp.bool_(False),
        {"reward_dist": dist, "reward_ctrl": -ctrl_cost, "reward_near": near},
      )
    if self.name == "ant":  # the torso's frame origin, as Gymnasium's `data.body(1).xpos`
      x_velocity = (after.xpos[1, 0] - before.xpos[1, 0]) / self._dt
    else:
      x_velocity = (after.qpos[0] - before.qpos[0]) / self._dt
    metrics = {"x_velocity": x_velocity, "reward_forward": x_velocity, "reward_ctrl": -ctrl_cost}
    reward = x_velocity - ctrl_cost
    terminated = jp.bool_(False)
    if r.healthy_z is not None:
      healthy = self._healthy(after)
      survive = r.healthy_reward * healthy.astype(reward.dtype)
      reward, terminated = reward + survive, ~healthy
      metrics["reward_survive"] = survive
    if r.contact_cost_weight:
      contact_cost = r.contact_cost_weight * jp.sum(jp.square(self._contact_forces(after)))
      reward = reward - contact_cost
      metrics["reward_contact"] = -contact_cost
    return reward, terminated, metrics


def make_brax(name: str, backend: str = BACKEND, **kwargs: Any) -> GymMjxEnv:
  """Registry hook: `make_brax('halfcheetah', backend='mjx_gym')` etc. (kwargs: `ant_integrator`, `debug`)."""
  return GymMjxEnv(name, backend=backend, **kwargs)
