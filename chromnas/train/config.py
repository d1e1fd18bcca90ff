"""Training configuration: the defaults every experiment config starts from, and validation.

Configs are `ml_collections.ConfigDict`s; `configs/*.py` files call `default_config()` and
override fields.  `validate` runs before anything is built or compiled and raises one
`ValueError` naming the offending field.
"""

from __future__ import annotations

import os

import ml_collections
import optax

from chromnas import engines
from chromnas.core import families, policy_spec
from chromnas.envs import tasks
from chromnas.es import estimator
from chromnas.search import controller, partition_sources

# The optimisers of the shared values, by name (`config.optimizer`).
OPTIMIZERS = {"sgd": optax.sgd, "adam": optax.adam}
MAX_WORKERS_PER_CORE = 4


def default_config() -> ml_collections.ConfigDict:
  """The README's main job: chromatic linear policy, 17 shared values, HalfCheetah-v5 on the host pool."""
  c = ml_collections.ConfigDict()
  c.task = "halfcheetah"
  c.engine = "host"  # 'host' (worker processes) or 'brax' (jit/vmap on device)
  # Brax pipeline, used when engine == 'brax'; 'mjx_gym': Gymnasium v5's tasks on MJX.
  c.backend = "positional"
  c.host_backend = "local"  # 'local' processes or 'ray'
  c.ray_address = ""  # '' starts a local Ray instance
  c.num_workers = 0  # host workers; 0 = all cores
  c.env_kwargs = ml_collections.ConfigDict()  # extra keyword arguments of the host environment
  c.architecture = "L"  # 'L', 'H41', 'H41,H41', ...
  c.family = "chromatic"  # unstructured | toeplitz | circulant | masked | chromatic
  c.num_colors = 17  # K, shared values of a chromatic network
  # Std of the initial weight values; 0 = the default (zero for linear policies, 1/sqrt(obs_dim)
  # with hidden layers).  A smaller scale starts a hidden-layer policy near the zero action.
  c.init_scale = 0.0
  c.mask_budget = 0  # masked family: kept-edge budget (0 = no budget)
  c.partition_source = "fixed"  # one of `partition_sources.KINDS`
  # 0: every member samples its own partition; k: one partition per k antithetic pairs.  1 (both
  # sides of a pair share one) learned best with ENAS on HalfCheetah: the pair's return difference
  # then measures the weights alone, not two different partitions.
  c.pairs_per_partition = 1
  c.episode_length = 1000
  c.action_repeat = 1
  # Subtracted from every control step's reward for learning only (ARS's "shift"): set it to the
  # healthy bonus (1 on Hopper, Walker2d, Ant) so that standing still stops paying.  Reported
  # returns and evaluations are the environment's own.
  c.reward_shift = 0.0
  c.num_directions = 16  # t: antithetic pairs per iteration (population 2t)
  c.top_directions = 0  # ARS top-b (0 = use all directions)
  # 'antithetic' (t pairs w +- sigma g) or 'forward_fd' (the poster's eq. 1: 2t one-sided directions
  # and one episode at w itself as the baseline; top_directions does not apply).
  c.estimator = "antithetic"
  c.sigma = 0.03
  c.optimizer = "adam"
  c.learning_rate = 0.02
  c.fitness_shaping = "centered_rank"
  c.normalize_observations = True
  c.obs_clip = 10.0
  c.num_iterations = 300
  c.max_env_steps = 0  # stop early after this many env steps (0 = no limit)
  c.max_wall_minutes = 0.0  # stop early after this long (0 = no limit)
  c.eval_every = 10
  c.eval_episodes = 4
  c.checkpoint_every = 10
  c.image_every = 5  # evaluations between partition / controller-entropy images in TensorBoard (0 = none)
  c.keep_checkpoints = 3
  c.seed = 0
  c.noise_size = 1 << 22
  c.max_lost_fraction = 0.5
  # ENAS controller (also the `random` source's, never trained); fields and chosen values:
  # `partition_sources.CONTROLLER_DEFAULTS` (from `controller.ControllerConfig` and
  # `controller.ReinforceConfig`).  `advantage`: one of `controller.ADVANTAGES`; `head`: one of
  # `controller.HEADS`; `diagnostics`: log the search's health figures every iteration;
  # `init_logit_scale`: std of the per-position logits at init.
  c.controller = ml_collections.ConfigDict(dict(partition_sources.CONTROLLER_DEFAULTS))
  c.evolution = ml_collections.ConfigDict(dict(partition_sources.EVOLUTION_DEFAULTS))
  return c


def _fail(field: str, message: str):
  raise ValueError(f"config.{field}: {message}")


# Free-form sub-configs whose keys are not checked against the defaults.
FREE_FORM = ("env_kwargs",)


