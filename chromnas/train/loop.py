"""The training loop: ES on the shared values, partition search beside it, on any engine.

`train(cfg, workdir)` builds the run (`build.build`) and trains it: `train_run` restores the
newest checkpoint in `workdir` if there is one (rerunning the same command resumes), and runs
ES iterations with progress output, metrics (`metrics.csv`, TensorBoard), periodic evaluation
of the current policy on fresh episodes, and checkpoints.  The best evaluated policy is kept in
the state and in `best_policy.npz`; Ctrl-C, SIGTERM or an error saves a checkpoint of the
finished iterations before exiting.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import logging
import math
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from chromnas.core import bundle as bundle_lib
from chromnas.es import normalizer
from chromnas.es.ask_tell import TrainState
from chromnas.train import build as build_lib
from chromnas.train.checkpointing import CheckpointStore
from chromnas.train.metrics import MetricsWriter, structure_images
from chromnas.train.progress import print_progress

ProgressFn = Callable[[dict, build_lib.Schedule], None]


class Terminated(KeyboardInterrupt):
  """SIGTERM (a batch scheduler, `docker stop`) arrived: handled like Ctrl-C (checkpoint, then exit)."""


def _raise_terminated(signum, frame):
  del frame
  raise Terminated(f"signal {signum}")


def eval_structure(state: TrainState, run: build_lib.Run) -> jax.Array:
  """The structure `(E,)` the current policy is evaluated with: the source's `current` partition
  (see `chromnas.search.partition_sources`), or an empty one for families without structure."""
  if run.spec.structure_size == 0:
    return jnp.zeros((0,), jnp.int32)
  return jnp.asarray(run.source.current(state.source_state), jnp.int32)


def policy_bundle(run: build_lib.Run, params, structure, stats) -> bundle_lib.PolicyBundle:
  """The NumPy `PolicyBundle` of `params (D,)`, `structure (E,)` and the normaliser `stats`
  (its mean and `normalizer.std`)."""
  stats = jax.device_get(stats)
  return bundle_lib.from_arrays(run.spec, params, structure, stats.mean, normalizer.std(stats), run.obs_clip, run.task)


def check_same_run(identity: dict, workdir: str) -> None:
  """Refuses to resume a workdir whose saved `config.json` differs from `identity` (`{field:
  value}`, dotted fields nested) in a field that defines the run."""
  path = os.path.join(workdir, "config.json")
  if not os.path.exists(path):
    return
  with open(path) as f:
    old = json.load(f)
  for field, asked in identity.items():
    saved = old
    for part in field.split("."):
      saved = saved.get(part, _MISSING) if isinstance(saved, dict) else _MISSING
    if saved is not _MISSING and saved != asked:
      raise ValueError(
        f"{workdir} holds a run with config.{field}={saved!r}, this command asks for {asked!r}; use another --workdir"
      )


_MISSING = object()


def _check_no_orphan_results(workdir: str, checkpoint_every: int) -> None:
  """Refuses to start afresh over the results of an earlier run whose checkpoints are gone:
  restarting at iteration 0 would truncate its metrics and overwrite its best policy.

  The one exception is a run of the same config (the caller checked `config.json`) killed before
  its first checkpoint: it wrote no `latest_policy.npz` (written with every checkpoint) and at
  most `checkpoint_every` metrics rows.  Its iterations depend only on the seed, so a restart
  recomputes exactly those rows and that best policy: nothing is lost."""
  found = [name for name in ("best_policy.npz", "latest_policy.npz") if os.path.exists(os.path.join(workdir, name))]
  metrics = os.path.join(workdir, "metrics.csv")
  rows = 0
  if os.path.exists(metrics):
    with open(metrics) as f:
      rows = max(sum(1 for _ in f) - 1, 0)
    if rows:
      found.append("metrics.csv")
  if found and "latest_policy.npz" not in found and rows <= checkpoint_every:
    print(
      f"restarting {workdir} at iteration 0: its earlier run stopped after {rows} iteration(s), before its "
      "first checkpoint, and is recomputed identically",
      flush=True,
    )
    return
  if found:
    raise ValueError(
      f"{workdir} holds results of an earlier run ({', '.join(found)}) but no checkpoint to resume "
      "from; they are left untouched: use another --workdir, or move them away to start afresh"
    )


def _source_metric_names(source, state) -> list[str]:
  """Names of the metrics `source.tell` reports (from its abstract output, no compile)."""
  n = 2
  structures = jax.ShapeDtypeStruct((n, state.best_structure.shape[0]), jnp.int32)
  rewards = jax.ShapeDtypeStruct((n,), jnp.float32)
  _, metrics = jax.eval_shape(source.tell, state.source_state, structures, rewards)
  return list(metrics)


def metric_fields(source, state: TrainState, driver_fields: Sequence[str] = ()) -> list[str]:
  """The `metrics.csv` columns after `metrics.CSV_FIELDS`: the ES iteration's own, then the
  driver's `driver_fields`, then the metrics of `source.tell` (sorted).  Both drivers (this loop
  and `compiled.train_seeds`) write these."""
  own = ["best_return", "num_nonfinite", "grad_norm", "params_norm", "episodes_lost"]
  return own + list(driver_fields) + sorted(_source_metric_names(source, state))


def eval_due(iteration, eval_every: int, num_iterations: int):
  """Whether `iteration` is a periodic evaluation point: every `eval_every`-th and the last
  (`num_iterations`), so a finished run has evaluated its final policy.  Works on Python ints
  (a bool) and on traced JAX ints (a bool array); the drivers also evaluate an iteration that
  reaches a budget."""
  return (iteration % eval_every == 0) | (iteration == num_iterations)


def every_return_nonfinite(num_nonfinite, num_directions: int):
  """Whether an iteration's `num_nonfinite` non-finite returns are all `2 * num_directions` of
  them (the simulator diverged and the update learned nothing)."""
  return num_nonfinite >= 2 * num_directions


def train(cfg: ml_collections.ConfigDict, workdir: str, progress_fn: ProgressFn | None = print_progress) -> TrainState:
  """Trains (or resumes) the run described by `cfg` in `workdir`; returns the final state."""
  # The workdir is checked before any worker starts.
  with build_lib.build(cfg, before_start=lambda run_identity: check_same_run(run_identity, workdir)) as run:
    return train_run(run, workdir, progress_fn)


# ----------------------------------------------------------------------------------------------
# The pieces of `train_run`: resume, one checked iteration, evaluation and the best policy, IO,
# and the handlers that keep finished iterations when the run is stopped.


@dataclasses.dataclass
class Progress:
  """The host side of a run in progress: `state` (only ever a completed iteration), the env steps
  and the wall time before this invocation that are checkpointed with it, the iteration last
  checkpointed and when this invocation started."""

  state: TrainState
  env_steps: int
  wall_offset: float
  last_saved: int
  t_start: float = dataclasses.field(default_factory=time.time)

  def wall(self) -> float:
    """Seconds of training so far, over every invocation."""
    return self.wall_offset + time.time() - self.t_start


def restore_or_init(run: build_lib.Run, workdir: str, store: CheckpointStore) -> Progress:
  """The newest checkpoint of `workdir` (after checking it holds this run), else the run's
  initial state (after checking no earlier results would be overwritten); writes `config.json`."""
  state, env_steps, wall_offset = run.initial_state, 0, 0.0
  check_same_run(run.identity, workdir)
  restored = store.restore_latest(state)
  if restored is None:
    _check_no_orphan_results(workdir, run.schedule.checkpoint_every)
  else:
    step, state, meta = restored
    env_steps, wall_offset = int(meta["env_steps"]), float(meta["wall_s"])
    logging.info("resuming from checkpoint %d in %s", step, workdir)
    print(f"resuming {workdir} at iteration {step} ({env_steps} env steps)", flush=True)
  with open(os.path.join(workdir, "config.json"), "w") as f:
    json.dump(run.config_json, f, indent=1)
  start = int(state.iteration)
  return Progress(state, env_steps, wall_offset, last_saved=start)


def save_checkpoint(run: build_lib.Run, workdir: str, store: CheckpointStore, p: Progress, wall: float) -> None:
  """Checkpoints `p.state` (with its env steps and `wall`) and writes its `latest_policy.npz`."""
  st = p.state
  store.save(int(st.iteration), st, {"env_steps": p.env_steps, "wall_s": wall, "config": run.config_json})
  bundle_lib.save_npz(
    os.path.join(workdir, "latest_policy.npz"),
    policy_bundle(run, st.params, eval_structure(st, run), st.obs_stats),
    {"iteration": int(st.iteration)},
  )
  p.last_saved = int(st.iteration)


def open_metrics(run: build_lib.Run, workdir: str, state: TrainState) -> MetricsWriter:
  """The run's `MetricsWriter`, its rows after `state`'s iteration dropped (a resumed run
  rewrites them)."""
  writer = MetricsWriter(workdir, extra_fields=metric_fields(run.source, state))
  try:
    writer.truncate_after(int(state.iteration))
  except BaseException:
    writer.close()
    raise
  return writer


def checked_iteration(run: build_lib.Run, state: TrainState) -> tuple[TrainState, dict]:
  """One ES iteration from `state`: `(next state, metrics)`.  Raises `FloatingPointError` when
  every return is non-finite or the parameters become non-finite; `state` stays the last good one."""
  new, m = run.iteration(state)
  it = int(new.iteration)
  if every_return_nonfinite(m["num_nonfinite"], run.step_config.num_directions):
    raise FloatingPointError(
      f"every return of iteration {it} is non-finite (the simulator diverged); the last "
      f"good state (iteration {it - 1}) is kept; check sigma={run.step_config.sigma} "
      "and the task"
    )
  if not bool(jnp.all(jnp.isfinite(new.params))):
    raise FloatingPointError(
      f"the parameters became non-finite at iteration {it}; the last finite state "
      f"(iteration {it - 1}) is kept; lower learning_rate={run.learning_rate}"
    )
  return new, m


def evaluate(run: build_lib.Run, state: TrainState) -> tuple[float, jax.Array]:
  """`(eval_return, structure (E,))`: the mean of the finite returns of `eval_episodes` fresh
  episodes of the current policy (NaN if none is finite), keyed by `fold_in(eval_key, iteration)`."""
  it, sched = int(state.iteration), run.schedule
  structure = eval_structure(state, run)
  rets = run.iteration.evaluate(
    state.params, structure, state.obs_stats, jax.random.fold_in(run.eval_key, it), sched.eval_episodes
  )
  finite = rets[np.isfinite(rets)]
  return (float(finite.mean()) if finite.size else math.nan), structure


def log_structure(run: build_lib.Run, writer: MetricsWriter, state: TrainState, structure, env_steps, evaluations):
  """Pictures of the evaluated `structure` (and the source's position entropy) to TensorBoard,
  at the first evaluation and every `image_every`-th after it."""
  every, spec, source = run.schedule.image_every, run.spec, run.source
  if every and spec.structure_size and evaluations % every == 1 % every:
    entropy = None if source.position_entropy is None else np.asarray(source.position_entropy(state.source_state))
    writer.write_images(
      env_steps, structure_images(np.asarray(structure), spec.layer_shapes, spec.num_choices, entropy)
    )


def keep_if_best(run: build_lib.Run, workdir: str, p: Progress, eval_return: float, structure) -> None:
  """Makes the evaluated policy of `p.state` its best (and writes `best_policy.npz`) when
  `eval_return` beats `best_return` (a NaN never does)."""
  state = p.state
  if eval_return > float(state.best_return):
    p.state = dataclasses.replace(
      state,
      best_return=jnp.float32(eval_return),
      best_params=state.params,
      best_structure=structure,
      best_obs_stats=state.obs_stats,
    )
    bundle_lib.save_npz(
      os.path.join(workdir, "best_policy.npz"),
      policy_bundle(run, state.params, structure, state.obs_stats),
      {"iteration": int(state.iteration), "eval_return": eval_return},
    )


def metrics_row(p: Progress, m: dict, eval_return: float, steps_per_s: float, wall: float, lost: int) -> dict:
  """The `metrics.csv` row of the iteration `p.state` just completed, with its ES metrics `m`."""
  return {
    "iteration": int(p.state.iteration),
    "env_steps": p.env_steps,
    "reward_mean": m["reward_mean"],
    "reward_max": m["reward_max"],
    "eval_return": eval_return,
    "steps_per_s": steps_per_s,
    "wall_s": wall,
    "best_return": float(p.state.best_return),
    "episodes_lost": lost,
    **m,
  }


def limit_reached(sched: build_lib.Schedule, env_steps: int, wall: float) -> bool:
  """Whether `max_env_steps` or `max_wall_minutes` (0: no limit) is reached."""
  return bool(
    (sched.max_env_steps and env_steps >= sched.max_env_steps)
    or (sched.max_wall_minutes and wall >= 60 * sched.max_wall_minutes)
  )


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
  """Within it SIGTERM raises `Terminated` (in the main thread; elsewhere signals cannot be set)."""
  previous = None
  if threading.current_thread() is threading.main_thread():
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
  try:
    yield
  finally:
    if previous is not None:
      signal.signal(signal.SIGTERM, previous)


class CheckpointOnError:
  """Context manager: an exception leaving it (Ctrl-C, SIGTERM, a lost worker pool, a closed
  output pipe...) first checkpoints `progress.state` if it is newer than the last checkpoint;
  `state` only ever holds completed iterations."""

  def __init__(self, save: Callable[[float], None], progress: Progress):
    self.save, self.progress = save, progress

  def __enter__(self) -> CheckpointOnError:
    return self

  def __exit__(self, kind, error, traceback) -> None:
    p = self.progress
    if error is None or int(p.state.iteration) == p.last_saved:
      return
    what = (
      "terminated (SIGTERM)"
      if isinstance(error, Terminated)
      else "interrupted"
      if isinstance(error, KeyboardInterrupt)
      else f"stopping on {type(error).__name__}"
    )
    try:
      self.save(p.wall())
      print(f"\n{what}: saved a checkpoint at iteration {int(p.state.iteration)}", file=sys.stderr, flush=True)
    except Exception as save_error:  # pylint: disable=broad-except
      logging.error("could not save a checkpoint at iteration %d: %s", int(p.state.iteration), save_error)


def train_run(run: build_lib.Run, workdir: str, progress_fn: ProgressFn | None = print_progress) -> TrainState:
  """Trains (or resumes) `run` in `workdir`; returns the final state.  The caller closes `run`
  (its evaluator), as `train` does."""
  sched = run.schedule
  os.makedirs(workdir, exist_ok=True)
  with contextlib.closing(CheckpointStore(os.path.join(workdir, "checkpoints"), keep=sched.keep_checkpoints)) as store:
    p = restore_or_init(run, workdir, store)
    start_iteration = int(p.state.iteration)
    save = functools.partial(save_checkpoint, run, workdir, store, p)
    if progress_fn is not None:
      print(f"{run.description}; workdir {workdir}", flush=True)
    with (
      sigterm_as_interrupt(),
      CheckpointOnError(save, p),
      contextlib.closing(open_metrics(run, workdir, p.state)) as writer,
    ):
      lost_before, evaluations = run.evaluator.jobs_lost, 0
      # A run resumed after it reached its limit has nothing left to do.
      while int(p.state.iteration) < sched.num_iterations and not limit_reached(sched, p.env_steps, 0.0):
        t0 = time.time()
        p.state, m = checked_iteration(run, p.state)
        it = int(p.state.iteration)
        steps = int(m.pop("episode_steps")) * run.action_repeat
        p.env_steps += steps
        eval_return = math.nan
        stopping = limit_reached(sched, p.env_steps, p.wall())
        # The last iteration is always evaluated, so a run cut by its budget has a best policy.
        if eval_due(it, sched.eval_every, sched.num_iterations) or stopping:
          eval_return, structure = evaluate(run, p.state)
          evaluations += 1
          log_structure(run, writer, p.state, structure, p.env_steps, evaluations)
          keep_if_best(run, workdir, p, eval_return, structure)
        dt, wall, lost_now = time.time() - t0, p.wall(), run.evaluator.jobs_lost
        row = metrics_row(p, m, eval_return, steps / max(dt, 1e-9), wall, lost_now - lost_before)
        lost_before = lost_now
        writer.write(row)
        if progress_fn is not None:
          progress_fn({**row, "_start_iteration": start_iteration}, sched)
        if it % sched.checkpoint_every == 0 or it == sched.num_iterations or stopping:
          save(wall)
        if stopping:
          if progress_fn is not None:
            print(f"stopping at iteration {it}: limit reached", flush=True)
          break
      if int(p.state.iteration) != p.last_saved:
        save(p.wall())
  return p.state
