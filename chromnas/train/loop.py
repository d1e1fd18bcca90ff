"""The training loop: ES on the shared values, partition search beside it, on any engine.

`train(cfg, workdir)` builds the run (`build.build`) and trains it: `train_run` restores the
newest checkpoint in `workdir` if there is one (rerunning the same command resumes), and runs
ES iterations with progress output, metrics (`metrics.csv`, TensorBoard), periodic evaluation
of the current policy on fresh episodes, and checkpoints.  The best evaluated policy is kept in
the state and in `best_policy.npz`; Ctrl-C, SIGTERM or an error saves a checkpoint of the
finished iterations before exiting.
"""

from __future__ import annotations

import json
import logging
import math
import os
import signal
import sys
import threading
import time
from collections.abc import Callable

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


def train(cfg: ml_collections.ConfigDict, workdir: str, progress_fn: ProgressFn | None = print_progress) -> TrainState:
  """Trains (or resumes) the run described by `cfg` in `workdir`; returns the final state."""
  # The workdir is checked before any worker starts.
  with build_lib.build(cfg, before_start=lambda run_identity: check_same_run(run_identity, workdir)) as run:
    return train_run(run, workdir, progress_fn)


def train_run(run: build_lib.Run, workdir: str, progress_fn: ProgressFn | None = print_progress) -> TrainState:
  """Trains (or resumes) `run` in `workdir`; returns the final state.  The caller closes `run`
  (its evaluator), as `train` does."""
  sched = run.schedule
  spec, source, evaluator = run.spec, run.source, run.evaluator
  os.makedirs(workdir, exist_ok=True)
  state = run.initial_state
  store = CheckpointStore(os.path.join(workdir, "checkpoints"), keep=sched.keep_checkpoints)
  env_steps, wall_offset = 0, 0.0
  try:
    check_same_run(run.identity, workdir)
    restored = store.restore_latest(state)
    if restored is None:
      _check_no_orphan_results(workdir, sched.checkpoint_every)
    else:
      step, state, meta = restored
      env_steps, wall_offset = int(meta["env_steps"]), float(meta["wall_s"])
      logging.info("resuming from checkpoint %d in %s", step, workdir)
      print(f"resuming {workdir} at iteration {step} ({env_steps} env steps)", flush=True)
    with open(os.path.join(workdir, "config.json"), "w") as f:
      json.dump(run.config_json, f, indent=1)
  except BaseException:
    store.close()
    raise
  start_iteration = int(state.iteration)
  writer = None
  last_saved = start_iteration
  t_start = time.time()

  def save(st, steps, wall):
    store.save(int(st.iteration), st, {"env_steps": steps, "wall_s": wall, "config": run.config_json})
    bundle_lib.save_npz(
      os.path.join(workdir, "latest_policy.npz"),
      policy_bundle(run, st.params, eval_structure(st, run), st.obs_stats),
      {"iteration": int(st.iteration)},
    )

  if progress_fn is not None:
    print(f"{run.description}; workdir {workdir}", flush=True)
  previous_term = None
  if threading.current_thread() is threading.main_thread():
    previous_term = signal.signal(signal.SIGTERM, _raise_terminated)
  try:
    iteration = run.iteration
    extra = ["best_return", "num_nonfinite", "grad_norm", "params_norm", "episodes_lost"]
    writer = MetricsWriter(workdir, extra_fields=extra + sorted(_source_metric_names(source, state)))
    writer.truncate_after(start_iteration)
    eval_root = run.eval_key

    lost_before = evaluator.jobs_lost
    evaluations = 0

    def limit_reached(steps, wall):
      return bool(
        (sched.max_env_steps and steps >= sched.max_env_steps)
        or (sched.max_wall_minutes and wall >= 60 * sched.max_wall_minutes)
      )

    # A run resumed after it reached its limit has nothing left to do.
    while int(state.iteration) < sched.num_iterations and not limit_reached(env_steps, 0.0):
      t0 = time.time()
      previous = state
      state, m = iteration(state)
      it = int(state.iteration)
      if m["num_nonfinite"] >= 2 * run.step_config.num_directions:
        state = previous  # keep (and checkpoint) only iterations that learned something
        raise FloatingPointError(
          f"every return of iteration {it} is non-finite (the simulator diverged); the last "
          f"good state (iteration {it - 1}) is kept; check sigma={run.step_config.sigma} "
          "and the task"
        )
      if not bool(jnp.all(jnp.isfinite(state.params))):
        state = previous
        raise FloatingPointError(
          f"the parameters became non-finite at iteration {it}; the last finite state "
          f"(iteration {it - 1}) is kept; lower learning_rate={run.learning_rate}"
        )
      steps = int(m.pop("episode_steps")) * run.action_repeat
      env_steps += steps
      eval_return = math.nan
      stopping = limit_reached(env_steps, wall_offset + time.time() - t_start)
      # The last iteration is always evaluated, so a run cut by its budget has a best policy.
      if it % sched.eval_every == 0 or it == sched.num_iterations or stopping:
        structure = eval_structure(state, run)
        rets = iteration.evaluate(
          state.params, structure, state.obs_stats, jax.random.fold_in(eval_root, it), sched.eval_episodes
        )
        finite = rets[np.isfinite(rets)]
        eval_return = float(finite.mean()) if finite.size else math.nan
        evaluations += 1
        if sched.image_every and spec.structure_size and evaluations % sched.image_every == 1 % sched.image_every:
          entropy = None if source.position_entropy is None else np.asarray(source.position_entropy(state.source_state))
          writer.write_images(
            env_steps, structure_images(np.asarray(structure), spec.layer_shapes, spec.num_choices, entropy)
          )
        if finite.size and eval_return > float(state.best_return):
          state = state.replace(
            best_return=jnp.float32(eval_return),
            best_params=state.params,
            best_structure=structure,
            best_obs_stats=state.obs_stats,
          )
          bundle_lib.save_npz(
            os.path.join(workdir, "best_policy.npz"),
            policy_bundle(run, state.params, structure, state.obs_stats),
            {"iteration": it, "eval_return": eval_return},
          )
      dt = time.time() - t0
      wall = wall_offset + time.time() - t_start
      lost_now = evaluator.jobs_lost
      row = {
        "iteration": it,
        "env_steps": env_steps,
        "reward_mean": m["reward_mean"],
        "reward_max": m["reward_max"],
        "eval_return": eval_return,
        "steps_per_s": steps / max(dt, 1e-9),
        "wall_s": wall,
        "best_return": float(state.best_return),
        "episodes_lost": lost_now - lost_before,
        **m,
      }
      lost_before = lost_now
      writer.write(row)
      if progress_fn is not None:
        progress_fn({**row, "_start_iteration": start_iteration}, sched)
      if it % sched.checkpoint_every == 0 or it == sched.num_iterations or stopping:
        save(state, env_steps, wall)
        last_saved = it
      if stopping:
        if progress_fn is not None:
          print(f"stopping at iteration {it}: limit reached", flush=True)
        break
    if int(state.iteration) != last_saved:
      save(state, env_steps, wall_offset + time.time() - t_start)
  except BaseException as e:
    # Ctrl-C, a lost worker pool, a closed output pipe...: `state` only ever holds completed
    # iterations, so keep them before the error propagates.
    if int(state.iteration) != last_saved:
      what = (
        "terminated (SIGTERM)"
        if isinstance(e, Terminated)
        else "interrupted"
        if isinstance(e, KeyboardInterrupt)
        else f"stopping on {type(e).__name__}"
      )
      try:
        save(state, env_steps, wall_offset + time.time() - t_start)
        print(f"\n{what}: saved a checkpoint at iteration {int(state.iteration)}", file=sys.stderr, flush=True)
      except Exception as save_error:  # pylint: disable=broad-except
        logging.error("could not save a checkpoint at iteration %d: %s", int(state.iteration), save_error)
    raise
  finally:
    if previous_term is not None:
      signal.signal(signal.SIGTERM, previous_term)
    if writer is not None:
      writer.close()
    store.close()
  return state
