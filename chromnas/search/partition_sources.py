"""Pluggable sources of partitions (structures) for the trainer: `init`, `ask`, `tell`.

A source proposes one structure per population member and learns from the rewards they got.
As in optax, each source is one small constructor returning the same `PartitionSource` of pure
functions; `make_source(kind, ...)` picks the constructor by name (`CONSTRUCTORS`):

* `none`: families without structure; structures of shape `(n, 0)`.
* `fixed`: one random partition drawn at `init` (or `seed_structure`), used for every member.
* `random`: the ENAS controller at its initial parameters, never trained (the poster's
  "random controller" baseline).
* `enas`: the controller trained by REINFORCE on the rewards of the partitions it sampled.
* `evolution`: regularized evolution over colorings (tournament selection, one-position
  mutations, the oldest member replaced), as in the ES-ENAS follow-up.

Every state keeps `best_structure` / `best_reward`: the partition with the highest single
reward seen so far.  `current(state)` is the partition the source stands for now, which the
trainer evaluates the current shared values with: the fixed partition, the controller's most
likely coloring (`enas`, `random`), or the fittest member (`evolution`).  (The best single
reward is a stale choice for a controller: it was earned by other, perturbed values.)
Non-finite rewards (diverging simulators) are ignored by every source.  States are
`flax.struct` pytrees, so they jit, checkpoint and restore with everything else.  For the masked
family (`num_choices = 2`), `budget > 0` subtracts `|mean reward| * max(0, kept / budget - 1)`
from the rewards the `enas` controller and `evolution` learn from (a soft budget on kept edges).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from flax import struct

from chromnas.search import controller as ctrl


class PartitionSource(NamedTuple):
  """`init(key) -> state`; `ask(state, key, n) -> structures (n, E)`;
  `tell(state, structures, rewards) -> (state, metrics)`; `current(state) -> (E,)`, the
  structure the source would deploy now (the trainer evaluates the current values with it);
  `position_entropy(state) -> (E,)` (controllers only, else None): how undecided the source is
  at each position along its current structure, for watching a search."""

  init: Callable[[jax.Array], Any]
  ask: Callable[[Any, jax.Array, int], jax.Array]
  tell: Callable[[Any, jax.Array, jax.Array], tuple[Any, dict]]
  current: Callable[[Any], jax.Array]
  position_entropy: Callable[[Any], jax.Array] | None = None


@struct.dataclass
class FixedState:
  structure: jax.Array
  best_structure: jax.Array
  best_reward: jax.Array


@struct.dataclass
class ControllerState:
  reinforce: ctrl.ReinforceState
  best_structure: jax.Array
  best_reward: jax.Array
  elite_structures: jax.Array  # (k, E): the k best partitions seen (k = elite_size, maybe 0)
  elite_rewards: jax.Array  # (k,), -inf where empty


def _merge_elites(elite_s, elite_r, structures, rewards):
  """The `k` best of the current elites and a new batch: `(elite_s (k, E), elite_r (k,))`;
  non-finite rewards never enter."""
  k = elite_s.shape[0]
  if not k:
    return elite_s, elite_r
  all_r = jnp.concatenate([elite_r, jnp.where(jnp.isfinite(rewards), rewards, -jnp.inf)])
  all_s = jnp.concatenate([elite_s, structures.astype(elite_s.dtype)])
  top_r, idx = jax.lax.top_k(all_r, k)
  return all_s[idx], top_r


def _decay_elites(elite_r, rewards, decay):
  """`m + decay * (elite_r - m)` for the remembered rewards, `m` the mean of the batch's finite
  `rewards`; empty slots (-inf) stay empty, and a batch with no finite reward changes nothing."""
  finite = jnp.isfinite(rewards)
  n = jnp.sum(finite)
  m = jnp.sum(jnp.where(finite, rewards, 0.0)) / jnp.maximum(n, 1)
  return jnp.where(jnp.isfinite(elite_r) & (n > 0), m + decay * (elite_r - m), elite_r)


@struct.dataclass
class EvolutionState:
  population: jax.Array  # (P, E)
  fitness: jax.Array  # (P,)
  next_slot: jax.Array  # () ring-buffer position of the oldest member
  filled: jax.Array  # () members evaluated so far (up to P)
  best_structure: jax.Array
  best_reward: jax.Array


def _update_best(best_structure, best_reward, structures, rewards):
  """Keeps the structure with the highest finite reward seen so far."""
  r = jnp.where(jnp.isfinite(rewards), rewards, -jnp.inf)
  i = jnp.argmax(r)
  better = r[i] > best_reward
  return jnp.where(better, structures[i], best_structure), jnp.where(better, r[i], best_reward)


def _budget_penalty(structures, rewards, num_choices: int, budget: int):
  if num_choices != 2 or not budget:
    return rewards
  kept = jnp.sum(structures, axis=-1)
  scale = jnp.abs(jnp.nanmean(jnp.where(jnp.isfinite(rewards), rewards, jnp.nan)))
  return rewards - jnp.nan_to_num(scale) * jnp.maximum(0.0, kept / budget - 1.0)


def distinct_count(structures: jax.Array) -> jax.Array:
  """The number of distinct rows of `structures (n, E)`: a row counts unless an earlier row equals it."""
  same = jnp.all(structures[:, None, :] == structures[None, :, :], axis=-1)  # (n, n)
  earlier = jnp.tril(same, k=-1)
  return jnp.sum(~jnp.any(earlier, axis=1))


# Every partition source, and those that sample from the ENAS controller.
KINDS = ("none", "fixed", "random", "enas", "evolution")
CONTROLLER_KINDS = ("random", "enas")


def _field_defaults(cls) -> dict:
  return {f.name: f.default for f in dataclasses.fields(cls) if f.default is not dataclasses.MISSING}


# Settings of the `enas` / `random` controller sources (also `config.controller`): the defaults
# of `controller.ControllerConfig` and `controller.ReinforceConfig`, where they are chosen.
CONTROLLER_DEFAULTS = {**_field_defaults(ctrl.ControllerConfig), **_field_defaults(ctrl.ReinforceConfig)}
# Settings of the `evolution` source (also `config.evolution`).
EVOLUTION_DEFAULTS = {"population_size": 50, "tournament_size": 5}


def _check_sizes(kind: str, num_positions: int, num_choices: int) -> tuple[int, int]:
  e, c = int(num_positions), int(num_choices)
  if e < 1 or c < 1:
    raise ValueError(f"partition source {kind!r} needs num_positions >= 1 and num_choices >= 1, got {e}, {c}")
  return e, c


def none(num_positions: int = 0, num_choices: int = 1) -> PartitionSource:
  """The source of families without structure: every structure has shape `(0,)`."""
  del num_positions, num_choices
  return PartitionSource(
    init=lambda key: FixedState(jnp.zeros((0,), jnp.int32), jnp.zeros((0,), jnp.int32), jnp.float32(-jnp.inf)),
    ask=lambda state, key, n: jnp.zeros((n, 0), jnp.int32),
    tell=lambda state, structures, rewards: (state, {}),
    current=lambda state: jnp.zeros((0,), jnp.int32),
  )


def fixed(num_positions: int, num_choices: int, *, seed_structure=None) -> PartitionSource:
  """One partition for every member: `seed_structure (E,)`, or drawn uniformly from
  `[0, num_choices)^E` at `init`."""
  e, c = _check_sizes("fixed", num_positions, num_choices)

  def init(key):
    s = (
      jnp.asarray(seed_structure, jnp.int32)
      if seed_structure is not None
      else jax.random.randint(key, (e,), 0, c, dtype=jnp.int32)
    )
    return FixedState(s, s, jnp.float32(-jnp.inf))

  def tell(state, structures, rewards):
    r = jnp.where(jnp.isfinite(rewards), rewards, -jnp.inf)
    best = jnp.maximum(state.best_reward, jnp.max(r))
    return state.replace(best_reward=best), {"best_reward": best}

  return PartitionSource(
    init,
    lambda state, key, n: jnp.tile(state.structure[None], (n, 1)),
    tell,
    jax.jit(lambda state: state.structure),
  )


def _controller(num_positions: int, num_choices: int, *, trained: bool, budget: int, **settings) -> PartitionSource:
  """The ENAS controller's source, trained by REINFORCE (`enas`) or never (`random`); `settings`
  are any of `CONTROLLER_DEFAULTS`, which fills in the rest."""
  unknown = sorted(set(settings) - set(CONTROLLER_DEFAULTS))
  if unknown:
    raise TypeError(f"unknown controller settings {unknown}; the settings are {sorted(CONTROLLER_DEFAULTS)}")
  o = {**CONTROLLER_DEFAULTS, **settings}
  e, c = _check_sizes("enas" if trained else "random", num_positions, num_choices)
  ctrl.check_advantage(o["advantage"])
  ctrl.check_head(o["head"])
  config = ctrl.ControllerConfig(
    e, c, o["hidden_size"], o["temperature"], o["tanh_constant"], o["init_logit_scale"], o["head"], o["init_logit_peak"]
  )
  optimizer = ctrl.make_optimizer(o["optimizer"], o["learning_rate"])

  def init(key):
    k1, k2 = jax.random.split(key)
    rs = ctrl.reinforce_init(config, k1, optimizer)
    first = ctrl.sample(config, rs.params, k2, 1)[0][0]
    k = int(o["elite_size"]) if trained else 0
    return ControllerState(
      rs, first, jnp.float32(-jnp.inf), jnp.zeros((k, e), jnp.int32), jnp.full((k,), -jnp.inf, jnp.float32)
    )

  def ask(state, key, n):
    return ctrl.sample(config, state.reinforce.params, key, n)[0]

  def tell(state, structures, rewards):
    best_s, best_r = _update_best(state.best_structure, state.best_reward, structures, rewards)
    elite_s, elite_r = state.elite_structures, state.elite_rewards
    if trained:
      learn = _budget_penalty(structures, rewards, c, budget)
      if o["elite_decay"] < 1.0:
        elite_r = _decay_elites(elite_r, learn, o["elite_decay"])
      elite_s, elite_r = _merge_elites(elite_s, elite_r, structures, learn)
      rs, metrics = ctrl.reinforce_update(
        config,
        state.reinforce,
        structures,
        learn,
        optimizer,
        entropy_coef=o["entropy_coef"],
        baseline_decay=o["baseline_decay"],
        advantage=o["advantage"],
        diagnostics=o["diagnostics"],
        elites=elite_s,
        elite_rewards=elite_r,
        elite_weight=o["elite_weight"],
        entropy_floor=o["entropy_floor"],
        entropy_floor_weight=o["entropy_floor_weight"],
      )
      if o["diagnostics"]:
        before = ctrl.greedy(config, state.reinforce.params)
        metrics = {
          **metrics,
          "controller_mode_changes": jnp.sum(ctrl.greedy(config, rs.params) != before),
          "controller_distinct": distinct_count(structures),
        }
    else:
      rs = state.reinforce
      _, ent = ctrl.log_prob_and_entropy(config, rs.params, structures[:1])
      metrics = {
        "controller_loss": jnp.float32(0.0),
        "controller_entropy": ent[0] / e,
        "controller_baseline": rs.baseline,
      }
    return ControllerState(rs, best_s, best_r, elite_s, elite_r), {**metrics, "best_reward": best_r}

  def position_entropy(state):
    params = state.reinforce.params
    return ctrl.position_entropies(config, params, ctrl.greedy(config, params)[None])[0]

  return PartitionSource(
    init,
    ask,
    tell,
    jax.jit(lambda state: ctrl.greedy(config, state.reinforce.params)),
    jax.jit(position_entropy),
  )


def enas(num_positions: int, num_choices: int, *, budget: int = 0, **settings) -> PartitionSource:
  """The ENAS controller trained by REINFORCE on the rewards of the partitions it sampled, with a
  memory of the `elite_size` best partitions seen.  `settings`: any of `CONTROLLER_DEFAULTS`
  (`controller.ControllerConfig` and `controller.ReinforceConfig`, defaults there); `budget`:
  the masked family's kept-edge budget (0 = none)."""
  return _controller(num_positions, num_choices, trained=True, budget=budget, **settings)


