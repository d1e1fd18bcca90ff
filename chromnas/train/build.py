"""From a config to a runnable training run: the one place that reads the `ConfigDict`.

`load_config(source, overrides)` loads a config file, module or saved `config.json`;
`build(cfg)` validates it (`config.validate`, the only call) and turns it into a `Run`: the policy
spec, partition source, optimiser, evaluator (its workers started), initial state, the compiled
`Iteration`, and the loop's settings as plain values.  Everything downstream (the loop, the
binaries, the benchmarks) takes values from the `Run`, never the config.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import json
import os
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import ml_collections
import optax

from chromnas.core import policy_spec
from chromnas.engines import make_evaluator
from chromnas.engines.base import Evaluator
from chromnas.es import normalizer
from chromnas.es.ask_tell import StepConfig, TrainState
from chromnas.model import policies
from chromnas.search import partition_sources
from chromnas.search.partition_sources import PartitionSource
from chromnas.train import config as config_lib
from chromnas.train.iteration import Iteration

# Config fields that define what is being trained: a workdir cannot resume under other values
# (`controller.*` fields only where a controller is trained or sampled: `enas`, `random`).
IDENTITY_FIELDS = (
  "task",
  "engine",
  "architecture",
  "family",
  "num_colors",
  "partition_source",
  "seed",
  "num_directions",
  "noise_size",
  "init_scale",
  "controller.hidden_size",
)


class Schedule(NamedTuple):
  """How long the loop runs and what it does when: iterations, the early-stopping budgets
  (0 = none), evaluation and checkpoint periods, TensorBoard image period (in evaluations)."""

  num_iterations: int
  max_env_steps: int
  max_wall_minutes: float
  eval_every: int
  eval_episodes: int
  checkpoint_every: int
  keep_checkpoints: int
  image_every: int


@dataclasses.dataclass(frozen=True, eq=False)
class Run:
  """Everything a training loop needs, built from a config.

  `evaluator` holds started workers: close the run (`run.close()`, or `with build(cfg) as run`)
  when done.  `identity` maps each of `IDENTITY_FIELDS` that applies to its value; `config_json`
  is the config as saved beside the run; `description` is a one-line summary of the run.
  """

  spec: policy_spec.PolicySpec
  source: PartitionSource
  optimizer: optax.GradientTransformation
  evaluator: Evaluator
  step_config: StepConfig
  iteration: Iteration
  initial_state: TrainState
  schedule: Schedule
  eval_key: jax.Array  # root of the evaluation episodes' keys (folded with the iteration)
  action_repeat: int  # env steps per control step
  learning_rate: float
  task: str
  engine: str
  obs_clip: float
  identity: dict[str, Any]
  config_json: dict
  description: str

  def close(self) -> None:
    """Releases the evaluator's workers or devices."""
    self.evaluator.close()

  def __enter__(self) -> Run:
    return self

  def __exit__(self, *exc) -> None:
    self.close()


def _deep_merge(base: dict, update: Mapping) -> dict:
  """`base` with `update`'s entries replacing its own, nested dicts merged (keys `base` lacks kept)."""
  out = dict(base)
  for key, value in update.items():
    out[key] = _deep_merge(out[key], value) if isinstance(value, Mapping) and isinstance(out.get(key), dict) else value
  return out


def _config_module(source: str):
  """The module of a config file path `*.py` or module name `configs.x`; `ValueError` if there is none."""
  if source.endswith(".py"):
    if os.path.isdir(source) or not os.path.isfile(source):
      raise ValueError(f"{source}: no such config file")
    name = os.path.splitext(os.path.basename(source))[0]
    module_spec = importlib.util.spec_from_file_location(f"_chromnas_config_{name}", source)
    assert module_spec is not None and module_spec.loader is not None
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module
  try:
    return importlib.import_module(source)
  except ModuleNotFoundError as e:
    if e.name and source.startswith(e.name):  # the module itself is missing, not one it imports
      raise ValueError(f"{source}: no such config module (give configs.NAME or a path configs/NAME.py)") from None
    raise