def check_fields(
  c: ml_collections.ConfigDict, reference: ml_collections.ConfigDict | None = None, prefix: str = ""
) -> None:
  """Every field of `c` must exist in the defaults and every float must be finite, so a
  misspelt field in a config file (`c.learning_rat = 5.0`) or a `nan` is an error naming it
  instead of a silently ignored or poisoned setting."""
  import difflib
  import math

  reference = default_config() if reference is None else reference
  for key in c.keys():
    name = prefix + key
    if key not in reference:
      close = difflib.get_close_matches(key, list(reference.keys()), n=1)
      _fail(name, "unknown field" + (f"; did you mean config.{prefix}{close[0]}?" if close else ""))
    value = c[key]
    if isinstance(value, float) and not math.isfinite(value):
      _fail(name, f"must be finite, got {value}")
    if (
      isinstance(value, ml_collections.ConfigDict)
      and key not in FREE_FORM
      and isinstance(reference[key], ml_collections.ConfigDict)
    ):
      check_fields(value, reference[key], prefix=name + ".")


def _field_check(field: str, check, *args):
  """`check(*args)`, its `ValueError` reworded as one about `config.<field>`."""
  try:
    return check(*args)
  except ValueError as e:
    _fail(field, str(e))


def _is_ray_address(address) -> bool:
  """Whether `address` has a form `ray.init` accepts: 'auto', 'local', HOST:PORT or ray://HOST:PORT."""
  import re

  if not isinstance(address, str):
    return False
  if address in ("auto", "local"):
    return True
  match = re.fullmatch(r"(?:ray://)?([A-Za-z0-9._-]+|\[[0-9A-Fa-f:]+\]):(\d{1,5})", address)
  return match is not None and 1 <= int(match.group(2)) <= 65535


