"""The ES gradient estimator the trainer uses (Salimans et al. 2017; Mania et al. 2018, ARS).

ES maximises the Gaussian-smoothed objective `F_sigma(w) = E_{g ~ N(0, I)} f(w + sigma g)`,
whose gradient is `(1/sigma) E[f(w + sigma g) g]`.  With `t` directions `g_1..g_t` (rows of
`noise (t, D)`) and each evaluated on both sides, the antithetic estimate is

  `grad = sum_i g_i (f(w + sigma g_i) - f(w - sigma g_i)) / (2 sigma t)`,

unbiased for `grad F_sigma(w)`.  Unlike the one-sided `(f(w + sigma g) - f(w)) g / sigma` it
needs no episode at `w` itself and cancels the even-order terms of `f` around `w` (on a
quadratic each direction contributes exactly `g g' grad f(w)`).  `antithetic_gradient` adds what
training needs on top: fitness shaping, ARS top-b directions and the exclusion of non-finite
pairs.

Everything here is pure and jit/vmap-safe.  ES *maximises* reward: `apply_gradient` hands
`-gradient` to the (minimising) optax optimiser.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax
from jax.scipy import stats as jax_stats

# Fitness shapings the estimators accept.
SHAPINGS = ("centered_rank", "std", "none")
# The gradient estimators a run can train with (`config.estimator`): `antithetic_gradient`, or
# the poster's eq. 1, `forward_fd_gradient`.
ESTIMATORS = ("antithetic", "forward_fd")


def check_estimator(name: str) -> str:
  """Returns `name` if it is one of `ESTIMATORS`; raises `ValueError` naming the choices otherwise."""
  if name not in ESTIMATORS:
    raise ValueError(f"unknown estimator {name!r}; choose one of {ESTIMATORS}")
  return name


def check_shaping(shaping: str) -> None:
  """Raises `ValueError` unless `shaping` is one of `SHAPINGS`; runs in Python, so under `jit`
  it fires while tracing, before anything compiles."""
  if shaping not in SHAPINGS:
    raise ValueError(f"unknown fitness shaping {shaping!r}; choose one of {SHAPINGS}")


def gaussian_perturbations(key: jax.Array, num: int, dim: int, dtype=jnp.float32) -> jnp.ndarray:
  """`num` directions `g_i ~ N(0, I_dim)`: an array `(num, dim)`."""
  return jax.random.normal(key, (num, dim), dtype)


def perturb(center: jnp.ndarray, noise: jnp.ndarray, sigma: float, antithetic: bool = True) -> jnp.ndarray:
  """Population of parameters around `center (D,)` from `noise (t, D)`.

  Antithetic: `[center + sigma g_1 .. center + sigma g_t, center - sigma g_1 .. center - sigma g_t]`,
  shape `(2t, D)`; otherwise `center + sigma g_i`, shape `(t, D)`.
  """
  plus = center[None, :] + sigma * noise
  if not antithetic:
    return plus
  return jnp.concatenate([plus, center[None, :] - sigma * noise], axis=0)


def centered_ranks(x: jnp.ndarray) -> jnp.ndarray:
  """Fitness shaping: `rank(x_j) / (n - 1) - 0.5` over all `n` entries of `x`, so values lie in
  `[-0.5, 0.5]`; same shape as `x`.  Ranks are 0-based and ordinal (ties broken by position),
  a single entry maps to 0.  `x` must be free of NaN."""
  # Ordinal ranks are small integers, exact in float32: the shaped values depend only on the order.
  ranks = jax_stats.rankdata(x, method="ordinal") - 1.0
  if x.size > 1:
    ranks = ranks / (x.size - 1) - 0.5
  else:
    ranks = ranks * 0.0
  return ranks.reshape(x.shape).astype(x.dtype)


def top_directions(returns_pos: jnp.ndarray, returns_neg: jnp.ndarray, b: int, valid: jnp.ndarray | None = None):
  """ARS top-b selection: indices `(b,)` of the `b` directions with the largest `max(r+_i, r-_i)`.

  `returns_pos`, `returns_neg`, `valid (t,)`; invalid directions (`valid` False) score `-inf`, so
  they are picked only when fewer than `b` are valid.
  """
  score = jnp.maximum(returns_pos, returns_neg)
  if valid is not None:
    score = jnp.where(valid, score, -jnp.inf)
  return jax.lax.top_k(score, b)[1]


def antithetic_gradient(
  noise: jnp.ndarray,
  returns_pos: jnp.ndarray,
  returns_neg: jnp.ndarray,
  sigma,
  *,
  shaping: str = "centered_rank",
  top_b: int = 0,
):
  """Antithetic ES gradient with fitness shaping, ARS top-b and non-finite pairs excluded.

  `noise (t, D)` holds `g_i`; `returns_pos (t,)`, `returns_neg (t,)` are `f(w + sigma g_i)` and
  `f(w - sigma g_i)`.  Returns `(gradient (D,), n_valid () int32)` with

    `gradient = sum_{i in S} v_i g_i (s+_i - s-_i) / (2 sigma max(n_valid, 1))`,

  where pair `i` is valid (`v_i = 1`) iff both its returns are finite and `n_valid = sum_{i in S} v_i`.
  Steps, in order:
  1. invalid pairs' returns are replaced by the mean of the valid returns (so shaping can rank
     them) and weighted 0 at the end;
  2. `top_b` in `(0, t)`: `S` is the `top_b` directions with the largest `max(r+_i, r-_i)` among
     valid pairs (`top_directions`); otherwise `S` is all `t`;
  3. shaping `s` over the `2|S|` returns of `S`: `'centered_rank'` (`centered_ranks` of the
     concatenation `[r+, r-]`), `'std'` (`r / std`, the std over the valid returns, 1 if below
     1e-8; ARS V1-t) or `'none'` (`s = r`, the plain antithetic estimator above).
  An unknown `shaping` raises `ValueError` (`check_shaping`) before any array work.
  """
  check_shaping(shaping)
  valid = jnp.isfinite(returns_pos) & jnp.isfinite(returns_neg)
  fill = jnp.sum(jnp.where(valid, returns_pos + returns_neg, 0.0)) / jnp.maximum(2.0 * jnp.sum(valid), 1.0)
  rp, rn = jnp.where(valid, returns_pos, fill), jnp.where(valid, returns_neg, fill)
  if top_b and top_b < noise.shape[0]:
    idx = top_directions(rp, rn, top_b, valid)
    noise, rp, rn, valid = noise[idx], rp[idx], rn[idx], valid[idx]
  if shaping == "centered_rank":
    rp, rn = jnp.split(centered_ranks(jnp.concatenate([rp, rn])), 2)
  elif shaping == "std":
    # Dividing by the std of the valid returns, not centring them: the mean cancels in s+ - s-.
    std = jnp.std(jnp.concatenate([rp, rn]), where=jnp.concatenate([valid, valid]))
    std = jnp.where(std > 1e-8, std, 1.0)  # also catches the NaN of an all-invalid population
    rp, rn = rp / std, rn / std
  n_valid = jnp.sum(valid)
  weights = jnp.where(valid, rp - rn, 0.0) / (2.0 * sigma * jnp.maximum(n_valid, 1))
  return weights @ noise, n_valid


def forward_fd_gradient(
  noise: jnp.ndarray, returns: jnp.ndarray, center_return, sigma, *, shaping: str = "centered_rank"
):
  """The poster's forward finite-difference ES gradient (its eq. 1), non-finite members excluded.

  `noise (n, D)` holds independent directions `g_i`, `returns (n,)` the returns
  `f(w + sigma g_i)` and `center_return ()` the unperturbed `F(w) = f(w)`, the baseline.  Returns
  `(gradient (D,), n_valid () int32)` with

    `gradient = sum_i v_i g_i (s_i - s_F) / (sigma max(n_valid, 1))`,

  unbiased for the gradient of `E_g f(w + sigma g)` whatever the baseline (`E[g] = 0`), where
  `v_i = 1` iff `f(w + sigma g_i)` is finite and `n_valid = sum_i v_i`.  Shaping `s` acts on the
  `n + 1` returns together: `'centered_rank'` (`centered_ranks` of `[f_1..f_n, F]`), `'std'`
  (`f / std` over the finite returns) or `'none'` (`s = f`, eq. 1 itself).  A non-finite `F`
  is replaced by the mean of the finite `f_i`, so that directions still compare among themselves.
  """
  check_shaping(shaping)
  valid = jnp.isfinite(returns)
  n_valid = jnp.sum(valid)
  fill = jnp.sum(jnp.where(valid, returns, 0.0)) / jnp.maximum(n_valid, 1)
  r = jnp.where(valid, returns, fill)
  base = jnp.where(jnp.isfinite(center_return), center_return, fill)
  both = jnp.concatenate([r, base[None]])
  if shaping == "centered_rank":
    both = centered_ranks(both)
  elif shaping == "std":
    std = jnp.std(both, where=jnp.concatenate([valid, jnp.ones((1,), bool)]))
    both = both / jnp.where(std > 1e-8, std, 1.0)
  weights = jnp.where(valid, both[:-1] - both[-1], 0.0) / (sigma * jnp.maximum(n_valid, 1))
  return weights @ noise, n_valid


def apply_gradient(optimizer: optax.GradientTransformation, gradient: jnp.ndarray, opt_state, params: jnp.ndarray):
  """One ascent step on `params (D,)`: feeds `-gradient (D,)` to the optax optimiser (which
  minimises) and returns `(new_params (D,), new_opt_state)`, so reward goes up."""
  updates, opt_state = optimizer.update(-gradient, opt_state, params)
  return optax.apply_updates(params, updates), opt_state
