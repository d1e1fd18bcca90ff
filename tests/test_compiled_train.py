"""A whole run as one compiled function (`chromnas.train.compiled`): determinism, seeds vmapped,
chunked resume, skipped non-finite updates, agreement with the host-driven loop, the driver's workdirs.

The runs use a JAX twin of the debug target task (reward `-|a - tanh(W s)|^2`, fresh uniform
observations) behind the Brax evaluator, so they compile in seconds; the hopper config only
supplies the policy's sizes.
"""

import csv
import dataclasses
import os

import binaries
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import struct

from chromnas.core import bundle as bundle_lib
from chromnas.engines.brax_evaluator import BraxEvaluator
from chromnas.train import build, compiled, config, loop
from chromnas.train.checkpointing import CheckpointStore
from chromnas.train.iteration import Iteration

OBS, ACT = 11, 3  # hopper's sizes
W = jax.random.normal(jax.random.PRNGKey(7), (ACT, OBS)) / np.sqrt(OBS)


@struct.dataclass
class ToyState:
  obs: jax.Array
  reward: jax.Array
  done: jax.Array
  key: jax.Array


class ToyTarget:
  """Brax's `reset`/`step` API: observations `U(-1, 1)^11`, reward `-|a - tanh(W s)|^2`."""

  observation_size, action_size = OBS, ACT

  def reset(self, key):
    key, k = jax.random.split(key)
    return ToyState(jax.random.uniform(k, (OBS,), minval=-1, maxval=1), jnp.float32(0), jnp.float32(0), key)

  def step(self, state, action):
    reward = -jnp.sum((action - jnp.tanh(W @ state.obs)) ** 2)
    key, k = jax.random.split(state.key)
    return ToyState(jax.random.uniform(k, (OBS,), minval=-1, maxval=1), reward, jnp.float32(0), key)


TINY = dict(
  task="hopper",
  engine="brax",
  backend="positional",
  architecture="L",
  family="chromatic",
  num_colors=4,
  partition_source="enas",
  episode_length=8,
  num_directions=2,
  num_iterations=4,
  eval_every=2,
  eval_episodes=2,
  checkpoint_every=2,
  noise_size=10_000,
  learning_rate=0.05,
)


def tiny_config(**overrides):
  c = config.default_config()
  c.update({**TINY, **overrides})
  return c


def _toy_evaluator(cfg, spec):
  return BraxEvaluator(
    cfg.task, spec, env=ToyTarget(), episode_length=cfg.episode_length, noise_seed=cfg.seed, noise_size=cfg.noise_size
  )


@pytest.fixture(scope="module", autouse=True)
def toy_engine():
  """Every run built here (`build.build`, `compiled.train_seeds`) gets the `ToyTarget` evaluator."""
  patch = pytest.MonkeyPatch()
  patch.setattr(build, "make_evaluator_from_config", _toy_evaluator)
  yield
  patch.undo()


def toy_run(cfg, optimizer=None) -> build.Run:
  """`build.build(cfg)` (on `ToyTarget`), with `optimizer` instead of the config's if given."""
  run = build.build(cfg)
  if optimizer is None:
    return run
  return dataclasses.replace(
    run,
    optimizer=optimizer,
    iteration=Iteration(run.spec, run.evaluator, run.source, optimizer, run.step_config),
    initial_state=build.init_state(cfg.seed, run.spec, run.source, optimizer, cfg.init_scale),
  )


@pytest.fixture(scope="module")
def toy(toy_engine):
  del toy_engine
  cfg = tiny_config()
  ct = compiled.make_train_for_run(toy_run(cfg), 2)
  return cfg, ct, jax.jit(ct.train)


def assert_same_run(a, b):
  """Two `TrainState`s of the same run computed by differently batched programs: parameters,
  optimiser and structures bit-identical; the normaliser's sums to 1e-7 and the best return to
  1e-6 relative (XLA sums observations and an evaluation's rewards in another order: one-ulp
  differences seen, the best return's on an AVX2-only Zen 3); the partition source's state to 2e-3
  (the ENAS controller's REINFORCE gradient runs through LSTM matmuls that XLA batches otherwise,
  and Adam at learning rate 0.1 turns their roundoff into weight differences, up to 6e-4 seen after
  five iterations)."""
  for (path, x), y in zip(jax.tree_util.tree_leaves_with_path(a), jax.tree.leaves(b), strict=True):
    name = jax.tree_util.keystr(path)
    if "obs_stats" in name or name == ".best_return":
      np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=1e-6, atol=1e-7, err_msg=name)
    elif "source_state" in name:
      np.testing.assert_allclose(np.asarray(x, np.float64), np.asarray(y, np.float64), atol=2e-3, err_msg=name)
    else:
      np.testing.assert_array_equal(np.asarray(x), np.asarray(y), err_msg=name)


