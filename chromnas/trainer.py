"""The training driver: ES on the shared values, partition search beside it, on any engine.

`train(config, workdir)` builds the policy, evaluator and partition source from a validated
config, restores the newest checkpoint in `workdir` if there is one (rerunning the same
command resumes), and runs ES iterations with progress output, metrics (`metrics.csv`,
TensorBoard), periodic evaluation of the current policy on fresh episodes, and checkpoints.
The best evaluated policy is kept in the state and in `best_policy.npz`; Ctrl-C saves a
checkpoint before exiting.
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
from typing import Callable

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from chromnas import config as config_lib
from chromnas import normalizer
from chromnas import partition_sources
from chromnas import policies
from chromnas.bundle import PolicyBundle
from chromnas.checkpointing import CheckpointStore
from chromnas.es_step import Request
from chromnas.es_step import StepConfig
from chromnas.es_step import TrainState
from chromnas.es_step import ask
from chromnas.es_step import tell
from chromnas.evaluators import make_evaluator
from chromnas.metrics import MetricsWriter
from chromnas.metrics import structure_images

# Config fields that define what is being trained: a workdir cannot resume under other values
# (`controller.*` fields only where a controller is trained or sampled: `enas`, `random`).
IDENTITY_FIELDS = ("task", "engine", "architecture", "family", "num_colors", "partition_source", "seed",
                   "num_directions", "noise_size", "controller.hidden_size")


def make_optimizer(cfg) -> optax.GradientTransformation:
  """The optax optimiser named by `cfg.optimizer` at `cfg.learning_rate`."""
  return {"sgd": optax.sgd, "adam": optax.adam}[cfg.optimizer](cfg.learning_rate)


def make_source(cfg, spec: policies.PolicySpec):
  """The partition source of `cfg.partition_source` for `spec` (families without structure: 'none')."""
  if spec.structure_size == 0:
    return partition_sources.make_source("none", 0, 1)
  kwargs = {}
  if cfg.partition_source in ("enas", "random"):
    kwargs = dict(cfg.controller)
  elif cfg.partition_source == "evolution":
    kwargs = dict(cfg.evolution)
  if spec.family == "masked" and cfg.mask_budget:
    kwargs["budget"] = cfg.mask_budget
  return partition_sources.make_source(cfg.partition_source, spec.structure_size, spec.num_choices, **kwargs)


def make_evaluator_from_config(cfg, spec: policies.PolicySpec):
  """The evaluator of `cfg.engine` for `cfg.task`."""
  common = dict(episode_length=cfg.episode_length, action_repeat=cfg.action_repeat, noise_seed=cfg.seed,
                noise_size=cfg.noise_size, obs_clip=cfg.obs_clip)
  if cfg.engine == "brax":
    return make_evaluator("brax", cfg.task, spec, backend=cfg.backend, **common)
  return make_evaluator("host", cfg.task, spec, num_workers=cfg.num_workers or None, backend=cfg.host_backend,
                        ray_address=cfg.ray_address or None, max_lost_fraction=cfg.max_lost_fraction,
                        env_kwargs=cfg.env_kwargs.to_dict(), **common)


def init_state(cfg, spec: policies.PolicySpec, source, optimizer) -> TrainState:
  """The state before the first iteration (deterministic in `cfg.seed`)."""
  root = jax.random.PRNGKey(cfg.seed)
  params = policies.init_params(spec, jax.random.fold_in(root, 1))
  source_state = source.init(jax.random.fold_in(root, 2))
  stats = normalizer.init_stats(spec.obs_dim)
  return TrainState(params=params, opt_state=optimizer.init(params), obs_stats=stats, source_state=source_state,
                    key=jax.random.fold_in(root, 3), iteration=jnp.int32(0), best_return=jnp.float32(-jnp.inf),
                    best_params=params, best_structure=jnp.zeros((spec.structure_size,), jnp.int32),
                    best_obs_stats=stats)


def eval_structure(state: TrainState, source, spec: policies.PolicySpec):
  """The structure the current policy is evaluated with: the source's `current` partition
  (see `chromnas.partition_sources`), or an empty one for families without structure."""
  if spec.structure_size == 0:
    return jnp.zeros((0,), jnp.int32)
  return jnp.asarray(source.current(state.source_state), jnp.int32)


class Iteration:
  """Compiled pieces of one ES iteration for an evaluator (one jit for Brax, ask/tell around a
  host pool otherwise).  Compiled once per run."""

  def __init__(self, cfg, spec, evaluator, source, optimizer):
    self.evaluator = evaluator
    self.table = jnp.asarray(evaluator.noise_table)
    step_cfg = StepConfig(cfg.num_directions, float(cfg.sigma), cfg.fitness_shaping, cfg.top_directions,
                          int(cfg.noise_size), bool(cfg.normalize_observations), int(cfg.pairs_per_partition),
                          float(cfg.reward_shift))
    self._ask = jax.jit(lambda s: ask(s, step_cfg, source, spec.num_params))
    self._tell = jax.jit(lambda s, r, res, table: tell(s, r, res, table, step_cfg, source, optimizer))
    sigma = float(cfg.sigma)
    if evaluator.jittable:

      def full(state, table):
        state, req = ask(state, step_cfg, source, spec.num_params)
        res = evaluator.evaluate_perturbations(state.params, req.offsets, sigma, req.structures, state.obs_stats,
                                               req.episode_key, table=table)
        return tell(state, req, res, table, step_cfg, source, optimizer)

      self._full = jax.jit(full)
      self._eval = jax.jit(evaluator.evaluate_params)
    else:
      self._full = None
      self._eval = evaluator.evaluate_params
    self.sigma = sigma
    mesh = jax.sharding.Mesh(np.array(jax.local_devices()), ("pop",))
    self._replicated = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())

  def __call__(self, state: TrainState):
    """Runs one iteration: `(new_state, metrics dict of host scalars)`."""
    # One placement for the state, whatever produced it (init, restore, the last step, the
    # best-policy update), so the jitted step sees the same signature and compiles once.
    state = jax.device_put(state, self._replicated)
    if self._full is not None:
      state, metrics = self._full(state, self.table)
    else:
      state, req = self._ask(state)
      req = Request(*jax.device_get(req))
      res = self.evaluator.evaluate_perturbations(state.params, req.offsets, self.sigma, req.structures,
                                                  state.obs_stats, req.episode_key)
      state, metrics = self._tell(state, req, res, self.table)
    return state, {k: float(v) for k, v in jax.device_get(metrics).items()}

  def evaluate(self, params, structure, obs_stats, key, episodes: int):
    """Returns of `episodes` fresh episodes of one policy."""
    res = self._eval(jnp.tile(params[None], (episodes, 1)), jnp.tile(structure[None], (episodes, 1)), obs_stats, key)
    return np.asarray(jax.device_get(res.returns))


def bundle_from_state(cfg, spec, params, structure, stats) -> PolicyBundle:
  """A `PolicyBundle` (NumPy) for `params`/`structure` with the normaliser `stats`."""
  stats = jax.device_get(stats)
  return PolicyBundle(spec=spec, params=np.asarray(params, np.float32), structure=np.asarray(structure, np.int32),
                      obs_mean=np.asarray(stats.mean, np.float32),
                      obs_std=np.asarray(normalizer.std(stats), np.float32), obs_clip=float(cfg.obs_clip),
                      env=cfg.task)


def save_bundle(path: str, bundle: PolicyBundle, extra: dict | None = None) -> None:
  """Writes a bundle as an `.npz` (no pickle), atomically (temp file + rename)."""
  spec = bundle.spec
  meta = {"obs_dim": spec.obs_dim, "act_dim": spec.act_dim, "hidden": list(spec.hidden), "family": spec.family,
          "num_colors": spec.num_colors, "obs_clip": bundle.obs_clip, "env": bundle.env, **(extra or {})}
  tmp = path + ".tmp.npz"
  np.savez(tmp, params=bundle.params, structure=bundle.structure, obs_mean=bundle.obs_mean, obs_std=bundle.obs_std,
           meta=np.frombuffer(json.dumps(meta).encode(), np.uint8))
  os.replace(tmp, path)


def load_bundle(path: str) -> tuple[PolicyBundle, dict]:
  """Reads a bundle written by `save_bundle`: `(bundle, meta)`."""
  try:
    with np.load(path, allow_pickle=False) as z:
      meta = json.loads(bytes(z["meta"]).decode())
      spec = policies.PolicySpec(meta["obs_dim"], meta["act_dim"], tuple(meta["hidden"]), meta["family"],
                                 meta["num_colors"])
      bundle = PolicyBundle(spec, z["params"], z["structure"], z["obs_mean"], z["obs_std"], meta["obs_clip"],
                            meta["env"])
  except (OSError, ValueError, KeyError) as e:
    raise ValueError(f"cannot read the policy file {path}: {e}") from e
  return bundle, meta


def load_policy_bundle(workdir: str, which: str = "best") -> PolicyBundle:
  """The `best` (highest evaluation return) or `latest` policy saved in a training workdir."""
  if which not in ("best", "latest"):
    raise ValueError(f"which must be 'best' or 'latest', got {which!r}")
  path = os.path.join(workdir, f"{which}_policy.npz")
  if not os.path.exists(path):
    raise FileNotFoundError(f"{path} does not exist: is {workdir} a chromnas training workdir that has "
                            "run at least one evaluation?")
  return load_bundle(path)[0]


def format_duration(seconds: float) -> str:
  """`'1h05m'` or `'4m07s'` for a duration in seconds; `'?'` when it is not finite."""
  if not math.isfinite(seconds):
    return "?"
  seconds = int(max(seconds, 0))
  h, rem = divmod(seconds, 3600)
  m, s = divmod(rem, 60)
  return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s"


def default_progress(row: dict, cfg) -> None:
  """Prints one progress line per iteration (iteration, rewards, eval, speed, elapsed, ETA)."""
  it = row["iteration"]
  eta = row["wall_s"] / max(it - row.get("_start_iteration", 0), 1) * (cfg.num_iterations - it)
  if cfg.max_wall_minutes:
    eta = min(eta, 60 * cfg.max_wall_minutes - row["wall_s"])
  if cfg.max_env_steps and row["env_steps"]:
    eta = min(eta, row["wall_s"] / row["env_steps"] * max(cfg.max_env_steps - row["env_steps"], 0))
  ev = "" if math.isnan(row["eval_return"]) else f" | eval {row['eval_return']:9.1f} (best {row['best_return']:.1f})"
  print(f"it {it:5d}/{cfg.num_iterations} | reward mean {row['reward_mean']:9.1f} max {row['reward_max']:9.1f}{ev}"
        f" | {row['steps_per_s'] / 1e3:6.1f}k steps/s | elapsed {format_duration(row['wall_s'])} | ETA {format_duration(eta)}",
        flush=True)


class Terminated(KeyboardInterrupt):
  """SIGTERM (a batch scheduler, `docker stop`) arrived: handled like Ctrl-C (checkpoint, then exit)."""


def _raise_terminated(signum, frame):
  del frame
  raise Terminated(f"signal {signum}")


def _check_no_orphan_results(workdir: str) -> None:
  """Refuses to start afresh over the results of an earlier run whose checkpoints are gone:
  restarting at iteration 0 would truncate its metrics and overwrite its best policy."""
  found = [name for name in ("best_policy.npz", "latest_policy.npz") if os.path.exists(os.path.join(workdir, name))]
  metrics = os.path.join(workdir, "metrics.csv")
  if os.path.exists(metrics):
    with open(metrics) as f:
      if sum(1 for _ in f) > 1:
        found.append("metrics.csv")
  if found:
    raise ValueError(f"{workdir} holds results of an earlier run ({', '.join(found)}) but no checkpoint to resume "
                     "from; they are left untouched: use another --workdir, or move them away to start afresh")


def _config_json(cfg) -> dict:
  return json.loads(cfg.to_json_best_effort())


def train(cfg: ml_collections.ConfigDict, workdir: str,
          progress_fn: Callable[[dict, ml_collections.ConfigDict], None] | None = default_progress) -> TrainState:
  """Trains (or resumes) the run described by `cfg` in `workdir`; returns the final state."""
  spec = config_lib.validate(cfg)
  os.makedirs(workdir, exist_ok=True)
  source = make_source(cfg, spec)
  optimizer = make_optimizer(cfg)
  state = init_state(cfg, spec, source, optimizer)
  store = CheckpointStore(os.path.join(workdir, "checkpoints"), keep=cfg.keep_checkpoints)
  env_steps, wall_offset = 0, 0.0
  _check_same_run(cfg, workdir)
  restored = store.restore_latest(state)
  if restored is None:
    _check_no_orphan_results(workdir)
  else:
    step, state, meta = restored
    env_steps, wall_offset = int(meta["env_steps"]), float(meta["wall_s"])
    logging.info("resuming from checkpoint %d in %s", step, workdir)
    print(f"resuming {workdir} at iteration {step} ({env_steps} env steps)", flush=True)
  with open(os.path.join(workdir, "config.json"), "w") as f:
    json.dump(_config_json(cfg), f, indent=1)
  start_iteration = int(state.iteration)
  writer = None
  evaluator = make_evaluator_from_config(cfg, spec)
  last_saved = start_iteration
  t_start = time.time()

  def save(st, steps, wall):
    store.save(int(st.iteration), st, {"env_steps": steps, "wall_s": wall, "config": _config_json(cfg)})
    save_bundle(os.path.join(workdir, "latest_policy.npz"),
                bundle_from_state(cfg, spec, st.params, eval_structure(st, source, spec), st.obs_stats),
                {"iteration": int(st.iteration)})

  if progress_fn is not None:
    workers = f", {evaluator.num_workers} workers" if hasattr(evaluator, "num_workers") else ""
    k = f" K={spec.num_colors}" if spec.family == "chromatic" else ""
    print(f"{cfg.task} ({cfg.engine}{workers}): {spec.family} {spec.architecture}{k} policy, {spec.num_params} "
          f"trainable values; population {2 * cfg.num_directions} x {cfg.episode_length} steps; "
          f"partitions: {cfg.partition_source}; workdir {workdir}", flush=True)
  previous_term = None
  if threading.current_thread() is threading.main_thread():
    previous_term = signal.signal(signal.SIGTERM, _raise_terminated)
  try:
    iteration = Iteration(cfg, spec, evaluator, source, optimizer)
    extra = ["best_return", "num_nonfinite", "grad_norm", "params_norm", "episodes_lost"]
    writer = MetricsWriter(workdir, extra_fields=extra + sorted(_source_metric_names(source, state)))
    writer.truncate_after(start_iteration)
    eval_root = jax.random.PRNGKey(cfg.seed + 1_000_003)

    lost_before = _lost(evaluator)
    evaluations = 0
    def limit_reached(steps, wall):
      return bool((cfg.max_env_steps and steps >= cfg.max_env_steps)
                  or (cfg.max_wall_minutes and wall >= 60 * cfg.max_wall_minutes))

    # A run resumed after it reached its limit has nothing left to do.
    while int(state.iteration) < cfg.num_iterations and not limit_reached(env_steps, 0.0):
      t0 = time.time()
      previous = state
      state, m = iteration(state)
      it = int(state.iteration)
      if m["num_nonfinite"] >= 2 * cfg.num_directions:
        state = previous  # keep (and checkpoint) only iterations that learned something
        raise FloatingPointError(f"every return of iteration {it} is non-finite (the simulator diverged); the last "
                                 f"good state (iteration {it - 1}) is kept; check sigma={cfg.sigma} and the task")
      if not bool(jnp.all(jnp.isfinite(state.params))):
        state = previous
        raise FloatingPointError(f"the parameters became non-finite at iteration {it}; the last finite state "
                                 f"(iteration {it - 1}) is kept; lower learning_rate={cfg.learning_rate}")
      steps = int(m.pop("episode_steps")) * cfg.action_repeat
      env_steps += steps
      eval_return = math.nan
      stopping = limit_reached(env_steps, wall_offset + time.time() - t_start)
      # The last iteration is always evaluated, so a run cut by its budget has a best policy.
      if it % cfg.eval_every == 0 or it == cfg.num_iterations or stopping:
        structure = eval_structure(state, source, spec)
        rets = iteration.evaluate(state.params, structure, state.obs_stats, jax.random.fold_in(eval_root, it),
                                  cfg.eval_episodes)
        finite = rets[np.isfinite(rets)]
        eval_return = float(finite.mean()) if finite.size else math.nan
        evaluations += 1
        if cfg.image_every and spec.structure_size and evaluations % cfg.image_every == 1 % cfg.image_every:
          entropy = None if source.position_entropy is None else np.asarray(source.position_entropy(state.source_state))
          writer.write_images(env_steps, structure_images(np.asarray(structure), spec.layer_shapes,
                                                          spec.num_choices, entropy))
        if finite.size and eval_return > float(state.best_return):
          state = state.replace(best_return=jnp.float32(eval_return), best_params=state.params,
                                best_structure=structure, best_obs_stats=state.obs_stats)
          save_bundle(os.path.join(workdir, "best_policy.npz"),
                      bundle_from_state(cfg, spec, state.params, structure, state.obs_stats),
                      {"iteration": it, "eval_return": eval_return})
      dt = time.time() - t0
      wall = wall_offset + time.time() - t_start
      lost_now = _lost(evaluator)
      row = {"iteration": it, "env_steps": env_steps, "reward_mean": m["reward_mean"],
             "reward_max": m["reward_max"], "eval_return": eval_return, "steps_per_s": steps / max(dt, 1e-9),
             "wall_s": wall, "best_return": float(state.best_return), "episodes_lost": lost_now - lost_before, **m}
      lost_before = lost_now
      writer.write(row)
      if progress_fn is not None:
        progress_fn({**row, "_start_iteration": start_iteration}, cfg)
      if it % cfg.checkpoint_every == 0 or it == cfg.num_iterations or stopping:
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
      what = ("terminated (SIGTERM)" if isinstance(e, Terminated) else "interrupted" if isinstance(e, KeyboardInterrupt)
              else f"stopping on {type(e).__name__}")
      try:
        save(state, env_steps, wall_offset + time.time() - t_start)
        print(f"\n{what}: saved a checkpoint at iteration {int(state.iteration)}", file=sys.stderr, flush=True)
      except Exception as save_error:  # pylint: disable=broad-except
        logging.error("could not save a checkpoint at iteration %d: %s", int(state.iteration), save_error)
    raise
  finally:
    if previous_term is not None:
      signal.signal(signal.SIGTERM, previous_term)
    evaluator.close()
    if writer is not None:
      writer.close()
    store.close()
  return state


_MISSING = object()


def _check_same_run(cfg, workdir: str) -> None:
  """Refuses to resume a workdir whose saved config differs in a field that defines the run."""
  path = os.path.join(workdir, "config.json")
  if not os.path.exists(path):
    return
  with open(path) as f:
    old = json.load(f)
  for field in IDENTITY_FIELDS:
    if field.startswith("controller.") and cfg.partition_source not in ("enas", "random"):
      continue
    saved, asked = old, cfg
    for part in field.split("."):
      saved = saved.get(part, _MISSING) if isinstance(saved, dict) else _MISSING
      asked = asked[part]
    if saved is not _MISSING and saved != asked:
      raise ValueError(f"{workdir} holds a run with config.{field}={saved!r}, this command asks for "
                       f"{asked!r}; use another --workdir")


def _lost(evaluator) -> int:
  stats = getattr(evaluator, "pool_stats", None)
  return int(stats.get("jobs_lost", 0)) if stats else 0


def _source_metric_names(source, state) -> list[str]:
  """Names of the metrics `source.tell` reports (from its abstract output, no compile)."""
  n = 2
  structures = jax.ShapeDtypeStruct((n, state.best_structure.shape[0]), jnp.int32)
  rewards = jax.ShapeDtypeStruct((n,), jnp.float32)
  _, metrics = jax.eval_shape(source.tell, state.source_state, structures, rewards)
  return list(metrics)
