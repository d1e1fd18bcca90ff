"""Env-steps/s of the rollout engines, each beside its ceiling and Brax's own ES trainer.

  python -m experiments.bench_throughput                       # both engines, defaults
  python -m experiments.bench_throughput --population=2048 --skip_host   # on a GPU

Brax rows (same env, backend, population and episode length):
  (a) a bare `lax.scan` of `env.step` with zero actions, vmapped over the population (ceiling);
  (b) our Brax evaluator inside a full chromnas ES iteration (perturb, roll out, shape, update);
  (c) Brax's own `brax.training.agents.es` trainer (linear policy, `hidden_layer_sizes=()`).
Host rows (Gymnasium HalfCheetah-v5 model):
  (d) a raw single-process `mujoco.mj_step(nstep=5)` loop (one call per env step) times the worker count;
  (e) our host evaluator inside a full ES iteration with that many workers.
Steps are control steps (one policy action); timings exclude compilation, which is reported.
"""

from __future__ import annotations

import functools
import os
import time

from absl import app, flags

from experiments import fail, parse_flags_or_exit

_POP = flags.DEFINE_integer("population", 64, "Episodes per iteration (2 x antithetic pairs).")
_EPISODE = flags.DEFINE_integer("episode_length", 1000, "Control steps per episode.")
_BACKEND = flags.DEFINE_string("backend", "positional", "Brax pipeline.")
_TASK = flags.DEFINE_string("task", "halfcheetah", "Task name.")
_ITERS = flags.DEFINE_integer("iterations", 2, "Timed iterations per row (after a warm-up one).")
_WORKERS = flags.DEFINE_integer("workers", 0, "Host workers (0 = all cores).")
_SKIP_BRAX = flags.DEFINE_bool("skip_brax", False, "Skip the Brax rows.")
_SKIP_HOST = flags.DEFINE_bool("skip_host", False, "Skip the host rows.")
_SKIP_BRAX_ES = flags.DEFINE_bool("skip_brax_es", False, "Skip row (c), Brax's own ES trainer.")


def _config(engine: str):
  from chromnas.train import config

  c = config.default_config()
  c.task, c.engine, c.backend = _TASK.value, engine, _BACKEND.value
  c.episode_length = _EPISODE.value
  c.num_directions = _POP.value // 2
  c.num_workers = _WORKERS.value
  return c


def _timed_iterations(cfg):
  """(compile-or-first-iteration seconds, env steps/s over the timed iterations) of chromnas ES."""
  import jax

  from chromnas.train import build

  with build.build(cfg) as run:
    t0 = time.perf_counter()
    state, m = run.iteration(run.initial_state)
    first = time.perf_counter() - t0
    steps, t0 = 0, time.perf_counter()
    for _ in range(_ITERS.value):
      state, m = run.iteration(state)
      steps += m["episode_steps"]
    jax.block_until_ready(state.params)
    return first, steps / (time.perf_counter() - t0)


