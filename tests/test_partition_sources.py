"""Partition sources: ask/tell contracts, ENAS beats the random controller on a known optimum,
evolution improves, fixed never changes, NaN rewards are harmless, states serialise."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import serialization

from chromnas.search import partition_sources, synthetic

E, C, N = 12, 3, 6


@pytest.mark.parametrize("kind", ["fixed", "random", "enas", "evolution"])
def test_ask_tell_contract_and_serialisation(kind):
  src = partition_sources.make_source(kind, E, C, population_size=8, tournament_size=2)
  state = src.init(jax.random.PRNGKey(0))
  ask = jax.jit(src.ask, static_argnums=2)
  tell = jax.jit(src.tell)
  s = ask(state, jax.random.PRNGKey(1), N)
  chex.assert_shape(s, (N, E))
  chex.assert_type(s, jnp.int32)
  assert int(s.min()) >= 0 and int(s.max()) < C
  rewards = jnp.array([1.0, jnp.nan, 3.0, -jnp.inf, 2.0, 0.0])
  new, metrics = tell(state, s, rewards)
  assert float(new.best_reward) == 3.0
  np.testing.assert_array_equal(new.best_structure, s[2])
  if kind in ("enas", "random"):
    assert all(np.all(np.isfinite(x)) for x in jax.tree.leaves(new.reinforce.params))
  restored = serialization.from_bytes(state, serialization.to_bytes(new))
  chex.assert_trees_all_equal(restored, new)
  assert "best_reward" in metrics


@pytest.mark.parametrize("kind", ["none", "fixed", "random", "enas", "evolution"])
def test_current_is_what_the_source_stands_for(kind):
  e = 0 if kind == "none" else E
  src = partition_sources.make_source(kind, e, C, population_size=4, tournament_size=2)
  state = src.init(jax.random.PRNGKey(0))
  for step in range(3):  # fill the evolution population, train the controller a little
    s = src.ask(state, jax.random.PRNGKey(step), 4)
    state, _ = src.tell(state, s, jnp.arange(4.0) + step)
  current = src.current(state)
  chex.assert_shape(current, (e,))
  if kind == "fixed":
    np.testing.assert_array_equal(current, state.structure)
  elif kind in ("enas", "random"):
    from chromnas.search import controller  # the controller's most likely coloring

    d = partition_sources.CONTROLLER_DEFAULTS
    cfg = controller.ControllerConfig(
      E, C, d["hidden_size"], d["temperature"], d["tanh_constant"], d["init_logit_scale"]
    )
    np.testing.assert_array_equal(current, controller.greedy(cfg, state.reinforce.params))
  elif kind == "evolution":
    np.testing.assert_array_equal(current, state.population[int(jnp.argmax(state.fitness))])


@pytest.mark.parametrize("k", [0, 1, 2])
def test_pairs_per_partition_groups_the_population(k):
  from chromnas.es import ask_tell, normalizer

  t = 4
  src = partition_sources.make_source(
    "random", E, C, init_logit_scale=0.0, init_logit_peak=0.0
  )  # uniform: distinct draws
  cfg = ask_tell.StepConfig(t, 0.1, "centered_rank", 0, 1000, True, k)
  zero = jnp.zeros((5,))
  state = ask_tell.TrainState(
    zero,
    None,
    normalizer.init_stats(3),
    src.init(jax.random.PRNGKey(0)),
    jax.random.PRNGKey(1),
    jnp.int32(0),
    jnp.float32(0),
    zero,
    jnp.zeros((E,), jnp.int32),
    normalizer.init_stats(3),
  )
  _, req = ask_tell.ask(state, cfg, src, 5)
  s = np.asarray(req.structures)
  assert s.shape == (2 * t, E)
  distinct = {tuple(row) for row in s}
  if k == 0:
    assert len(distinct) == 2 * t  # every member its own (an untrained controller over 3^12)
  else:
    np.testing.assert_array_equal(s[:t], s[t:])  # both sides of a pair share
    for i in range(t):
      np.testing.assert_array_equal(s[i], s[(i // k) * k])
    assert len(distinct) == t // k


def test_partition_rewards_average_each_partitions_episodes():
  from chromnas.es import ask_tell

  cfg = ask_tell.StepConfig(4, 0.1, "centered_rank", 0, 1000, True, 2)
  structures = jnp.repeat(jnp.arange(2)[:, None], 2, axis=0)  # pairs 0,1 -> partition 0; 2,3 -> 1
  structures = jnp.concatenate([structures, structures])
  returns = jnp.array([1.0, 3.0, 10.0, jnp.nan, 5.0, 7.0, jnp.nan, jnp.nan])  # +side pairs 0..3, -side
  s, r = ask_tell.partition_rewards(structures, returns, cfg)
  np.testing.assert_array_equal(s[:, 0], [0, 1])
  np.testing.assert_allclose(r, [4.0, 10.0])  # (1+3+5+7)/4; only the finite 10
  all_nan = ask_tell.partition_rewards(structures, returns.at[jnp.array([2, 3, 6, 7])].set(jnp.nan), cfg)[1]
  assert np.isnan(all_nan[1])
  cfg0 = ask_tell.StepConfig(4, 0.1, "centered_rank", 0, 1000, True, 0)
  assert ask_tell.partition_rewards(structures, returns, cfg0)[1] is returns


def test_fixed_is_fixed_and_seedable():
  seed = jnp.arange(E, dtype=jnp.int32) % C
  src = partition_sources.make_source("fixed", E, C, seed_structure=seed)
  state = src.init(jax.random.PRNGKey(0))
  for k in range(3):
    np.testing.assert_array_equal(src.ask(state, jax.random.PRNGKey(k), 4), np.tile(seed, (4, 1)))


def test_none_source_is_empty():
  src = partition_sources.make_source("none", 0, 1)
  assert src.ask(src.init(jax.random.PRNGKey(0)), jax.random.PRNGKey(1), 5).shape == (5, 0)


def test_unknown_source():
  with pytest.raises(ValueError, match="unknown partition source"):
    partition_sources.make_source("oracle", E, C)


def test_make_source_dispatches_to_the_constructors():
  """`make_source(kind, ...)` is `CONSTRUCTORS[kind]` given the settings that source takes: other
  sources' settings are ignored, a setting no source takes raises."""
  assert sorted(partition_sources.CONSTRUCTORS) == sorted(partition_sources.KINDS) == sorted(partition_sources.SETTINGS)
  key = jax.random.PRNGKey(0)
  direct = partition_sources.evolution(E, C, population_size=4, tournament_size=2).init(key)
  via = partition_sources.make_source("evolution", E, C, population_size=4, tournament_size=2, hidden_size=3)
  chex.assert_trees_all_equal(via.init(key), direct)
  chex.assert_trees_all_equal(
    partition_sources.make_source("enas", E, C, hidden_size=4, seed_structure=None).init(key),
    partition_sources.enas(E, C, hidden_size=4).init(key),
  )
  with pytest.raises(TypeError, match="hiden_size"):
    partition_sources.make_source("enas", E, C, hiden_size=4)
  with pytest.raises(TypeError, match="population_size"):
    partition_sources.random(E, C, population_size=4)


