"""Task registry: one name per task, the engines that provide it, and their sizes.

`engine` is `"brax"` (jit/vmap rollouts on an accelerator; `backend` picks the Brax
pipeline, or `"mjx_gym"`: Gymnasium v5's own models and rules on MJX, `MJX_GYM_TASKS`) or
`"host"` (a pool of worker processes stepping Gymnasium / MuJoCo / PyBullet environments).  Sizes are static so
configs can be validated before anything compiles;
`tests/test_tasks.py` checks them against the real environments.

The registry is data: each engine's environment is named by a maker string, and this module
imports only the standard library.  The makers live with their engines' dependencies:
`chromnas.envs.host_envs.make_host_env` (Gymnasium, no JAX: what host workers import) and
`chromnas.envs.brax_envs.make_brax_env` (JAX and Brax).
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
from collections.abc import Callable
from typing import Any

MJX_GYM = "mjx_gym"  # brax-engine backend of the Gymnasium-faithful MJX tasks (`chromnas.envs.mjx_gym`)
BRAX_BACKENDS = ("positional", "generalized", "spring", "mjx", MJX_GYM)


@dataclasses.dataclass(frozen=True)
class EngineTask:
  """How one engine provides a task."""

  obs_dim: int
  act_dim: int
  episode_length: int
  make: str  # "gymnasium:<id>", "brax:<name>" or "<module>:<function>:<name>" (see `load_maker`)
  backends: tuple[str, ...] = ()  # Brax backends that run this task


@dataclasses.dataclass(frozen=True)
class Task:
  name: str
  poster_dims: tuple[int, int] | None
  engines: dict
  note: str = ""


def _brax(name, obs, act, length=1000, backends=("positional", "generalized", "spring", "mjx")):
  return EngineTask(obs, act, length, f"brax:{name}", tuple(backends))


def _gym(env_id, obs, act, length=1000):
  return EngineTask(obs, act, length, f"gymnasium:{env_id}")


def _native(name, obs, act, length=1000):
  """A Gymnasium-v5-equivalent task stepped by `chromnas.envs.mujoco_tasks` (about 2x less overhead)."""
  return EngineTask(obs, act, length, f"chromnas.envs.mujoco_tasks:make_host:{name}")


def _arm(name: str) -> Task:
  """Striker or thrower: the same arm, sizes and episode length on both engines."""
  return Task(
    name,
    (23, 7),
    {
      "host": EngineTask(23, 7, 100, f"chromnas.envs.arm_tasks:make_host:{name}"),
      "brax": EngineTask(23, 7, 100, f"chromnas.envs.arm_brax:make_brax:{name}", ("mjx",)),
    },
    note=f"Rebuilt on Gymnasium's Pusher arm (gym's {name.capitalize()}-v2 no longer exists); "
    "see chromnas.envs.arm_tasks.",
  )


def _debug(name: str, note: str) -> Task:
  """A test task of `chromnas.envs.debug_envs`: host engine only, 20 steps, no poster row."""
  return Task(name, None, {"host": EngineTask(4, 2, 20, f"chromnas.envs.debug_envs:make_host:{name}")}, note=note)


TASKS: dict[str, Task] = {
  t.name: t
  for t in [
    Task("halfcheetah", (17, 6), {"brax": _brax("halfcheetah", 17, 6), "host": _native("halfcheetah", 17, 6)}),
    Task("hopper", (11, 3), {"brax": _brax("hopper", 11, 3), "host": _native("hopper", 11, 3)}),
    Task("walker2d", (17, 6), {"brax": _brax("walker2d", 17, 6), "host": _native("walker2d", 17, 6)}),
    Task(
      "swimmer", (8, 2), {"brax": _brax("swimmer", 8, 2, backends=("generalized",)), "host": _native("swimmer", 8, 2)}
    ),
    Task(
      "reacher",
      (11, 2),
      {"brax": _brax("reacher", 11, 2), "host": _gym("Reacher-v5", 10, 2, 50)},
      note="Gymnasium's Reacher-v5 has 10 observations (the poster's 11 is the older v2).",
    ),
    Task("pusher", (23, 7), {"brax": _brax("pusher", 23, 7, 100), "host": _gym("Pusher-v5", 23, 7, 100)}),
    _arm("striker"),
    _arm("thrower"),
    Task(
      "minitaur",
      (7, 13),
      {"host": EngineTask(28, 8, 1000, "chromnas.envs.minitaur:make_host:minitaur")},
      note="PyBullet Minitaur with pybullet_envs' layout: 28 observations (8 motor angles, velocities, torques, "
      "base quaternion), 8 leg-model actions; the poster lists (7, 13).",
    ),
    _debug("debug_target", "Test task with a known optimum (return 0); see chromnas.envs.debug_envs."),
    _debug("debug_nan", "Test task whose odd-seeded episodes diverge to NaN."),
    _debug("debug_crash", "Test task whose worker process dies on some episodes (pass env_kwargs crash_every)."),
    Task(
      "ant",
      (111, 8),
      {"brax": _brax("ant", 27, 8), "host": _gym("Ant-v5", 105, 8)},
      note="Brax's Ant has 27 observations (no contact forces) and Gymnasium's Ant-v5 105 (27 + 78 contact "
      "forces); the poster's 111 is the old gym Ant-v2 (27 + 84 contact forces).",
    ),
  ]
}


def _mjx_gym(name, obs, act, length=1000):
  """Gymnasium v5's task on MJX (`chromnas.envs.mjx_gym`): Gymnasium's sizes, not Brax's."""
  return EngineTask(obs, act, length, f"chromnas.envs.mjx_gym:make_brax:{name}", (MJX_GYM,))