def _leaves_equal(a, b, **tol):
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
    if tol:
      np.testing.assert_allclose(np.asarray(x), np.asarray(y), **tol)
    else:
      np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_same_key_same_run_and_it_learns(toy):
  _, ct, train = toy
  a = train(jax.random.PRNGKey(3))
  b = train(jax.random.PRNGKey(3))
  _leaves_equal(a, b)
  assert int(a.train.iteration) == 4 and int(a.steps) == 4 and not bool(a.done)
  assert np.isfinite(float(a.train.best_return)) and int(a.num_skipped) == 0
  c = train(jax.random.PRNGKey(4))
  assert not np.array_equal(np.asarray(a.train.params), np.asarray(c.train.params))


def test_vmap_over_seeds_equals_each_seed_alone(toy):
  """`vmap(train)` and `train_batch` give each seed's own run, to the tolerances of `assert_same_run`."""
  _, ct, train = toy
  keys = jnp.stack([jax.random.PRNGKey(0), jax.random.PRNGKey(1)])
  both = jax.jit(jax.vmap(ct.train))(keys)
  batch = jax.jit(ct.train_batch)(keys)
  for i in range(2):
    alone = train(keys[i])
    assert_same_run(jax.tree.map(lambda x, i=i: x[i], both.train), alone.train)
    assert_same_run(jax.tree.map(lambda x, i=i: x[i], batch.train), alone.train)


def test_resume_after_a_chunk_equals_uninterrupted(toy, tmp_path):
  """A run checkpointed after its first chunk, restored from disk and continued ends bit-identical
  to one that ran both chunks in one go."""
  _, ct, _ = toy
  table = ct.noise_table(jax.random.PRNGKey(9))
  s0 = ct.init(jax.random.PRNGKey(5))
  straight, _ = ct.run_chunk(ct.run_chunk(s0, table)[0], table)
  half, _ = ct.run_chunk(s0, table)
  store = CheckpointStore(str(tmp_path / "ck"))
  store.save(2, half, {})
  _, restored, _ = store.restore_latest(s0)
  store.close()
  resumed, _ = ct.run_chunk(restored, table)
  _leaves_equal(straight, resumed)


def _nan_at_third_update(inner: optax.GradientTransformation) -> optax.GradientTransformation:
  """`inner`, with its third update turned into NaN.  A skipped iteration restores the optimiser's
  state too, so every later update is a retry of the third, and NaN again."""

  def init(params):
    return (inner.init(params), jnp.int32(0))

  def update(updates, state, params=None):
    u, s = inner.update(updates, state[0], params)
    u = jax.tree.map(lambda x: jnp.where(state[1] == 2, jnp.nan, x), u)
    return u, (s, state[1] + 1)

  return optax.GradientTransformation(init, update)


def test_nonfinite_update_is_skipped_and_counted():
  cfg = tiny_config(num_iterations=4)
  run = toy_run(cfg, _nan_at_third_update(optax.adam(cfg.learning_rate)))
  ct = compiled.make_train_for_run(run, 4)
  table = jnp.asarray(run.evaluator.noise_table)
  s0 = ct.init(jax.random.PRNGKey(0))
  final, m = ct.run_chunk(s0, table)
  assert np.asarray(m["skipped"]).tolist() == [False, False, True, True]
  assert int(final.num_skipped) == 2 and int(final.train.iteration) == 4
  assert np.all(np.isfinite(np.asarray(final.train.params)))
  # The skipped iterations left parameters and optimiser where the second one put them.
  two, _ = compiled.make_train_for_run(run, 2).run_chunk(s0, table)
  _leaves_equal((two.train.params, two.train.opt_state), (final.train.params, final.train.opt_state))
  assert int(final.train.key[0]) != int(two.train.key[0]) or int(final.train.key[1]) != int(two.train.key[1])


def _rows(path):
  return list(csv.DictReader(open(path)))