def test_enas_beats_random_controller_on_synthetic_task():
  """Known optimum: ENAS's samples fit the target far better than the untrained controller's."""
  enas = [
    synthetic.run_synthetic("enas", jax.random.PRNGKey(s), rows=4, cols=6, num_colors=3, samples=16, iterations=80)[
      "final_mean"
    ]
    for s in range(2)
  ]
  rand = [
    synthetic.run_synthetic("random", jax.random.PRNGKey(s), rows=4, cols=6, num_colors=3, samples=16, iterations=80)[
      "final_mean"
    ]
    for s in range(2)
  ]
  assert max(enas) < 0 and min(rand) < 0
  for e, r in zip(enas, rand):
    assert e > 0.6 * r  # ENAS error below 60% of random's, seed by seed


def test_evolution_improves():
  res = synthetic.run_synthetic(
    "evolution", jax.random.PRNGKey(0), rows=4, cols=6, num_colors=3, samples=16, iterations=80
  )
  assert res["final_mean"] > 0.7 * res["curve"][0]


def test_distinct_count_counts_unique_rows():
  s = jnp.array([[0, 1], [0, 1], [1, 1], [0, 1], [1, 0]])
  assert int(partition_sources.distinct_count(s)) == 3


def test_enas_diagnostics_report_the_search_health():
  """With `diagnostics`, the ENAS source reports the gradient SNR, how many positions changed
  their most likely choice and how many distinct partitions the batch held."""
  src = partition_sources.make_source("enas", 30, 4, hidden_size=4, diagnostics=True, learning_rate=0.5)
  state = src.init(jax.random.PRNGKey(0))
  s = src.ask(state, jax.random.PRNGKey(1), 8)
  _, metrics = src.tell(state, s, jnp.arange(8.0))
  assert int(metrics["controller_distinct"]) == int(partition_sources.distinct_count(s))
  assert 0 <= int(metrics["controller_mode_changes"]) <= 30
  assert float(metrics["controller_grad_snr"]) > 0
  plain = partition_sources.make_source("enas", 30, 4, hidden_size=4)
  _, quiet = plain.tell(plain.init(jax.random.PRNGKey(0)), s, jnp.arange(8.0))
  assert "controller_grad_snr" not in quiet


