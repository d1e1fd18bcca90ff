"""A whole training run as compiled JAX: ES iterations in `lax.scan` chunks, vmappable over seeds.

`make_train(cfg, chunk)` (JAX engine only) returns a `CompiledTrain`:

- `init(key, eval_key=None) -> CompiledState`, the state before the first iteration;
- `run_chunk(state, table, start=None) -> (state, metrics)`, `chunk` iterations in one jitted
  `lax.scan` (ask, rollouts, tell, the partition source's update, periodic evaluation and the
  best policy kept by `jnp.where`);
- `noise_table(key) -> (S,)`, a shared-noise table drawn from a key;
- `train(key, table=None) -> CompiledState`, init and every chunk, one pure function of the key:
  `jax.vmap(train)(keys)` trains N seeds in one program; `train_batch(keys)` does the same and keeps
  the evaluation schedule a real branch (see below).

What `chromnas.train.loop` decides on the host lives in the carried state here:

- the env-step budget (`max_env_steps`) is a mask (`lax.cond`, a select under a vmap): a seed that
  reached it stops changing, while the others go on; the run ends when every seed is done or
  `num_iterations` is reached;
- an iteration whose every return is non-finite, or whose update makes a parameter non-finite, is
  skipped (parameters, optimiser, normaliser and partition source stay as they were; its key and
  iteration count advance) and counted in `num_skipped` and the `skipped` metric.  The host loop
  stops with an error there instead;
- evaluation at `eval_every`, at the last iteration and at the iteration that reaches the budget,
  with the loop's episode keys (`fold_in(eval_key, iteration)`), the best policy kept when an
  evaluation beats it.

Evaluation runs under `lax.cond` on the chunk's iteration numbers, which are the same for every
seed (`start` is not vmapped), so vmapping over seeds does not turn it into a both-branch select.
A seed's budget-stop evaluation, whose iteration differs per seed, is deferred to the next
evaluation point (at the latest the chunk's last iteration); its frozen state and the key of its own
last iteration make it the evaluation the host loop would have run.

`train_seeds(cfg, workdir, seeds)` is the driver: chunk by chunk, vmapped over seeds, one stacked
checkpoint after each chunk (resumed by rerunning), and per seed a workdir `workdir/seed<k>/` laid
out like the host loop's (`config.json`, `metrics.csv`, `best_policy.npz`, `latest_policy.npz`), so
`experiments.evaluate` and `experiments.export` read it.  Seed `k` uses the loop's noise table and
keys for `config.seed = k`.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from collections.abc import Callable, Sequence
from typing import NamedTuple

import chex
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from flax import struct

from chromnas.core import bundle as bundle_lib
from chromnas.core import noise as noise_lib
from chromnas.es.ask_tell import TrainState, ask, forward_fd_population, tell
from chromnas.train import build as build_lib
from chromnas.train import loop
from chromnas.train.checkpointing import CheckpointStore
from chromnas.train.metrics import MetricsWriter, read_csv
from chromnas.train.progress import print_progress


@struct.dataclass
class CompiledState:
  """The carried state of a compiled run: the ES `TrainState` (its `best_*` fields hold the best
  evaluated policy), the evaluation episodes' root key, env steps so far (int32), whether the
  budget stopped this seed, skipped iterations so far, scan steps taken (the same for every seed),
  and whether a budget-stop evaluation is still owed."""

  train: TrainState
  eval_key: jax.Array  # (2,) uint32
  env_steps: jax.Array  # () int32
  done: jax.Array  # () bool
  num_skipped: jax.Array  # () int32
  steps: jax.Array  # () int32
  pending_eval: jax.Array  # () bool


class CompiledTrain(NamedTuple):
  """What `make_train` returns; see the module docstring.  `num_chunks` chunks of `chunk_size`
  iterations cover `num_iterations`; `run` is the built `Run` the pieces come from."""

  init: Callable[..., CompiledState]
  run_chunk: Callable[..., tuple[CompiledState, dict]]
  noise_table: Callable[[jax.Array], jax.Array]
  train: Callable[..., CompiledState]
  train_batch: Callable[..., CompiledState]
  chunk_size: int
  num_chunks: int
  run: build_lib.Run


def _tree_where(pred, a, b):
  return jax.tree.map(lambda x, y: jnp.where(pred, x, y), a, b)


def placer() -> Callable:
  """`place(tree)`: `tree` replicated on the local devices (the placement `Iteration` uses)."""
  mesh = jax.sharding.Mesh(np.array(jax.local_devices()), ("pop",))
  replicated = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
  return lambda tree: jax.device_put(tree, replicated)


def check_compilable(cfg: ml_collections.ConfigDict) -> None:
  """`ValueError` unless `cfg` can run as one compiled function (`engine='brax'`)."""
  if cfg.engine != "brax":
    raise ValueError(
      f"config.engine: a compiled run (--seeds > 1) needs the JAX engine (engine='brax'); the {cfg.engine!r} "
      "engine's worker pool runs outside JAX and cannot be jitted"
    )


def make_train(cfg: ml_collections.ConfigDict, num_iterations_per_chunk: int) -> CompiledTrain:
  """Validates `cfg`, builds its `Run` and returns its `CompiledTrain` (see `make_train_for_run`)."""
  run = build_lib.build(cfg, before_start=lambda _: check_compilable(cfg))
  return make_train_for_run(run, num_iterations_per_chunk)


def make_train_for_run(run: build_lib.Run, num_iterations_per_chunk: int) -> CompiledTrain:
  """The compiled pieces of `run` (its evaluator must be jittable), `num_iterations_per_chunk`
  ES iterations per `lax.scan` chunk.  Every piece is pure; `run_chunk` is jitted."""
  if not run.evaluator.jittable:
    raise ValueError("a compiled run needs a jittable evaluator (engine='brax')")
  n = int(num_iterations_per_chunk)
  if n < 1:
    raise ValueError(f"num_iterations_per_chunk must be >= 1, got {n}")
  spec, source, optimizer, evaluator = run.spec, run.source, run.optimizer, run.evaluator
  step_cfg, sched = run.step_config, run.schedule
  sigma = step_cfg.sigma
  total = int(sched.num_iterations)
  budget = int(sched.max_env_steps)
  if budget >= 2**31:
    raise ValueError(f"max_env_steps={budget}: a compiled run counts env steps in int32 (below 2**31)")

  def init(key: jax.Array, eval_key: jax.Array | None = None) -> CompiledState:
    """The state before the first iteration.  From `key = PRNGKey(seed)` the `TrainState` equals
    `build.init_state(seed, ...)`: params from `fold_in(key, 1)`, the source's state from
    `fold_in(key, 2)`, the run's key `fold_in(key, 3)`.  `eval_key` (default `fold_in(key, 4)`) is
    the evaluation episodes' root."""
    ts = build_lib.init_state_from_key(key, spec, source, optimizer, run.config_json["init_scale"])
    return CompiledState(
      train=ts,
      eval_key=jax.random.fold_in(key, 4) if eval_key is None else eval_key,
      env_steps=jnp.int32(0),
      done=jnp.bool_(False),
      num_skipped=jnp.int32(0),
      steps=jnp.int32(0),
      pending_eval=jnp.bool_(False),
    )

  def noise_table(key: jax.Array) -> jax.Array:
    """`(noise_size,)` float32 draws of N(0, 1) from `key` (the host loop's table comes from NumPy
    instead: `chromnas.core.noise.make_table(seed)`)."""
    return jax.random.normal(key, (step_cfg.noise_size,), jnp.float32)

  def es_iteration(ts: TrainState, table):
    ts, req = ask(ts, step_cfg, source, spec.num_params)
    if step_cfg.forward_fd:
      res = evaluator.evaluate_params(
        forward_fd_population(ts.params, req.offsets, table, sigma), req.structures, ts.obs_stats, req.episode_key
      )
    else:
      res = evaluator.evaluate_perturbations(
        ts.params, req.offsets, sigma, req.structures, ts.obs_stats, req.episode_key, table=table
      )
    return tell(ts, req, res, table, step_cfg, source, optimizer)

  def structure_of(ts: TrainState):
    if spec.structure_size == 0:
      return jnp.zeros((0,), jnp.int32)
    return jnp.asarray(source.current(ts.source_state), jnp.int32)

  def evaluate(cs: CompiledState):
    """Mean of the finite returns of `eval_episodes` fresh episodes of the current policy (NaN if
    none is finite), keyed by the seed's own iteration as in the host loop."""
    ts, e = cs.train, sched.eval_episodes
    res = evaluator.evaluate_params(
      jnp.tile(ts.params[None], (e, 1)),
      jnp.tile(structure_of(ts)[None], (e, 1)),
      ts.obs_stats,
      jax.random.fold_in(cs.eval_key, ts.iteration),
    )
    finite = jnp.isfinite(res.returns)
    count = jnp.sum(finite)
    mean = jnp.sum(jnp.where(finite, res.returns, 0.0)) / jnp.maximum(count, 1)
    return jnp.where(count > 0, mean, jnp.nan).astype(jnp.float32)

  def guarded(cs: CompiledState, table):
    new, m = es_iteration(cs.train, table)
    bad = loop.every_return_nonfinite(m["num_nonfinite"], step_cfg.num_directions) | ~jnp.all(jnp.isfinite(new.params))
    kept = _tree_where(bad, dataclasses.replace(cs.train, key=new.key, iteration=new.iteration), new)
    steps = m.pop("episode_steps") * run.action_repeat
    cs = dataclasses.replace(cs, train=kept, env_steps=cs.env_steps + steps, num_skipped=cs.num_skipped + bad)
    return cs, {**m, "skipped": bad, "iteration_env_steps": steps}

  def chunk_impl(cs: CompiledState, table, start):
    """`n` scan steps; step `i` produces iteration `start + i + 1` (when the seed is active)."""
    chex.assert_rank(table, 1)
    template = jax.eval_shape(guarded, cs, table)[1]
    zeros = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), template)

    def step(cs: CompiledState, i):
      it = start + i + 1  # not vmapped: the same for every seed
      active = it <= total
      if budget:
        active = active & ~cs.done
      cs, m = jax.lax.cond(active, guarded, lambda c, _: (c, zeros), cs, table)
      stopping = jnp.bool_(False)
      if budget:
        stopping = active & (cs.env_steps >= budget)
        cs = dataclasses.replace(cs, done=cs.done | stopping)
      periodic = loop.eval_due(it, sched.eval_every, total)
      want = active & (periodic | stopping)  # the host loop evaluates this iteration
      point = periodic & (it <= total)
      if budget:
        point = point | ((i == n - 1) & (it <= total))  # owed budget-stop evaluations land here at the latest
      need = want | cs.pending_eval
      value = jax.lax.cond(point, evaluate, lambda c: jnp.float32(jnp.nan), cs)
      evaluated = point & need
      ts = cs.train
      improved = evaluated & jnp.isfinite(value) & (value > ts.best_return)
      best = dataclasses.replace(
        ts, best_return=value, best_params=ts.params, best_structure=structure_of(ts), best_obs_stats=ts.obs_stats
      )
      cs = dataclasses.replace(
        cs,
        train=_tree_where(improved, best, ts),
        pending_eval=(cs.pending_eval | want) & ~evaluated,
        steps=cs.steps + 1,
      )
      metrics = {
        **m,
        "active": active,
        "iteration": cs.train.iteration,
        "env_steps": cs.env_steps,
        "evaluated": evaluated,
        "eval_return": jnp.where(evaluated, value, jnp.nan),
        "best_return": cs.train.best_return,
      }
      return cs, metrics

    return jax.lax.scan(step, cs, jnp.arange(n, dtype=jnp.int32))

  def run_chunk_fn(cs: CompiledState, table, start=None):
    """`(state, metrics)` after `n` more scan steps; `metrics[name]` has a leading axis `n`
    (`active` marks the steps that ran an iteration, `evaluated` those that evaluated one; the
    evaluated iteration is `iteration`).  `start` (default `state.steps`) is the scan steps taken
    before; pass it unbatched when vmapping over seeds (`in_axes=(0, 0, None)`) so that evaluation
    stays a real branch."""
    return chunk_impl(cs, table, cs.steps if start is None else jnp.asarray(start, jnp.int32))

  num_chunks = -(-total // n)

  def train(key: jax.Array, table: jax.Array | None = None) -> CompiledState:
    """The whole run from `key` (table from `fold_in(key, 5)` unless given): chunks until the
    iterations are done or the budget stops it."""
    cs = init(key)
    table = noise_table(jax.random.fold_in(key, 5)) if table is None else table

    def cond(carry):
      cs, c = carry
      return (c < num_chunks) & ~cs.done

    def body(carry):
      cs, c = carry
      return chunk_impl(cs, table, c * n)[0], c + 1

    return jax.lax.while_loop(cond, body, (cs, jnp.int32(0)))[0]

  def train_batch(keys: jax.Array, tables: jax.Array | None = None) -> CompiledState:
    """`jax.vmap(train)(keys)` with the chunk counter outside the vmap: the same states, with
    evaluation as a real branch.  `keys (N, 2)`, `tables (N, S)` or None."""
    cs = jax.vmap(init)(keys)
    if tables is None:
      tables = jax.vmap(lambda k: noise_table(jax.random.fold_in(k, 5)))(keys)
    chunk = jax.vmap(chunk_impl, in_axes=(0, 0, None))

    def cond(carry):
      cs, c = carry
      return (c < num_chunks) & ~jnp.all(cs.done)

    def body(carry):
      cs, c = carry
      return chunk(cs, tables, c * n)[0], c + 1

    return jax.lax.while_loop(cond, body, (cs, jnp.int32(0)))[0]

  jitted_chunk = jax.jit(run_chunk_fn)
  place = placer()

  def run_chunk(cs: CompiledState, table, start=None):
    # One placement whatever produced the state (init, the last chunk, a restore), so the chunk
    # compiles once: the evaluator's sharding constraints make its outputs differ from `init`'s.
    return jitted_chunk(place(cs), table, start)

  run_chunk.__doc__ = run_chunk_fn.__doc__
  return CompiledTrain(init, run_chunk, noise_table, train, train_batch, n, num_chunks, run)  # the fields' order


# ----------------------------------------------------------------------------------------------
# The driver: chunks vmapped over seeds, checkpoints and per-seed workdirs between them.

SeedProgressFn = Callable[[dict, build_lib.Schedule], None]


def print_seed_progress(row: dict, schedule: build_lib.Schedule) -> None:
  """`print_progress`'s line for one seed, prefixed with `seed <k>`."""
  print(f"seed {row['seed']:3d} | ", end="")
  print_progress(row, schedule)


def seed_workdir(workdir: str, seed: int) -> str:
  """Where seed `seed` of a multi-seed run keeps its results: `workdir/seed<seed>`."""
  return os.path.join(workdir, f"seed{seed}")


def _host_rows(metrics: dict, seed_index: int) -> tuple[list[dict], dict[int, tuple[float, float]]]:
  """Seed `seed_index`'s rows of a chunk's stacked `metrics` (one per iteration it ran) and its
  evaluations `{iteration: (eval_return, best_return)}` (a deferred one is keyed by the
  iteration it evaluated)."""
  m = {k: np.asarray(v)[seed_index] for k, v in metrics.items()}
  rows, evals = [], {}
  for j in range(m["active"].shape[0]):
    it = int(m["iteration"][j])
    if m["evaluated"][j]:
      evals[it] = (float(m["eval_return"][j]), float(m["best_return"][j]))
    if m["active"][j]:
      rows.append({k: (v[j].item() if v[j].dtype != bool else int(v[j])) for k, v in m.items()})
  return rows, evals


def train_seeds(
  cfg: ml_collections.ConfigDict,
  workdir: str,
  seeds: Sequence[int],
  progress_fn: SeedProgressFn | None = print_seed_progress,
  chunk_size: int = 0,
) -> CompiledState:
  """Trains (or resumes) `cfg` for every seed of `seeds` at once on the JAX engine.

  Chunks of `chunk_size` iterations (default `cfg.checkpoint_every`) run vmapped over the seeds;
  after each chunk the stacked state is checkpointed in `workdir/checkpoints/` and every seed's
  rows, best and latest policies are written to `seed_workdir(workdir, k)`.  Seed `k` trains as
  the host loop would with `config.seed = k` (its noise table, initial state and evaluation keys).
  `max_wall_minutes` is checked between chunks.  Returns the stacked final `CompiledState`
  (leading axis `len(seeds)`)."""
  seeds = [int(s) for s in seeds]
  if not seeds or len(set(seeds)) != len(seeds):
    raise ValueError(f"seeds must be distinct and at least one, got {seeds}")
  n = int(chunk_size or cfg.checkpoint_every)
  with build_lib.build(cfg, before_start=lambda _: check_compilable(cfg)) as run:
    return train_seeds_run(run, n, workdir, seeds, progress_fn)


def train_seeds_run(
  run: build_lib.Run,
  n: int,
  workdir: str,
  seeds: Sequence[int],
  progress_fn: SeedProgressFn | None = print_seed_progress,
) -> CompiledState:
  """`train_seeds` on a built `run` (its evaluator jittable), `n` iterations per chunk; the caller
  closes `run`."""
  seeds = [int(s) for s in seeds]
  ct = make_train_for_run(run, n)
  sched = run.schedule
  identity = {**run.identity, "seeds": seeds}
  identity.pop("seed", None)
  loop.check_same_run(identity, workdir)
  os.makedirs(workdir, exist_ok=True)
  keys = jnp.stack([jax.random.PRNGKey(s) for s in seeds])
  eval_keys = jnp.stack([jax.random.PRNGKey(s + 1_000_003) for s in seeds])  # the loop's evaluation root
  state = jax.jit(jax.vmap(ct.init))(keys, eval_keys)
  # Each seed's own table, as its host-loop run builds it (`BraxEvaluator` from `config.seed`).
  tables = jnp.asarray(np.stack([noise_lib.make_table(s, run.step_config.noise_size) for s in seeds]))
  store = CheckpointStore(os.path.join(workdir, "checkpoints"), keep=sched.keep_checkpoints)
  writers: list[MetricsWriter] = []
  try:
    restored = store.restore_latest(state)
    wall_offset = 0.0
    if restored is None:
      _check_no_orphan_results(workdir, seeds, n)
    else:
      step, state, meta = restored
      wall_offset = float(meta["wall_s"])
      print(f"resuming {workdir} after {step} scan steps (seeds {seeds})", flush=True)
    with open(os.path.join(workdir, "config.json"), "w") as f:
      json.dump({**run.config_json, "seeds": seeds}, f, indent=1)
    extra = loop.metric_fields(run.source, run.initial_state, ["skipped"])
    iterations = np.asarray(state.train.iteration)
    for i, s in enumerate(seeds):
      d = seed_workdir(workdir, s)
      os.makedirs(d, exist_ok=True)
      with open(os.path.join(d, "config.json"), "w") as f:
        json.dump({**run.config_json, "seed": s}, f, indent=1)
      w = MetricsWriter(d, extra_fields=extra)
      w.truncate_after(int(iterations[i]))
      writers.append(w)
    vchunk = jax.jit(jax.vmap(ct.run_chunk, in_axes=(0, 0, None)))
    place = placer()

    def chunk(state, tables, start):
      return vchunk(place(state), tables, start)

    if progress_fn is not None:
      print(f"{run.description}; seeds {seeds} vmapped, {n} iterations per chunk; workdir {workdir}", flush=True)
    t_start = time.time()
    start_steps = int(np.asarray(state.steps)[0])
    best_before = np.asarray(state.train.best_return)
    while int(np.asarray(state.steps)[0]) < ct.num_chunks * n and not bool(np.all(np.asarray(state.done))):
      if sched.max_wall_minutes and wall_offset + time.time() - t_start >= 60 * sched.max_wall_minutes:
        if progress_fn is not None:
          print("stopping: max_wall_minutes reached", flush=True)
        break
      t0 = time.time()
      begin = int(np.asarray(state.steps)[0])
      state, metrics = chunk(state, tables, jnp.int32(begin))
      metrics = jax.device_get(metrics)
      host = jax.device_get(state)
      dt = time.time() - t0
      wall = wall_offset + time.time() - t_start
      for i, s in enumerate(seeds):
        last = _write_seed_chunk(run, writers[i], seed_workdir(workdir, s), metrics, host, i, dt, wall, best_before[i])
        if progress_fn is not None and last is not None:
          progress_fn({**last, "seed": s, "_start_iteration": start_steps}, sched)
      best_before = np.asarray(host.train.best_return)
      store.save(int(np.asarray(state.steps)[0]), state, {"wall_s": wall, "seeds": seeds, "config": run.config_json})
  finally:
    for w in writers:
      w.close()
    store.close()
  return state


def _check_no_orphan_results(workdir: str, seeds: list[int], n: int) -> None:
  """Refuses to start afresh over per-seed results that no checkpoint covers, except those of a
  run killed during its first chunk (at most `n` rows each): they are recomputed identically."""
  for s in seeds:
    d = seed_workdir(workdir, s)
    path = os.path.join(d, "metrics.csv")
    rows = len(read_csv(path)) if os.path.exists(path) else 0
    if rows > n or (not rows and os.path.exists(os.path.join(d, "best_policy.npz"))):
      raise ValueError(
        f"{d} holds results of an earlier run but {workdir} has no checkpoint to resume from; they are left "
        "untouched: use another --workdir, or move them away to start afresh"
      )


def _write_seed_chunk(run, writer, directory, metrics, state, i, dt, wall, best_before) -> dict | None:
  """Seed `i`'s rows of a chunk (wall time spread evenly over them) to its metrics.csv, its latest
  policy, and its best policy if an evaluation of this chunk beat `best_before`; returns its last
  row (None if the seed ran no iteration)."""
  rows, evals = _host_rows(metrics, i)
  ts = jax.tree.map(lambda x: x[i], state.train)
  speed = float(np.sum(np.asarray(metrics["iteration_env_steps"])[i])) / max(dt, 1e-9)
  out = None
  for j, row in enumerate(rows):
    eval_return, best_return = evals.get(row["iteration"], (math.nan, row["best_return"]))
    out = {
      **row,
      "eval_return": eval_return,
      "best_return": best_return,
      "steps_per_s": speed,
      "wall_s": wall - dt + dt * (j + 1) / len(rows),
      "episodes_lost": 0,
    }
    writer.write(out)
  improved, best = None, float(best_before)
  for it, (r, _) in sorted(evals.items()):
    if math.isfinite(r) and r > best:
      improved, best = (it, r), r
  if improved is not None:
    it, r = improved
    bundle_lib.save_npz(
      os.path.join(directory, "best_policy.npz"),
      loop.policy_bundle(run, ts.best_params, ts.best_structure, ts.best_obs_stats),
      {"iteration": int(it), "eval_return": float(r)},
    )
  structure = ts.best_structure if run.spec.structure_size == 0 else run.source.current(ts.source_state)
  bundle_lib.save_npz(
    os.path.join(directory, "latest_policy.npz"),
    loop.policy_bundle(run, ts.params, np.asarray(structure, np.int32), ts.obs_stats),
    {"iteration": int(ts.iteration)},
  )
  return out
