"""The ES gradient the trainer uses (`estimator.antithetic_gradient`): unbiased, the closed form
without shaping, the right top-b directions, non-finite pairs excluded, and the one `tell` calls."""

import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from chromnas.core import noise as noise_table
from chromnas.es import ask_tell, estimator, noise_offsets, normalizer
from chromnas.search import partition_sources

DIM = 6
T = 20000
SIGMA = 0.1
QUAD_C = np.linspace(0.5, -0.5, DIM).astype(np.float32)
QUAD_A = np.linspace(0.5, 3.0, DIM).astype(np.float32)


def _quadratic(x):
  """`f(x) = -sum_j a_j (x_j - c_j)^2`; its smoothed gradient equals `grad f = -2 a (x - c)`."""
  return -jnp.sum(QUAD_A * (x - QUAD_C) ** 2, axis=-1)


def _returns(f, w, noise):
  return f(w[None] + SIGMA * noise), f(w[None] - SIGMA * noise)


@functools.partial(jax.jit, static_argnames=("shaping", "top_b"))
def _gradient(noise, rp, rn, shaping="none", top_b=0):
  return estimator.antithetic_gradient(noise, rp, rn, SIGMA, shaping=shaping, top_b=top_b)


@pytest.fixture(scope="module")
def noise():
  return estimator.gaussian_perturbations(jax.random.key(42), T, DIM)


