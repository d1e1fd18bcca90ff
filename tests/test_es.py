"""ES estimators are unbiased (tolerance from their own sample variance) and ES climbs a quadratic."""
import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from chromnas import es

DIM = 6
T = 20000
SIGMA = 0.1


def _check_unbiased(per_sample, estimate, truth, z=5.0):
  """|estimate - truth| <= z standard errors, the standard error from the per-sample spread."""
  stderr = np.std(np.asarray(per_sample), axis=0) / np.sqrt(per_sample.shape[0])
  np.testing.assert_array_less(np.abs(np.asarray(estimate) - truth), z * stderr + 1e-6)


@pytest.fixture(scope="module")
def noise():
  return es.gaussian_perturbations(jax.random.key(42), T, DIM)


def test_forward_fd_unbiased_linear(noise):
  a = jnp.linspace(-1.0, 2.0, DIM)
  w = jnp.ones(DIM)
  f = lambda x: x @ a
  returns = f(w[None] + SIGMA * noise)
  est = es.forward_fd_gradient(noise, returns, f(w), SIGMA)
  per_sample = noise * ((returns - f(w)) / SIGMA)[:, None]
  np.testing.assert_allclose(est, per_sample.mean(0), rtol=1e-4, atol=1e-5)
  _check_unbiased(per_sample, est, np.asarray(a))


def test_antithetic_unbiased_linear(noise):
  a = jnp.linspace(-1.0, 2.0, DIM)
  f = lambda x: x @ a
  w = jnp.zeros(DIM)
  rp, rn = f(w + SIGMA * noise), f(w - SIGMA * noise)
  est = es.antithetic_gradient(noise, rp, rn, SIGMA)
  per_sample = noise * ((rp - rn) / (2 * SIGMA))[:, None]
  _check_unbiased(per_sample, est, np.asarray(a))


def test_estimators_unbiased_quadratic(noise):
  c = jnp.linspace(0.5, -0.5, DIM)
  w = jnp.zeros(DIM)
  f = lambda x: -jnp.sum((x - c) ** 2, axis=-1)
  truth = np.asarray(-2.0 * (w - c))  # gradient of the smoothed objective (sigma only shifts it)
  rp, rn = f(w + SIGMA * noise), f(w - SIGMA * noise)
  est_a = es.antithetic_gradient(noise, rp, rn, SIGMA)
  _check_unbiased(noise * ((rp - rn) / (2 * SIGMA))[:, None], est_a, truth)
  est_f = es.forward_fd_gradient(noise, rp, f(w), SIGMA)
  _check_unbiased(noise * ((rp - f(w)) / SIGMA)[:, None], est_f, truth)


def test_gradient_sign_makes_reward_go_up():
  a = jnp.array([1.0, -2.0, 0.5])
  params = jnp.zeros(3)
  opt = optax.sgd(0.1)
  state = opt.init(params)
  new, _ = es.apply_gradient(opt, a, state, params)  # gradient of reward a.w is a
  assert float(new @ a) > float(params @ a)


def test_centered_ranks():
  r = es.centered_ranks(jnp.array([3.0, -1.0, 10.0, 0.0]))
  np.testing.assert_allclose(r, [1 / 6, -0.5, 0.5, -1 / 6], rtol=1e-6)
  assert float(es.centered_ranks(jnp.array([5.0]))[0]) == 0.0


def test_top_directions_and_shaping():
  rp = jnp.array([1.0, 5.0, 0.0, 2.0])
  rn = jnp.array([0.0, 0.0, 9.0, 1.0])
  assert set(np.asarray(es.top_directions(rp, rn, 2)).tolist()) == {1, 2}
  noise = jnp.eye(4)
  shaped = es.shape_antithetic(noise, rp, rn, shaping="std", top_b=2)
  chex.assert_shape(shaped.noise, (2, 4))
  with pytest.raises(ValueError, match="fitness shaping"):
    es.shape_antithetic(noise, rp, rn, shaping="bogus")


def test_perturb_layout():
  center = jnp.arange(3.0)
  noise = jnp.ones((2, 3))
  pop = es.perturb(center, noise, 0.5)
  chex.assert_shape(pop, (4, 3))
  np.testing.assert_allclose(pop[0], center + 0.5)
  np.testing.assert_allclose(pop[2], center - 0.5)


def test_es_converges_on_quadratic():
  """A whole jitted ES loop (scan over iterations) finds the optimum of -|w - c|^2."""
  dim, t, sigma = 10, 16, 0.05
  c = jnp.linspace(-1.0, 1.0, dim)
  f = lambda x: -jnp.sum((x - c) ** 2, axis=-1)
  opt = optax.adam(0.05)

  def step(carry, key):
    params, opt_state = carry
    noise = es.gaussian_perturbations(key, t, dim)
    pop = es.perturb(params, noise, sigma)
    returns = f(pop)
    shaped = es.shape_antithetic(noise, returns[:t], returns[t:])
    grad = es.antithetic_gradient(shaped.noise, shaped.returns_pos, shaped.returns_neg, sigma)
    params, opt_state = es.apply_gradient(opt, grad, opt_state, params)
    return (params, opt_state), f(params)

  params = jnp.zeros(dim)
  (final, _), curve = jax.jit(lambda k: jax.lax.scan(step, (params, opt.init(params)), jax.random.split(k, 300)))(
      jax.random.key(0))
  assert float(f(params)) < -3.0
  assert float(curve[-1]) > -0.05
  np.testing.assert_allclose(final, c, atol=0.15)