@pytest.mark.slow
def test_compiled_run_matches_the_loop_and_writes_its_workdir(tmp_path):
  """Seed 0 of the two-seed driver against `loop.train` on the same config: the same noise table,
  keys and iterations, the same state to the tolerances of `assert_same_run` (the scan body and
  the vmap compile differently from the loop's per-iteration jit)."""
  cfg = tiny_config(num_iterations=5, checkpoint_every=2)
  ref = loop.train(cfg, str(tmp_path / "loop"), progress_fn=None)
  out = compiled.train_seeds(cfg, str(tmp_path / "jit"), [0, 1], progress_fn=None, chunk_size=2)
  assert_same_run(jax.tree.map(lambda x: x[0], out.train), ref)
  ref_rows = _rows(tmp_path / "loop" / "metrics.csv")
  for s in (0, 1):
    d = tmp_path / "jit" / f"seed{s}"
    rows = _rows(d / "metrics.csv")
    assert [int(r["iteration"]) for r in rows] == [1, 2, 3, 4, 5]
    assert [r["eval_return"] != "" for r in rows] == [False, True, False, True, True]
    assert int(rows[-1]["env_steps"]) == 5 * 4 * 8
    assert bundle_lib.load_workdir_policy(str(d), "best").params.shape == (4,)
    assert bundle_lib.load_workdir_policy(str(d), "latest").structure.shape == (OBS * ACT,)
  seed0 = _rows(tmp_path / "jit" / "seed0" / "metrics.csv")
  for a, b in zip(seed0, ref_rows, strict=True):
    for field in ("iteration", "env_steps", "reward_mean", "reward_max", "eval_return", "best_return", "num_nonfinite"):
      assert a[field] == b[field], field
  assert sorted(os.listdir(tmp_path / "jit" / "checkpoints")) == ["2", "4", "6"]


@pytest.mark.slow
def test_driver_resumes_bit_identically(tmp_path):
  """The driver stopped after its first chunk (as by `kill -9` after a checkpoint) and rerun ends
  where an uninterrupted driver run ends, and its metrics hold each iteration once."""
  cfg = tiny_config(num_iterations=4)
  straight = compiled.train_seeds(cfg, str(tmp_path / "a"), [0, 1], progress_fn=None)
  # The same run cut after one chunk: `num_iterations` is not part of a run's identity.
  compiled.train_seeds(tiny_config(num_iterations=2), str(tmp_path / "b"), [0, 1], progress_fn=None)
  resumed = compiled.train_seeds(cfg, str(tmp_path / "b"), [0, 1], progress_fn=None)
  _leaves_equal(straight, resumed)
  assert [int(r["iteration"]) for r in _rows(tmp_path / "b" / "seed1" / "metrics.csv")] == [1, 2, 3, 4]


def test_budget_masks_finished_seed_and_still_evaluates_it():
  """A budget of 3 iterations' env steps stops the run after iteration 3, which is evaluated (as
  the loop does) even though 3 is not a multiple of eval_every; later steps change nothing."""
  cfg = tiny_config(num_iterations=100, max_env_steps=3 * 4 * 8, eval_every=2)
  ct = compiled.make_train_for_run(toy_run(cfg), 4)
  table = ct.noise_table(jax.random.PRNGKey(0))
  final, m = ct.run_chunk(ct.init(jax.random.PRNGKey(0)), table)
  assert np.asarray(m["active"]).tolist() == [True, True, True, False]
  assert np.asarray(m["evaluated"]).tolist() == [False, True, False, True]
  assert np.asarray(m["iteration"])[3] == 3 and bool(final.done)
  assert int(final.env_steps) == 96 and int(final.train.iteration) == 3


def test_host_engine_rejected():
  with pytest.raises(ValueError, match="needs the JAX engine"):
    compiled.make_train(tiny_config(engine="host", task="debug_target", backend="positional"), 2)


def test_cli_rejects_seeds_on_the_host_engine(tmp_path):
  (out,) = binaries.run_many([("train", ["--seeds=2", f"--workdir={tmp_path / 'w'}"])])
  assert out.returncode == 2
  assert out.stderr.strip().splitlines() == [
    "error: --seeds=2 (a compiled run) needs --config.engine=brax; the 'host' engine trains one seed per command"
  ]
  assert not (tmp_path / "w").exists()