def load_config(source: str, overrides: Mapping[str, Any] | None = None) -> ml_collections.ConfigDict:
  """The config of `source` with `overrides` applied; not validated (`build` validates).

  `source`: a config file `configs/x.py` or a module `configs.x` (either's `get_config()`), or a
  run's saved `config.json` (over `default_config()`, so fields added since keep their defaults).
  `overrides`: `{'field' or 'parent.field': value}`.  Raises `ValueError` (one line) for a source
  that is missing or defines no `get_config`, and for an override of a field the config lacks or
  of the wrong type.
  """
  if source.endswith(".json"):
    if not os.path.isfile(source):
      raise ValueError(f"{source}: no such file")
    try:
      with open(source) as f:
        saved = json.load(f)
    except json.JSONDecodeError as e:
      raise ValueError(f"{source}: not a JSON config ({e})") from None
    if not isinstance(saved, dict):
      raise ValueError(f"{source}: not a JSON config (a {type(saved).__name__}, not an object)")
    cfg = ml_collections.ConfigDict(_deep_merge(config_lib.default_config().to_dict(), saved))
  else:
    module = _config_module(source)
    if not callable(getattr(module, "get_config", None)):
      raise ValueError(f"{source}: defines no get_config(), so it is not a config")
    cfg = module.get_config()
  for field, value in (overrides or {}).items():
    target = cfg
    *parents, leaf = field.split(".")
    for part in parents:
      target = target.get(part) if isinstance(target, ml_collections.ConfigDict) else None
    if not isinstance(target, ml_collections.ConfigDict) or leaf not in target:
      raise ValueError(f"config.{field}: unknown field")
    try:
      target[leaf] = value
    except TypeError:
      raise ValueError(f"config.{field}: {value!r} is not a {type(target[leaf]).__name__}") from None
  return cfg


def task_episode_length(cfg: ml_collections.ConfigDict) -> int:
  """The registry's episode length of `cfg.task` on `cfg.engine` (and `cfg.backend` under Brax)."""
  from chromnas.envs import tasks

  return tasks.engine_task(cfg.task, cfg.engine, cfg.backend if cfg.engine == "brax" else None).episode_length


def make_optimizer(name: str, learning_rate: float) -> optax.GradientTransformation:
  """The optax optimiser `name` (one of `config.OPTIMIZERS`) at `learning_rate`."""
  return config_lib.OPTIMIZERS[name](learning_rate)


def make_source(kind: str, spec: policy_spec.PolicySpec, settings: dict, mask_budget: int = 0) -> PartitionSource:
  """The partition source `kind` for `spec` with its `settings` (the controller's or evolution's
  keyword arguments of `partition_sources.make_source`); families without structure get 'none'."""
  if spec.structure_size == 0:
    return partition_sources.make_source("none", 0, 1)
  kwargs = dict(settings)
  if spec.family_record.masks and mask_budget:
    kwargs["budget"] = mask_budget
  return partition_sources.make_source(kind, spec.structure_size, spec.num_choices, **kwargs)


def init_state(
  seed: int,
  spec: policy_spec.PolicySpec,
  source: PartitionSource,
  optimizer: optax.GradientTransformation,
  init_scale: float = 0.0,
) -> TrainState:
  """The state before the first iteration, deterministic in `seed`: `init_state_from_key` of
  `PRNGKey(seed)`."""
  return init_state_from_key(jax.random.PRNGKey(seed), spec, source, optimizer, init_scale)


def init_state_from_key(
  root: jax.Array,
  spec: policy_spec.PolicySpec,
  source: PartitionSource,
  optimizer: optax.GradientTransformation,
  init_scale: float = 0.0,
) -> TrainState:
  """The state before the first iteration from the key `root` (traceable, so vmappable over keys):
  params `(num_params,)` from `fold_in(root, 1)` (weight values of std `init_scale`; 0 =
  `policies.init_params`'s default), the source's state from `fold_in(root, 2)`, the run's key
  `fold_in(root, 3)`."""
  params = policies.init_params(spec, jax.random.fold_in(root, 1), float(init_scale) or None)
  source_state = source.init(jax.random.fold_in(root, 2))
  stats = normalizer.init_stats(spec.obs_dim)
  return TrainState(
    params=params,
    opt_state=optimizer.init(params),
    obs_stats=stats,
    source_state=source_state,
    key=jax.random.fold_in(root, 3),
    iteration=jnp.int32(0),
    best_return=jnp.float32(-jnp.inf),
    best_params=params,
    best_structure=jnp.zeros((spec.structure_size,), jnp.int32),
    best_obs_stats=stats,
  )


