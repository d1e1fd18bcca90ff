"""Evolution Strategies building blocks (Salimans et al. 2017; Mania et al. 2018, ARS).

ES estimates the gradient of the Gaussian-smoothed objective
`F_sigma(w) = E_{g ~ N(0, I)} f(w + sigma g)`, whose gradient is
`(1/sigma) E[f(w + sigma g) g]`, from `t` directions `g_1..g_t` (rows of `noise (t, dim)`).
Everything here is pure and jit/vmap-safe.  ES *maximises* reward: `apply_gradient` hands
`-gradient` to the (minimising) optax optimiser.
"""
from __future__ import annotations

from typing import NamedTuple

import chex
import jax
import jax.numpy as jnp
import optax


def gaussian_perturbations(key: jax.Array, num: int, dim: int, dtype=jnp.float32) -> jnp.ndarray:
  """`num` directions `g_i ~ N(0, I_dim)`: an array `(num, dim)`."""
  return jax.random.normal(key, (num, dim), dtype)


def perturb(center: jnp.ndarray, noise: jnp.ndarray, sigma: float, antithetic: bool = True) -> jnp.ndarray:
  """Population of parameters around `center (dim,)`.

  Antithetic: `[center + sigma g_1 .. center + sigma g_t, center - sigma g_1 .. center - sigma g_t]`,
  shape `(2t, dim)`; otherwise `center + sigma g_i`, shape `(t, dim)`.
  """
  plus = center[None, :] + sigma * noise
  if not antithetic:
    return plus
  return jnp.concatenate([plus, center[None, :] - sigma * noise], axis=0)


def forward_fd_gradient(noise: jnp.ndarray, returns: jnp.ndarray, center_return, sigma) -> jnp.ndarray:
  """Forward finite-difference estimator, the poster's equation (1):
  `(1/t) sum_i g_i (f(w + sigma g_i) - F(w)) / sigma`; `noise (t, dim)`, `returns (t,)`."""
  chex.assert_rank(noise, 2)
  chex.assert_shape(returns, (noise.shape[0],))
  weights = (returns - center_return) / sigma
  return weights @ noise / noise.shape[0]


def antithetic_gradient(noise: jnp.ndarray, returns_pos: jnp.ndarray, returns_neg: jnp.ndarray, sigma) -> jnp.ndarray:
  """Antithetic estimator `(1/2t) sum_i g_i (f(w + sigma g_i) - f(w - sigma g_i)) / sigma`;
  `noise (t, dim)`, `returns_pos`, `returns_neg (t,)`; returns `(dim,)`."""
  chex.assert_rank(noise, 2)
  chex.assert_shape([returns_pos, returns_neg], (noise.shape[0],))
  weights = (returns_pos - returns_neg) / (2.0 * sigma)
  return weights @ noise / noise.shape[0]


def centered_ranks(x: jnp.ndarray) -> jnp.ndarray:
  """Fitness shaping: ranks of all entries of `x` mapped linearly onto `[-0.5, 0.5]`
  (same shape as `x`; ties broken by position)."""
  flat = x.reshape(-1)
  ranks = jnp.zeros_like(flat).at[jnp.argsort(flat)].set(jnp.arange(flat.size, dtype=flat.dtype))
  if flat.size > 1:
    ranks = ranks / (flat.size - 1) - 0.5
  else:
    ranks = ranks * 0.0
  return ranks.reshape(x.shape)


def top_directions(returns_pos: jnp.ndarray, returns_neg: jnp.ndarray, b: int) -> jnp.ndarray:
  """ARS top-b selection: indices `(b,)` of the directions with the largest `max(r+, r-)`."""
  _, idx = jax.lax.top_k(jnp.maximum(returns_pos, returns_neg), b)
  return idx


class ShapedReturns(NamedTuple):
  noise: jnp.ndarray  # (b, dim) the directions kept
  returns_pos: jnp.ndarray  # (b,)
  returns_neg: jnp.ndarray  # (b,)


def shape_antithetic(noise, returns_pos, returns_neg, *, shaping: str = "centered_rank",
                     top_b: int | None = None) -> ShapedReturns:
  """Fitness shaping and top-b selection for antithetic pairs.

  `shaping`: `'centered_rank'` (ranks over all `2t` returns), `'std'` (divide by the std of
  the kept returns, ARS V1-t) or `'none'`.  `top_b` keeps the `b` best directions (ARS).
  """
  if shaping not in ("centered_rank", "std", "none"):
    raise ValueError(f"unknown fitness shaping {shaping!r}: use 'centered_rank', 'std' or 'none'")
  if top_b is not None and top_b < noise.shape[0]:
    idx = top_directions(returns_pos, returns_neg, top_b)
    noise, returns_pos, returns_neg = noise[idx], returns_pos[idx], returns_neg[idx]
  if shaping == "centered_rank":
    ranked = centered_ranks(jnp.concatenate([returns_pos, returns_neg]))
    returns_pos, returns_neg = jnp.split(ranked, 2)
  elif shaping == "std":
    std = jnp.std(jnp.concatenate([returns_pos, returns_neg]))
    std = jnp.where(std > 1e-8, std, 1.0)
    returns_pos, returns_neg = returns_pos / std, returns_neg / std
  return ShapedReturns(noise, returns_pos, returns_neg)


def apply_gradient(optimizer: optax.GradientTransformation, gradient: jnp.ndarray, opt_state,
                   params: jnp.ndarray):
  """One ascent step: feeds `-gradient` to the optax optimiser (which minimises) and returns
  `(new_params, new_opt_state)`, so reward goes up."""
  updates, opt_state = optimizer.update(-gradient, opt_state, params)
  return optax.apply_updates(params, updates), opt_state
