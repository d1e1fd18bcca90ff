"""From a config to a runnable training run: the one place that reads the `ConfigDict`.

`build(cfg)` validates the config (`config.validate`) and turns it into a `Run`: the policy
spec, partition source, optimiser, evaluator (its workers started), initial state, the compiled
`Iteration`, and the loop's settings as plain values.  Everything downstream (the loop, the
benchmarks) takes values from the `Run`, never the config.
"""

from __future__ import annotations

import dataclasses
import json
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
  """The state before the first iteration, deterministic in `seed`: params `(num_params,)` from
  key 1 (weight values of std `init_scale`; 0 = `policies.init_params`'s default), the source's
  state from key 2, the run's key 3 of `PRNGKey(seed)`."""
  root = jax.random.PRNGKey(seed)
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


def build(cfg: ml_collections.ConfigDict) -> Run:
  """Validates `cfg` (`ValueError('config.<field>: ...')`) and builds its `Run`; starts the
  evaluator last, so nothing is left running if an earlier step fails."""
  spec = config_lib.validate(cfg)
  settings = {}
  if cfg.partition_source in partition_sources.CONTROLLER_KINDS:
    settings = dict(cfg.controller)
  elif cfg.partition_source == "evolution":
    settings = dict(cfg.evolution)
  source = make_source(cfg.partition_source, spec, settings, cfg.mask_budget)
  optimizer = make_optimizer(cfg.optimizer, cfg.learning_rate)
  state = init_state(cfg.seed, spec, source, optimizer, cfg.init_scale)
  step_cfg = StepConfig(
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
    obs_clip=float(cfg.obs_clip),
    identity=identity(cfg),
    config_json=config_json,
    description=description,
  )