def brax_rows():
  """[(name, env-steps/s, first-call seconds)] of rows (a), (b) and (c)."""
  import jax
  import jax.numpy as jnp

  from chromnas.envs import brax_envs, tasks

  et = tasks.engine_task(_TASK.value, "brax", _BACKEND.value)
  env = brax_envs.make_brax_env(et.make, _BACKEND.value)
  pop, length = _POP.value, _EPISODE.value
  keys = jax.random.split(jax.random.PRNGKey(0), pop)

  def bare(key):
    state = env.reset(key)
    zeros = jnp.zeros((env.action_size,))
    state, _ = jax.lax.scan(lambda s, _: (env.step(s, zeros), None), state, None, length=length)
    return state.reward

  fn = jax.jit(jax.vmap(bare))
  t0 = time.perf_counter()
  jax.block_until_ready(fn(keys))
  compile_a = time.perf_counter() - t0
  t0 = time.perf_counter()
  for _ in range(_ITERS.value):
    jax.block_until_ready(fn(keys))
  rows = [("(a) brax bare scan, zero actions", pop * length * _ITERS.value / (time.perf_counter() - t0), compile_a)]
  first_b, sps_b = _timed_iterations(_config("brax"))
  rows.append(("(b) chromnas brax ES iteration", sps_b, first_b))
  if not _SKIP_BRAX_ES.value:
    from brax.training.agents.es import networks as es_networks
    from brax.training.agents.es import train as brax_es

    sps = []
    t_start = time.perf_counter()
    times = []

    def progress(step, metrics):
      times.append(time.perf_counter())
      if "training/sps" in metrics:
        sps.append(float(metrics["training/sps"]))

    epochs = _ITERS.value + 1
    brax_es.train(
      env,
      num_timesteps=epochs * pop * length,
      episode_length=length,
      population_size=pop // 2,
      num_eval_envs=len(jax.devices()),
      num_evals=epochs + 1,
      normalize_observations=True,
      network_factory=functools.partial(es_networks.make_es_networks, hidden_layer_sizes=()),
      progress_fn=progress,
    )
    # Brax's first epoch includes its compilation (and a later one may recompile): row (c) is
    # its own per-epoch sps of its fastest later epoch, the figure most favourable to Brax.
    print("brax.training.agents.es per-epoch sps:", ", ".join(f"{s:,.0f}" for s in sps))
    rows.append(
      (
        "(c) brax.training.agents.es (best epoch)",
        max(sps[1:] or sps),
        (times[1] - t_start) if len(times) > 1 else float("nan"),
      )
    )
  return rows


def host_rows():
  import gymnasium
  import mujoco
  import numpy as np

  workers = _WORKERS.value or os.cpu_count() or 1
  env = gymnasium.make("HalfCheetah-v5")
  model = env.unwrapped.model
  data = mujoco.MjData(model)
  frame_skip = env.unwrapped.frame_skip
  n = 5000
  t0 = time.perf_counter()
  for i in range(n):
    data.ctrl[:] = 0.1 * np.sin(i)
    mujoco.mj_step(model, data, nstep=frame_skip)
  one = n / (time.perf_counter() - t0)
  rows = [(f"(d) raw mujoco loop x {workers} cores", one * workers, 0.0)]
  first, sps = _timed_iterations(_config("host"))
  rows.append((f"(e) chromnas host ES iteration, {workers} workers", sps, first))
  return rows


def main(argv):
  if len(argv) > 1:
    fail(f"unexpected arguments {argv[1:]}")
  for flag, value in (("population", _POP.value), ("episode_length", _EPISODE.value), ("iterations", _ITERS.value)):
    if value < 1:
      fail(f"--{flag} must be >= 1, got {value}")
  if _WORKERS.value < 0:
    fail(f"--workers must be >= 0 (0 = all cores), got {_WORKERS.value}")
  from chromnas.envs import tasks

  try:
    tasks.get_task(_TASK.value)
  except ValueError as e:
    fail(f"--task: {e}")
  import jax

  print(
    f"task={_TASK.value} population={_POP.value} episode_length={_EPISODE.value} backend={_BACKEND.value} "
    f"devices={jax.devices()}"
  )
  rows = {}
  if not _SKIP_BRAX.value:
    for name, sps, first in brax_rows():
      rows[name[:3]] = (name, sps, first)
  if not _SKIP_HOST.value:
    for name, sps, first in host_rows():
      rows[name[:3]] = (name, sps, first)
  print(f"\n{'row':<52} {'env-steps/s':>12} {'first call s':>13}")
  for name, sps, first in rows.values():
    print(f"{name:<52} {sps:12,.0f} {first:13.1f}")
  ratio = lambda a, b: rows[a][1] / rows[b][1] if a in rows and b in rows else float("nan")
  print(f"\n(b)/(a) = {ratio('(b)', '(a)'):.2f}  (target >= 0.9)")
  print(f"(b)/(c) = {ratio('(b)', '(c)'):.2f}  (target >= 1.0)")
  print(f"(e)/(d) = {ratio('(e)', '(d)'):.2f}  (target >= 0.8)")


if __name__ == "__main__":
  app.run(main, flags_parser=parse_flags_or_exit)