def validate(c: ml_collections.ConfigDict) -> policy_spec.PolicySpec:
  """Checks every field and returns the policy spec; raises `ValueError('config.<field>: ...')`."""
  check_fields(c)
  task = _field_check("task", tasks.get_task, c.task)
  if c.engine not in engines.ENGINES:
    _fail("engine", f"unknown engine {c.engine!r}; use 'host' or 'brax'")
  if c.engine not in task.engines:
    _fail("engine", f"task {c.task!r} is not provided by the {c.engine} engine (it has: {', '.join(task.engines)})")
  if c.engine == "brax":
    _field_check("backend", tasks.engine_task, c.task, "brax", c.backend)
  if c.host_backend not in engines.HOST_BACKENDS:
    _fail("host_backend", f"unknown host backend {c.host_backend!r}; use 'local' or 'ray'")
  if c.ray_address and not _is_ray_address(c.ray_address):
    _fail(
      "ray_address",
      f"{c.ray_address!r} is not a Ray address: use '' (a local instance), 'auto', HOST:PORT or ray://HOST:PORT",
    )
  if c.family not in families.NAMES:
    _fail("family", f"unknown family {c.family!r}; choose one of {families.NAMES}")
  record = families.FAMILIES[c.family]
  hidden = _field_check("architecture", policy_spec.parse_architecture, c.architecture)
  et = tasks.engine_task(c.task, c.engine, c.backend if c.engine == "brax" else None)
  num_edges = sum(a * b for a, b in zip((et.obs_dim, *hidden), (*hidden, et.act_dim)))
  if record.shared_values and not 1 <= c.num_colors <= num_edges:
    _fail(
      "num_colors",
      f"K={c.num_colors} must lie in [1, {num_edges}] (the number of weights of a "
      f"{c.architecture} policy for {c.task} with dims ({et.obs_dim}, {et.act_dim}))",
    )
  if record.masks and not 0 <= c.mask_budget <= num_edges:
    _fail("mask_budget", f"{c.mask_budget} must lie in [0, {num_edges}]")
  if c.partition_source not in partition_sources.KINDS:
    _fail("partition_source", f"unknown source {c.partition_source!r}; choose one of {partition_sources.KINDS}")
  if not (
    isinstance(c.pairs_per_partition, int)
    and c.pairs_per_partition >= 0
    and (c.pairs_per_partition == 0 or c.num_directions % c.pairs_per_partition == 0)
  ):
    _fail(
      "pairs_per_partition",
      f"must be 0 or a divisor of num_directions={c.num_directions}, got {c.pairs_per_partition!r}",
    )
  needs_structure = record.searched
  if needs_structure and c.partition_source == "none":
    _fail("partition_source", f"the {c.family} family needs a partition source (fixed, random, enas or evolution)")
  if not needs_structure and c.partition_source not in ("none", "fixed"):
    _fail("partition_source", f"the {c.family} family has no structure to search; use 'none'")
  if not (isinstance(c.init_scale, (int, float)) and 0.0 <= c.init_scale <= 10.0):
    _fail("init_scale", f"must lie in [0, 10] (0 = the default scale), got {c.init_scale!r}")
  for field in ("sigma", "learning_rate", "obs_clip"):
    if not c[field] > 0:
      _fail(field, f"must be positive, got {c[field]}")
  if not (isinstance(c.image_every, int) and c.image_every >= 0):
    _fail("image_every", f"must be an integer >= 0 (0 = no images), got {c.image_every!r}")
  for field in (
    "num_directions",
    "episode_length",
    "action_repeat",
    "num_iterations",
    "eval_every",
    "checkpoint_every",
    "keep_checkpoints",
    "eval_episodes",
  ):
    if not (isinstance(c[field], int) and c[field] >= 1):
      _fail(field, f"must be a positive integer, got {c[field]!r}")
  if not (isinstance(c.reward_shift, (int, float)) and 0.0 <= c.reward_shift < 1e6):
    _fail("reward_shift", f"must be a finite number >= 0, got {c.reward_shift!r}")
  if not 0 <= c.top_directions <= c.num_directions:
    _fail("top_directions", f"must lie in [0, num_directions={c.num_directions}], got {c.top_directions}")
  _field_check("controller.advantage", controller.check_advantage, c.controller.advantage)
  _field_check("controller.head", controller.check_head, c.controller.head)
  _field_check("controller.optimizer", controller.make_optimizer, c.controller.optimizer, 1.0)
  if not (isinstance(c.controller.elite_size, int) and 0 <= c.controller.elite_size <= 4096):
    _fail(
      "controller.elite_size", f"must be an integer in [0, 4096] (0 = no elite memory), got {c.controller.elite_size!r}"
    )
  if not (isinstance(c.controller.elite_decay, (int, float)) and 0.0 <= c.controller.elite_decay <= 1.0):
    _fail("controller.elite_decay", f"must be a number in [0, 1] (1 = no decay), got {c.controller.elite_decay!r}")
  for field in ("entropy_floor", "entropy_floor_weight"):
    value = c.controller[field]
    if not (isinstance(value, (int, float)) and 0.0 <= value < 1e6):
      _fail(f"controller.{field}", f"must be a finite number >= 0 (entropy_floor 0 = off), got {value!r}")
  if not (isinstance(c.controller.hidden_size, int) and c.controller.hidden_size >= 1):
    _fail("controller.hidden_size", f"must be a positive integer, got {c.controller.hidden_size!r}")
  if not c.controller.learning_rate > 0:
    _fail("controller.learning_rate", f"must be positive, got {c.controller.learning_rate}")
  if c.optimizer not in OPTIMIZERS:
    _fail("optimizer", f"unknown optimizer {c.optimizer!r}; choose one of {tuple(OPTIMIZERS)}")
  _field_check("fitness_shaping", estimator.check_shaping, c.fitness_shaping)
  _field_check("estimator", estimator.check_estimator, c.estimator)
  if c.estimator == "forward_fd" and c.top_directions:
    _fail("top_directions", "ARS top-b needs antithetic pairs; set it to 0 with estimator='forward_fd'")
  if not isinstance(c.num_workers, int) or c.num_workers < 0:
    _fail("num_workers", f"must be an integer >= 0 (0 = all cores), got {c.num_workers!r}")
  if c.host_backend == "local" and c.num_workers > MAX_WORKERS_PER_CORE * (os.cpu_count() or 1):
    # Each local worker is a whole interpreter: far more than the cores only exhausts memory.
    _fail(
      "num_workers",
      f"{c.num_workers} local workers on {os.cpu_count()} cores; use at most "
      f"{MAX_WORKERS_PER_CORE * (os.cpu_count() or 1)} (0 = one per core), or host_backend='ray' for a cluster",
    )
  if c.max_env_steps < 0:
    _fail("max_env_steps", f"must be >= 0 (0 = no limit), got {c.max_env_steps}")
  if c.max_wall_minutes < 0:
    _fail("max_wall_minutes", f"must be >= 0 (0 = no limit), got {c.max_wall_minutes}")
  if not 0 < c.sigma <= 10 or not 0 < c.learning_rate <= 10:
    _fail("sigma" if not 0 < c.sigma <= 10 else "learning_rate", "must lie in (0, 10]")
  if not 0.0 <= c.max_lost_fraction < 1.0:
    _fail("max_lost_fraction", f"must lie in [0, 1), got {c.max_lost_fraction}")
  if c.noise_size < 1000:
    _fail("noise_size", f"must be >= 1000, got {c.noise_size}")
  return policy_spec.PolicySpec(et.obs_dim, et.act_dim, hidden, c.family, c.num_colors if record.shared_values else 0)