def random(num_positions: int, num_choices: int, **settings) -> PartitionSource:
  """The ENAS controller at its initial parameters, never trained (the poster's "random
  controller" baseline): it samples as `enas` does before its first update.  `settings`: as
  `enas` (the training ones shape only the untouched optimizer state)."""
  return _controller(num_positions, num_choices, trained=False, budget=0, **settings)


def evolution(
  num_positions: int,
  num_choices: int,
  *,
  budget: int = 0,
  population_size: int = EVOLUTION_DEFAULTS["population_size"],
  tournament_size: int = EVOLUTION_DEFAULTS["tournament_size"],
) -> PartitionSource:
  """Regularized evolution over partitions: `population_size` members, parents by tournaments of
  `tournament_size`, children by a one-position mutation, the oldest member replaced; random
  partitions until the population is full (`budget`: the masked family's kept-edge budget)."""
  e, c = _check_sizes("evolution", num_positions, num_choices)
  pop = int(population_size)
  if pop < 2 or not 1 <= tournament_size <= pop:
    raise ValueError(
      f"evolution needs population_size >= 2 and 1 <= tournament_size <= population_size, "
      f"got {population_size}, {tournament_size}"
    )

  def init(key):
    population = jax.random.randint(key, (pop, e), 0, c, dtype=jnp.int32)
    return EvolutionState(
      population, jnp.full((pop,), -jnp.inf), jnp.int32(0), jnp.int32(0), population[0], jnp.float32(-jnp.inf)
    )

  def ask(state, key, n):
    k_rand, k_tour, k_pos, k_val = jax.random.split(key, 4)
    fresh = jax.random.randint(k_rand, (n, e), 0, c, dtype=jnp.int32)
    contestants = jax.random.randint(k_tour, (n, tournament_size), 0, jnp.maximum(state.filled, 1))
    winners = contestants[jnp.arange(n), jnp.argmax(state.fitness[contestants], axis=1)]
    parents = state.population[winners]
    pos = jax.random.randint(k_pos, (n,), 0, e)
    shift = jax.random.randint(k_val, (n,), 1, max(c, 2))  # a different choice (when C > 1)
    old = parents[jnp.arange(n), pos]
    children = parents.at[jnp.arange(n), pos].set(((old + shift) % c).astype(jnp.int32))
    return jnp.where(state.filled >= pop, children, fresh)

  def tell(state, structures, rewards):
    fit = _budget_penalty(structures, rewards, c, budget)
    fit = jnp.where(jnp.isfinite(fit), fit, -jnp.inf)
    n = structures.shape[0]
    slots = (state.next_slot + jnp.arange(n)) % pop
    population = state.population.at[slots].set(structures)
    fitness = state.fitness.at[slots].set(fit)
    best_s, best_r = _update_best(state.best_structure, state.best_reward, structures, rewards)
    new = EvolutionState(
      population, fitness, (state.next_slot + n) % pop, jnp.minimum(state.filled + n, pop), best_s, best_r
    )
    finite = jnp.isfinite(fitness)
    return new, {
      "best_reward": best_r,
      "population_mean_fitness": jnp.sum(jnp.where(finite, fitness, 0)) / jnp.maximum(jnp.sum(finite), 1),
    }

  def current(state):
    return jnp.where(state.filled > 0, state.population[jnp.argmax(state.fitness)], state.best_structure)

  return PartitionSource(init, ask, tell, jax.jit(current))


