"""The task registry and the environments that no installed package provides.

* `chromnas.envs.tasks`: the registry (names, sizes, maker strings); standard library only.
* `chromnas.envs.host_envs` / `chromnas.envs.brax_envs`: build a registry entry's host
  (Gymnasium) or Brax environment; `brax_envs` and `brax_compat` (shims between the installed
  Brax and JAX) are the only modules here that import JAX, besides `arm_brax`.
* `chromnas.envs.mujoco_tasks`: lean MuJoCo copies of Gymnasium's v5 locomotion tasks (host).
* `chromnas.envs.arm_tasks`: Striker and Thrower (7-DoF arm, observation 23, action 7) as
  Gymnasium environments on MuJoCo (`make_host`); `chromnas.envs.arm_brax`: the same tasks as
  Brax environments on MJX (`make_brax`).
* `chromnas.envs.minitaur`: Minitaur on PyBullet (observation 28, action 8) (`make_host`).
* `chromnas.envs.debug_envs`: small test tasks.

Nothing is imported here, so that importing one environment does not load the others' engines
(host worker processes never import JAX).
"""