# The brax engine's tasks under `backend='mjx_gym'`: Gymnasium's XMLs, observations, rewards and
# terminations, so that policies trained on them transfer to the host engine's Gymnasium tasks.
MJX_GYM_TASKS: dict[str, EngineTask] = {
  "halfcheetah": _mjx_gym("halfcheetah", 17, 6),
  "hopper": _mjx_gym("hopper", 11, 3),
  "walker2d": _mjx_gym("walker2d", 17, 6),
  "swimmer": _mjx_gym("swimmer", 8, 2),
  "ant": _mjx_gym("ant", 105, 8),
  "reacher": _mjx_gym("reacher", 10, 2, 50),
  "pusher": _mjx_gym("pusher", 23, 7, 100),
}


def register(task: Task) -> None:
  """Adds (or replaces) a task in the registry."""
  TASKS[task.name] = task


def get_task(name: str) -> Task:
  """The task called `name`; `ValueError` listing the known names otherwise."""
  if name not in TASKS:
    raise ValueError(f"unknown task {name!r}; known tasks: {', '.join(sorted(TASKS))}")
  return TASKS[name]


# Makers that take a `max_episode_steps` keyword (the host evaluator sets it to the episode length).
TAKES_MAX_STEPS = ("gymnasium:", "chromnas.envs.mujoco_tasks:", "chromnas.envs.debug_envs:")


def engine_task(name: str, engine: str, backend: str | None = None) -> EngineTask:
  """The `EngineTask` of `name` on `engine` (and Brax `backend`), or a `ValueError` saying why not."""
  task = get_task(name)
  if engine not in ("brax", "host"):
    raise ValueError(f"unknown engine {engine!r}; use 'brax' or 'host'")
  if engine not in task.engines:
    raise ValueError(f"task {name!r} is not provided by the {engine} engine (it has: {', '.join(task.engines)})")
  et = task.engines[engine]
  if engine == "brax":
    if backend == MJX_GYM:
      if name not in MJX_GYM_TASKS:
        raise ValueError(
          f"task {name!r} has no Gymnasium-faithful MJX version (backend {MJX_GYM!r}); "
          f"those are: {', '.join(MJX_GYM_TASKS)}"
        )
      return MJX_GYM_TASKS[name]
    if backend not in BRAX_BACKENDS:
      raise ValueError(f"unknown brax backend {backend!r}; use one of {BRAX_BACKENDS}")
    if backend not in et.backends:
      raise ValueError(f"task {name!r} does not run on the brax backend {backend!r} (it runs on {et.backends})")
  return et


def load_maker(make: str) -> Callable[..., Any]:
  """The environment constructor named by a `"<module>:<function>:<name>"` maker string:
  `function` of `module` (imported now, not before) with `name` as its first argument."""
  module, fn, name = make.split(":")
  return functools.partial(getattr(importlib.import_module(module), fn), name)
