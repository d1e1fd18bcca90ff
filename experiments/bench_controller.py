"""Share of an ES iteration's wall time spent sampling and updating the ENAS controller.

  python -m experiments.bench_controller [--config=configs/halfcheetah_h41_chromatic17.py] [--iterations=3]

Times, in one process: (1) the controller's `ask` (sample the iteration's colorings: one per
member, or one per `pairs_per_partition` antithetic pairs) and `tell` (REINFORCE update on
them) jitted, and (2) a whole ES iteration of the config (which includes them), after
compilation; prints both and the share (target < 5%).
"""

from __future__ import annotations

import sys
import time

from absl import app, flags
from ml_collections import config_flags

from experiments import parse_flags_or_exit

_CONFIG = config_flags.DEFINE_config_file("config", "configs/halfcheetah_h41_chromatic17.py", "Config to time.")
_ITERS = flags.DEFINE_integer("iterations", 3, "Timed iterations.")


def main(argv):
  del argv
  from chromnas.train import build

  if _ITERS.value < 1:
    print(f"error: --iterations must be >= 1, got {_ITERS.value}", file=sys.stderr)
    sys.exit(2)
  try:
    run = build.build(_CONFIG.value)
  except ValueError as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(2)
  with run:
    _time(run)


def _time(run) -> None:
  """Times the controller's ask+tell and a whole ES iteration of `run`, and prints both."""
  import jax
  import jax.numpy as jnp

  spec, source, step_cfg = run.spec, run.source, run.step_config
  k = step_cfg.pairs_per_partition
  n = step_cfg.num_directions // k if k else 2 * step_cfg.num_directions  # partitions per iteration
  state = source.init(jax.random.PRNGKey(0))
  ask = jax.jit(source.ask, static_argnums=2)
  tell = jax.jit(source.tell)
  rewards = jnp.linspace(0.0, 1.0, n)
  s = ask(state, jax.random.PRNGKey(1), n)
  jax.block_until_ready(tell(state, s, rewards))
  reps = max(20, _ITERS.value)  # milliseconds each: more repetitions than the iterations
  keys = jax.random.split(jax.random.PRNGKey(2), reps)
  t0 = time.perf_counter()
  for i in range(reps):
    s = ask(state, keys[i], n)
    state, _ = tell(state, s, rewards)
  jax.block_until_ready(state)
  ctrl_s = (time.perf_counter() - t0) / reps

  tstate, _ = run.iteration(run.initial_state)
  t0 = time.perf_counter()
  steps = 0
  for _ in range(_ITERS.value):
    tstate, m = run.iteration(tstate)
    steps += m["episode_steps"]
  iter_s = (time.perf_counter() - t0) / _ITERS.value
  print(
    f"{run.task} {spec.architecture} {spec.family} K={spec.num_colors}: {spec.num_edges} weights, "
    f"population {2 * step_cfg.num_directions}, {n} partitions per iteration, "
    f"engine {run.engine}, {steps / _ITERS.value:.0f} env steps per iteration"
  )
  print(f"controller ask+tell: {ctrl_s * 1e3:8.1f} ms per iteration")
  print(f"whole ES iteration:  {iter_s * 1e3:8.1f} ms per iteration")
  print(f"controller share:    {100 * ctrl_s / iter_s:8.2f} %  (target < 5%)")


if __name__ == "__main__":
  app.run(main, flags_parser=parse_flags_or_exit)