def test_unshaped_is_the_closed_form(noise):
  rng = np.random.default_rng(0)
  rp, rn = (jnp.asarray(rng.normal(size=T).astype(np.float32)) for _ in range(2))
  grad, n_valid = _gradient(noise, rp, rn)
  chex.assert_shape(grad, (DIM,))
  assert int(n_valid) == T
  closed = np.asarray(noise, np.float64).T @ (np.asarray(rp, np.float64) - np.asarray(rn)) / (2 * SIGMA * T)
  np.testing.assert_allclose(grad, closed, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("objective", ["linear", "quadratic"])
def test_unbiased(noise, objective):
  """|estimate - truth| <= 5 standard errors, the standard error from the per-direction spread."""
  w = jnp.asarray(np.linspace(-0.3, 0.3, DIM), jnp.float32)
  if objective == "linear":
    a = jnp.linspace(-1.0, 2.0, DIM)
    f, truth = (lambda x: x @ a), np.asarray(a)
  else:
    f, truth = _quadratic, np.asarray(jax.grad(_quadratic)(w))
  rp, rn = _returns(f, w, noise)
  grad, _ = _gradient(noise, rp, rn)
  per_direction = np.asarray(noise) * np.asarray((rp - rn) / (2 * SIGMA))[:, None]
  stderr = per_direction.std(0) / np.sqrt(T)
  np.testing.assert_array_less(np.abs(np.asarray(grad) - truth), 5 * stderr + 1e-6)


@pytest.mark.parametrize("shaping", ["none", "centered_rank", "std"])
def test_converges_to_the_true_gradient_direction(shaping):
  """On the quadratic the estimate's direction error shrinks as directions grow (`~ 1/sqrt(t)`); the
  shaped estimates converge to the same direction (their scale is their own)."""
  w = jnp.zeros(DIM)
  truth = np.asarray(jax.grad(_quadratic)(w))
  truth = truth / np.linalg.norm(truth)

  def mean_error(t):
    errs = []
    for seed in range(4):
      g = estimator.gaussian_perturbations(jax.random.fold_in(jax.random.key(7), 1000 * t + seed), t, DIM)
      grad = np.asarray(_gradient(g, *_returns(_quadratic, w, g), shaping=shaping)[0])
      errs.append(np.linalg.norm(grad / np.linalg.norm(grad) - truth))
    return np.mean(errs)

  errors = [mean_error(t) for t in (100, 1000, 10000)]
  assert errors[0] > errors[1] > errors[2]
  assert errors[2] < 0.05
  assert errors[2] < errors[0] / 4  # 1/sqrt(100) would give 1/10


def test_centered_rank_and_std_shaping_closed_form():
  noise = jnp.asarray(np.random.default_rng(1).normal(size=(3, 4)).astype(np.float32))
  rp, rn = jnp.array([3.0, -1.0, 10.0]), jnp.array([0.0, 7.0, 10.0])
  # Ranks over [r+, r-] = [3, -1, 10, 0, 7, 10] (ties by position): 2, 0, 4, 1, 3, 5, over 5, minus 0.5.
  s = np.array([2, 0, 4, 1, 3, 5]) / 5 - 0.5
  want = (s[:3] - s[3:]) @ np.asarray(noise) / (2 * SIGMA * 3)
  np.testing.assert_allclose(_gradient(noise, rp, rn, shaping="centered_rank")[0], want, rtol=1e-6)
  std = np.std(np.concatenate([rp, rn]))
  want = (np.asarray(rp) - np.asarray(rn)) / std @ np.asarray(noise) / (2 * SIGMA * 3)
  np.testing.assert_allclose(_gradient(noise, rp, rn, shaping="std")[0], want, rtol=1e-6)
  # Constant returns: std shaping falls back to dividing by 1 instead of by 0.
  grad, _ = _gradient(noise, jnp.ones(3), jnp.ones(3), shaping="std")
  np.testing.assert_array_equal(grad, 0.0)


def test_top_b_keeps_the_best_directions():
  """With `noise = I`, the gradient's entry `i` is pair `i`'s weight: nonzero exactly on the
  `b` directions with the largest `max(r+, r-)`, and averaged over `b`, not `t`."""
  rp = jnp.array([1.0, 5.0, 0.0, 2.0, 3.0])
  rn = jnp.array([0.0, 0.0, 9.0, 1.0, 3.5])
  noise = jnp.eye(5)
  grad, n_valid = _gradient(noise, rp, rn, top_b=2)
  assert int(n_valid) == 2
  np.testing.assert_allclose(grad, [0, 5 / (4 * SIGMA), -9 / (4 * SIGMA), 0, 0], rtol=1e-6)
  np.testing.assert_array_equal(np.asarray(estimator.top_directions(rp, rn, 2)), [2, 1])
  # A non-finite pair is never among the top b while b valid ones remain, whatever its other return.
  grad, n_valid = _gradient(noise, rp.at[2].set(jnp.nan), rn.at[2].set(100.0), top_b=2)
  assert int(n_valid) == 2
  np.testing.assert_array_equal(np.nonzero(np.asarray(grad))[0], [1, 4])
  # top_b >= t keeps everything.
  np.testing.assert_array_equal(_gradient(noise, rp, rn, top_b=5)[0], _gradient(noise, rp, rn)[0])


@pytest.mark.parametrize("shaping", ["none", "std"])
def test_non_finite_pairs_are_excluded(shaping):
  """A pair with a NaN or inf return contributes nothing: the estimate equals the one on the other
  pairs alone (for `'none'` and `'std'`, whose statistics skip invalid pairs)."""
  rng = np.random.default_rng(2)
  noise = jnp.asarray(rng.normal(size=(6, DIM)).astype(np.float32))
  rp, rn = (jnp.asarray(rng.normal(size=6).astype(np.float32)) for _ in range(2))
  bad_p, bad_n = rp.at[1].set(jnp.nan), rn.at[4].set(jnp.inf)
  grad, n_valid = _gradient(noise, bad_p, bad_n, shaping=shaping)
  keep = np.array([0, 2, 3, 5])
  want, _ = _gradient(noise[keep], rp[keep], rn[keep], shaping=shaping)
  assert int(n_valid) == 4
  np.testing.assert_allclose(grad, want, rtol=1e-6, atol=1e-7)


def test_non_finite_pairs_with_ranks_and_all_invalid():
  rng = np.random.default_rng(3)
  noise = jnp.asarray(rng.normal(size=(4, DIM)).astype(np.float32))
  rp = jnp.array([1.0, jnp.nan, 2.0, 0.5])
  rn = jnp.array([0.0, 1e9, 3.0, -jnp.inf])
  grad, n_valid = _gradient(noise, rp, rn, shaping="centered_rank")
  assert int(n_valid) == 2 and np.all(np.isfinite(grad))
  # Invalid pairs take the valid mean (1.5) before ranking: [1, 1.5, 2, 1.5 | 0, 1.5, 3, 1.5] ranks
  # 1, 2, 6, 3 | 0, 4, 7, 5 (ties by position), over 7; only pairs 0 and 2 are weighted, by 1/2.
  s = np.array([1, 2, 6, 3, 0, 4, 7, 5]) / 7 - 0.5
  want = ((s[0] - s[4]) * np.asarray(noise[0]) + (s[2] - s[6]) * np.asarray(noise[2])) / (2 * SIGMA * 2)
  np.testing.assert_allclose(grad, want, rtol=1e-5, atol=1e-6)
  for shaping in estimator.SHAPINGS:
    grad, n_valid = _gradient(noise, jnp.full(4, jnp.nan), rn, shaping=shaping)
    assert int(n_valid) == 0
    np.testing.assert_array_equal(grad, 0.0)


def test_unknown_shaping_raises_before_compiling():
  noise, r = jnp.eye(2), jnp.zeros(2)
  with pytest.raises(ValueError, match="unknown fitness shaping 'bogus'"):
    estimator.antithetic_gradient(noise, r, r, SIGMA, shaping="bogus")
  with pytest.raises(ValueError, match="unknown fitness shaping"):
    jax.jit(lambda n, a, b: estimator.antithetic_gradient(n, a, b, SIGMA, shaping="centred")).lower(noise, r, r)


def test_centered_ranks():
  r = estimator.centered_ranks(jnp.array([3.0, -1.0, 10.0, 0.0]))
  np.testing.assert_allclose(r, [1 / 6, -0.5, 0.5, -1 / 6], rtol=1e-6)
  np.testing.assert_allclose(
    estimator.centered_ranks(jnp.array([[2.0, 2.0], [1.0, 2.0]])), [[-1 / 6, 1 / 6], [-0.5, 0.5]], rtol=1e-6
  )  # ties by position, shape kept
  assert float(estimator.centered_ranks(jnp.array([5.0]))[0]) == 0.0


def test_gradient_sign_makes_reward_go_up():
  a = jnp.array([1.0, -2.0, 0.5])
  params = jnp.zeros(3)
  opt = optax.sgd(0.1)
  new, _ = estimator.apply_gradient(opt, a, opt.init(params), params)  # gradient of reward a.w is a
  assert float(new @ a) > float(params @ a)


def test_perturb_layout():
  center = jnp.arange(3.0)
  pop = estimator.perturb(center, jnp.ones((2, 3)), 0.5)
  chex.assert_shape(pop, (4, 3))
  np.testing.assert_allclose(pop[0], center + 0.5)
  np.testing.assert_allclose(pop[2], center - 0.5)
  chex.assert_shape(estimator.perturb(center, jnp.ones((2, 3)), 0.5, antithetic=False), (2, 3))


def test_noise_offsets_match_the_numpy_rows():
  table = noise_table.make_table(0, 1000)
  offsets = noise_offsets.sample_offsets(jax.random.key(0), 50, 30, 1000)
  assert offsets.dtype == jnp.int32 and offsets.shape == (50,)
  assert int(offsets.min()) >= 0 and int(offsets.max()) <= 1000 - 30
  rows = jax.jit(noise_offsets.rows_jax, static_argnums=2)(jnp.asarray(table), offsets, 30)
  np.testing.assert_array_equal(rows, noise_table.rows_numpy(table, np.asarray(offsets), 30))
  with pytest.raises(ValueError, match="smaller than the parameter vector"):
    noise_offsets.sample_offsets(jax.random.key(0), 5, 1001, 1000)


@pytest.mark.parametrize("shaping,top_b", [("centered_rank", 0), ("std", 2), ("none", 0)])
def test_tell_steps_along_this_gradient(shaping, top_b):
  """`ask_tell.tell` (the trainer's update) moves the parameters by `antithetic_gradient` of the rows
  of the noise table at `ask`'s offsets: with SGD at rate 1, `w' = w + grad`."""
  t, dim, size = 4, 5, 1000
  src = partition_sources.make_source("fixed", 3, 2, seed_structure=jnp.zeros(3, jnp.int32))
  cfg = ask_tell.StepConfig(t, SIGMA, shaping, top_b, size, False)
  w = jnp.linspace(-1.0, 1.0, dim)
  opt = optax.sgd(1.0)
  state = ask_tell.TrainState(
    w,
    opt.init(w),
    normalizer.init_stats(2),
    src.init(jax.random.key(0)),
    jax.random.PRNGKey(1),
    jnp.int32(0),
    jnp.float32(-jnp.inf),
    w,
    jnp.zeros(3, jnp.int32),
    normalizer.init_stats(2),
  )
  state, req = ask_tell.ask(state, cfg, src, dim)
  returns = jnp.array([1.0, 4.0, jnp.nan, 2.0, 0.0, 3.0, 1.0, -2.0])
  result = ask_tell.EvalResult(returns, jnp.full(2 * t, 10, jnp.int32), normalizer.init_stats(2))
  table = jnp.asarray(noise_table.make_table(3, size))
  new, metrics = ask_tell.tell(state, req, result, table, cfg, src, opt)
  noise = noise_table.rows_numpy(np.asarray(table), np.asarray(req.offsets), dim)
  grad, n_valid = estimator.antithetic_gradient(
    jnp.asarray(noise), returns[:t], returns[t:], SIGMA, shaping=shaping, top_b=top_b
  )
  np.testing.assert_allclose(new.params, w + grad, rtol=1e-6, atol=1e-7)
  assert int(metrics["valid_pairs"]) == int(n_valid) == (3 if not top_b else 2)


def test_es_converges_on_quadratic():
  """A whole jitted ES loop (scan over iterations) with the trainer's gradient finds the optimum."""
  dim, t, sigma = 10, 16, 0.05
  c = jnp.linspace(-1.0, 1.0, dim)
  f = lambda x: -jnp.sum((x - c) ** 2, axis=-1)
  opt = optax.adam(0.05)

  def step(carry, key):
    params, opt_state = carry
    noise = estimator.gaussian_perturbations(key, t, dim)
    returns = f(estimator.perturb(params, noise, sigma))
    grad, _ = estimator.antithetic_gradient(noise, returns[:t], returns[t:], sigma, shaping="centered_rank")
    params, opt_state = estimator.apply_gradient(opt, grad, opt_state, params)
    return (params, opt_state), f(params)

  params = jnp.zeros(dim)
  (final, _), curve = jax.jit(lambda k: jax.lax.scan(step, (params, opt.init(params)), jax.random.split(k, 300)))(
    jax.random.key(0)
  )
  assert float(f(params)) < -3.0
  assert float(curve[-1]) > -0.05
  np.testing.assert_allclose(final, c, atol=0.15)


@pytest.mark.parametrize("objective", ["linear", "quadratic"])
def test_forward_fd_is_unbiased(noise, objective):
  """The poster's eq. 1: `mean_i g_i (f(w + sigma g_i) - f(w)) / sigma` is within 5 standard errors
  of the true gradient (linear: exactly `a`; quadratic: the smoothed gradient `grad f(w)`)."""
  w = jnp.asarray(np.linspace(-0.3, 0.3, DIM), jnp.float32)
  if objective == "linear":
    a = jnp.linspace(-1.0, 2.0, DIM)
    f, truth = (lambda x: x @ a), np.asarray(a)
  else:
    f, truth = _quadratic, np.asarray(jax.grad(_quadratic)(w))
  returns, center = f(w[None] + SIGMA * noise), f(w)
  grad, n_valid = estimator.forward_fd_gradient(noise, returns, center, SIGMA, shaping="none")
  assert int(n_valid) == T
  per_direction = np.asarray(noise) * np.asarray((returns - center) / SIGMA)[:, None]
  np.testing.assert_allclose(grad, per_direction.mean(0), rtol=1e-3, atol=1e-5)  # the closed form
  stderr = per_direction.std(0) / np.sqrt(T)
  np.testing.assert_array_less(np.abs(np.asarray(grad) - truth), 5 * stderr + 1e-6)


def test_forward_fd_excludes_non_finite_and_ranks_with_the_centre():
  """Non-finite directions get weight 0; centered ranks shape the directions and the centre together."""
  noise_ = jnp.eye(3)
  returns = jnp.array([3.0, jnp.nan, 1.0])
  grad, n_valid = estimator.forward_fd_gradient(noise_, returns, jnp.float32(2.0), 0.5, shaping="centered_rank")
  assert int(n_valid) == 2
  # ranks of [3, fill=2, 1, F=2] (ordinal) -> [1, -1/6, -1/2, 1/6]... only valid rows count
  ranks = np.asarray(estimator.centered_ranks(jnp.array([3.0, 2.0, 1.0, 2.0])))
  expected = np.array([ranks[0] - ranks[3], 0.0, ranks[2] - ranks[3]]) / (0.5 * 2)
  np.testing.assert_allclose(grad, expected, rtol=1e-6)


def test_forward_fd_tell_uses_the_centre_as_baseline():
  """`ask` with `estimator='forward_fd'` draws `2t` offsets and `2t + 1` structures (the source's
  current one last); `tell` steps along `forward_fd_gradient` of the first `2t` returns against the last."""
  t, dim, size = 3, 4, 1000
  src = partition_sources.make_source("fixed", 3, 2, seed_structure=jnp.array([1, 0, 1], jnp.int32))
  cfg = ask_tell.StepConfig(t, SIGMA, "none", 0, size, False, 1, 0.0, "forward_fd")
  w = jnp.linspace(-1.0, 1.0, dim)
  opt = optax.sgd(1.0)
  state = ask_tell.TrainState(
    w,
    opt.init(w),
    normalizer.init_stats(2),
    src.init(jax.random.key(0)),
    jax.random.PRNGKey(1),
    jnp.int32(0),
    jnp.float32(-jnp.inf),
    w,
    jnp.zeros(3, jnp.int32),
    normalizer.init_stats(2),
  )
  state, req = ask_tell.ask(state, cfg, src, dim)
  chex.assert_shape(req.offsets, (2 * t,))
  chex.assert_shape(req.structures, (2 * t + 1, 3))
  np.testing.assert_array_equal(req.structures[-1], [1, 0, 1])
  table = jnp.asarray(noise_table.make_table(3, size))
  pop = ask_tell.forward_fd_population(w, req.offsets, table, SIGMA)
  chex.assert_shape(pop, (2 * t + 1, dim))
  np.testing.assert_allclose(pop[-1], w)
  returns = jnp.array([1.0, 4.0, 2.0, 0.0, 3.0, 1.0, 2.5])
  result = ask_tell.EvalResult(returns, jnp.full(2 * t + 1, 10, jnp.int32), normalizer.init_stats(2))
  new, metrics = ask_tell.tell(state, req, result, table, cfg, src, opt)
  noise_rows = noise_table.rows_numpy(np.asarray(table), np.asarray(req.offsets), dim)
  grad, _ = estimator.forward_fd_gradient(jnp.asarray(noise_rows), returns[:-1], returns[-1], SIGMA, shaping="none")
  np.testing.assert_allclose(new.params, w + grad, rtol=1e-6, atol=1e-7)
  assert int(metrics["valid_pairs"]) == 2 * t
