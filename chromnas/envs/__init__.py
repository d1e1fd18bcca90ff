"""Environments that no installed package provides.

* `chromnas.envs.arm_tasks`: Striker and Thrower (7-DoF arm, observation 23, action 7), as
  Gymnasium environments on MuJoCo (`make_host`) and as Brax environments on MJX (`make_brax`).
* `chromnas.envs.minitaur`: Minitaur on PyBullet (observation 28, action 8) (`make_host`).

Nothing is imported here, so that importing one environment does not load the others' engines
(host worker processes never import JAX).
"""