# Every partition source's constructor, by the name configs use (`KINDS`).
CONSTRUCTORS: dict[str, Callable[..., PartitionSource]] = {
  "none": none,
  "fixed": fixed,
  "random": random,
  "enas": enas,
  "evolution": evolution,
}


# Which keyword settings each constructor takes.
SETTINGS = {
  "none": (),
  "fixed": ("seed_structure",),
  "random": tuple(CONTROLLER_DEFAULTS),
  "enas": ("budget", *CONTROLLER_DEFAULTS),
  "evolution": ("budget", *EVOLUTION_DEFAULTS),
}


def make_source(kind: str, num_positions: int, num_choices: int, **settings) -> PartitionSource:
  """The source `kind` (`CONSTRUCTORS[kind]`) over structures of `num_positions` entries in
  `[0, num_choices)`, given those of `settings` it takes (`SETTINGS[kind]`); the others are
  ignored, so one call can carry every source's settings.  An unknown kind or setting raises."""
  if kind not in CONSTRUCTORS:
    raise ValueError(f"unknown partition source {kind!r}; choose one of {', '.join(KINDS)}")
  unknown = sorted(set(settings).difference(*SETTINGS.values()))
  if unknown:
    raise TypeError(f"make_source got unknown settings {unknown}")
  return CONSTRUCTORS[kind](num_positions, num_choices, **{k: settings[k] for k in SETTINGS[kind] if k in settings})