def test_enas_elite_memory_keeps_the_best_partitions_and_pulls_towards_them():
  """`elite_size`: the source keeps the k best partitions seen (non-finite rewards never enter), and
  the maximum-likelihood term on them raises their probability."""
  src = partition_sources.make_source("enas", 12, 3, hidden_size=4, elite_size=3, init_logit_scale=0.0)
  state = src.init(jax.random.PRNGKey(0))
  assert state.elite_structures.shape == (3, 12)
  s1 = src.ask(state, jax.random.PRNGKey(1), 4)
  state, _ = src.tell(state, s1, jnp.array([1.0, 5.0, jnp.nan, 3.0]))
  np.testing.assert_array_equal(state.elite_rewards, [5.0, 3.0, 1.0])
  np.testing.assert_array_equal(state.elite_structures[0], s1[1])
  s2 = src.ask(state, jax.random.PRNGKey(2), 4)
  state2, _ = src.tell(state, s2, jnp.array([0.0, 4.0, 0.5, 0.2]))
  np.testing.assert_array_equal(state2.elite_rewards, [5.0, 4.0, 3.0])
  from chromnas.search import controller as ctrl

  cfg = ctrl.ControllerConfig(12, 3, 4, init_logit_scale=0.0)
  before = ctrl.log_prob(cfg, state.reinforce.params, state2.elite_structures[:1])
  after = ctrl.log_prob(cfg, state2.reinforce.params, state2.elite_structures[:1])
  assert float(after[0]) > float(before[0])
  random_src = partition_sources.make_source("random", 12, 3, hidden_size=4, elite_size=3)
  assert random_src.init(jax.random.PRNGKey(0)).elite_structures.shape == (0, 12)  # never trained: no memory


def test_elite_decay_pulls_remembered_rewards_to_the_batch_mean():
  """`elite_decay` d: before a batch is merged, each remembered reward r becomes m + d (r - m), m
  the batch's mean finite reward, so a plateaued batch can replace elites scored under old
  weights; d = 1 keeps them as measured."""
  kw = dict(hidden_size=4, elite_size=2, init_logit_scale=0.0)
  keep, decay = (partition_sources.make_source("enas", 6, 3, elite_decay=d, **kw) for d in (1.0, 0.5))
  s1 = jnp.asarray(np.arange(12).reshape(2, 6) % 3, jnp.int32)
  s2 = jnp.asarray((np.arange(12).reshape(2, 6) + 1) % 3, jnp.int32)
  out = {}
  for name, src in (("keep", keep), ("decay", decay)):
    state = src.init(jax.random.PRNGKey(0))
    state, _ = src.tell(state, s1, jnp.array([10.0, 6.0]))
    state, _ = src.tell(state, s2, jnp.array([5.0, jnp.nan]))  # batch mean 5 (the NaN is ignored)
    out[name] = state
  np.testing.assert_allclose(out["keep"].elite_rewards, [10.0, 6.0])
  np.testing.assert_allclose(out["decay"].elite_rewards, [7.5, 5.5])  # 5 + 0.5 * (10 - 5), 5 + 0.5 * 1
  np.testing.assert_array_equal(out["decay"].elite_structures, s1)
  state, _ = decay.tell(out["decay"], s2, jnp.array([6.0, 7.0]))  # mean 6.5: 7.0 now beats the decayed 5.5 -> 6.0
  np.testing.assert_allclose(state.elite_rewards, [7.0, 7.0])
  np.testing.assert_array_equal(state.elite_structures[1], s2[1])