def make_evaluator_from_config(cfg: ml_collections.ConfigDict, spec: policy_spec.PolicySpec) -> Evaluator:
  """The evaluator of `cfg.engine` for `cfg.task` and `spec` (host workers start here)."""
  common = dict(
    episode_length=cfg.episode_length,
    action_repeat=cfg.action_repeat,
    noise_seed=cfg.seed,
    noise_size=cfg.noise_size,
    obs_clip=cfg.obs_clip,
  )
  if cfg.engine == "brax":
    return make_evaluator("brax", cfg.task, spec, backend=cfg.backend, **common)
  return make_evaluator(
    "host",
    cfg.task,
    spec,
    num_workers=cfg.num_workers or None,
    backend=cfg.host_backend,
    ray_address=cfg.ray_address or None,
    max_lost_fraction=cfg.max_lost_fraction,
    env_kwargs=cfg.env_kwargs.to_dict(),
    **common,
  )


def identity(cfg: ml_collections.ConfigDict) -> dict[str, Any]:
  """`{field: value}` of the `IDENTITY_FIELDS` that define the run of `cfg` (the controller's
  only where the partition source has one)."""
  out = {}
  for field in IDENTITY_FIELDS:
    if field.startswith("controller.") and cfg.partition_source not in partition_sources.CONTROLLER_KINDS:
      continue
    value = cfg
    for part in field.split("."):
      value = value[part]
    out[field] = value
  return out


def source_from_config(cfg: ml_collections.ConfigDict, spec: policy_spec.PolicySpec) -> PartitionSource:
  """The partition source `cfg.partition_source` names, with its settings block (`cfg.controller`
  for the controller's kinds, `cfg.evolution` for evolution) and the masked family's budget."""
  settings = {}
  if cfg.partition_source in partition_sources.CONTROLLER_KINDS:
    settings = dict(cfg.controller)
  elif cfg.partition_source == "evolution":
    settings = dict(cfg.evolution)
  return make_source(cfg.partition_source, spec, settings, cfg.mask_budget)


def step_config(cfg: ml_collections.ConfigDict) -> StepConfig:
  """The ES step's static settings (directions, sigma, shaping, estimator, ...) from `cfg`."""
  return StepConfig(
    cfg.num_directions,
    float(cfg.sigma),
    cfg.fitness_shaping,
    cfg.top_directions,
    int(cfg.noise_size),
    bool(cfg.normalize_observations),
    int(cfg.pairs_per_partition),
    float(cfg.reward_shift),
    cfg.estimator,
  )


def build(cfg: ml_collections.ConfigDict, *, before_start: Callable[[dict[str, Any]], None] | None = None) -> Run:
  """Validates `cfg` (`ValueError('config.<field>: ...')`) and builds its `Run`; starts the
  evaluator last, so nothing is left running if an earlier step fails.  `before_start(identity)`
  runs after validation and before the evaluator starts (the loop refuses a foreign workdir there)."""
  spec = config_lib.validate(cfg)
  run_identity = identity(cfg)
  if before_start is not None:
    before_start(run_identity)
  source = source_from_config(cfg, spec)
  optimizer = make_optimizer(cfg.optimizer, cfg.learning_rate)
  state = init_state(cfg.seed, spec, source, optimizer, cfg.init_scale)
  step_cfg = step_config(cfg)
  schedule = Schedule(
    cfg.num_iterations,
    cfg.max_env_steps,
    cfg.max_wall_minutes,
    cfg.eval_every,
    cfg.eval_episodes,
    cfg.checkpoint_every,
    cfg.keep_checkpoints,
    cfg.image_every,
  )
  config_json = json.loads(cfg.to_json_best_effort())
  evaluator = make_evaluator_from_config(cfg, spec)
  try:
    iteration = Iteration(spec, evaluator, source, optimizer, step_cfg)
  except BaseException:
    evaluator.close()
    raise
  workers = f", {evaluator.num_workers} workers" if evaluator.num_workers else ""
  k = f" K={spec.num_colors}" if spec.family_record.shared_values else ""
  description = (
    f"{cfg.task} ({cfg.engine}{workers}): {spec.family} {spec.architecture}{k} policy, "
    f"{spec.num_params} trainable values; population {2 * cfg.num_directions} x {cfg.episode_length} "
    f"steps; partitions: {cfg.partition_source}"
  )
  return Run(
    spec=spec,
    source=source,
    optimizer=optimizer,
    evaluator=evaluator,
    step_config=step_cfg,
    iteration=iteration,
    initial_state=state,
    schedule=schedule,
    eval_key=jax.random.PRNGKey(cfg.seed + 1_000_003),
    action_repeat=cfg.action_repeat,
    learning_rate=cfg.learning_rate,
    task=cfg.task,
    engine=cfg.engine,
    obs_clip=float(cfg.obs_clip),
    identity=run_identity,
    config_json=config_json,
    description=description,
  )
