"""ENAS-style autoregressive controller over colorings (pointer-network style policy).

The controller walks over the `E` weights of a policy network in a fixed order and emits one
choice in `{0..C-1}` per weight (a color for the chromatic family, keep/drop for masked).
At step `i` an LSTM cell reads `emb[prev_choice] + pos[i]` (a learned embedding of the
previous choice and of the position) and a softmax head gives
`p(c_i | c_<i) = softmax(tanh_constant * tanh(logits / temperature))` (ENAS's logit
clipping).  Everything is pure: parameters are a dict pytree, keys are explicit, a whole
batch of colorings is one `lax.scan` over positions.
"""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import optax
from flax import struct


@dataclasses.dataclass(frozen=True)
class ControllerConfig:
  """Static controller settings: `num_positions` E, `num_choices` C, LSTM `hidden_size`, the
  softmax `temperature` and `tanh_constant` (0 disables the tanh clipping)."""

  num_positions: int
  num_choices: int
  hidden_size: int = 32
  temperature: float = 1.0
  tanh_constant: float = 2.5


def init(config: ControllerConfig, key: jax.Array) -> dict:
  """Parameters: choice and position embeddings, LSTM weights, softmax head (zero: uniform start)."""
  h, c, e = config.hidden_size, config.num_choices, config.num_positions
  k1, k2, k3 = jax.random.split(key, 3)
  scale = 1.0 / jnp.sqrt(h)
  return {
      "choice_emb": 0.1 * jax.random.normal(k1, (c + 1, h)),  # index C is the start token
      "pos_emb": 0.1 * jax.random.normal(k2, (e, h)),
      "lstm_w": scale * jax.random.normal(k3, (2 * h, 4 * h)),
      "lstm_b": jnp.zeros((4 * h,)),
      "head_w": jnp.zeros((h, c)),
      "head_b": jnp.zeros((c,)),
  }


def _cell(params, carry, x):
  """One LSTM step on a batch: `x (n, H)`, `carry = (h, c)` each `(n, H)`."""
  h, c = carry
  z = jnp.concatenate([x, h], axis=-1) @ params["lstm_w"] + params["lstm_b"]
  i, f, g, o = jnp.split(z, 4, axis=-1)
  c = jax.nn.sigmoid(f + 1.0) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
  h = jax.nn.sigmoid(o) * jnp.tanh(c)
  return h, c


def _logits(config: ControllerConfig, params, h):
  logits = (h @ params["head_w"] + params["head_b"]) / config.temperature
  if config.tanh_constant:
    logits = config.tanh_constant * jnp.tanh(logits / config.tanh_constant)
  return logits


def _walk(config: ControllerConfig, params, n: int, step_fn, xs):
  """Scans the positions: `step_fn(logits (n, C), x_i) -> (choice (n,), out_i)`."""
  hsz = config.hidden_size
  carry0 = (jnp.zeros((n, hsz)), jnp.zeros((n, hsz)), jnp.full((n,), config.num_choices, jnp.int32))

  def body(carry, inputs):
    h, c, prev = carry
    pos, x = inputs
    h, c = _cell(params, (h, c), params["choice_emb"][prev] + params["pos_emb"][pos])
    choice, out = step_fn(_logits(config, params, h), x)
    return (h, c, choice), out

  _, outs = jax.lax.scan(body, carry0, (jnp.arange(config.num_positions), xs))
  return outs


def sample(config: ControllerConfig, params, key: jax.Array, n: int):
  """`n` colorings `(n, E)` int32 and their log-probabilities `(n,)`."""
  keys = jax.random.split(key, config.num_positions)

  def step(logits, k):
    choice = jax.random.categorical(k, logits).astype(jnp.int32)
    logp = jnp.take_along_axis(jax.nn.log_softmax(logits), choice[:, None], axis=-1)[:, 0]
    return choice, (choice, logp)

  choices, logps = _walk(config, params, n, step, keys)
  return choices.T, logps.sum(axis=0)


def log_prob_and_entropy(config: ControllerConfig, params, choices: jax.Array):
  """Teacher-forced `(log p(choices) (n,), sum of per-position entropies along the path (n,))`."""

  def step(logits, target):
    logp_all = jax.nn.log_softmax(logits)
    logp = jnp.take_along_axis(logp_all, target[:, None], axis=-1)[:, 0]
    ent = -jnp.sum(jnp.exp(logp_all) * logp_all, axis=-1)
    return target, (logp, ent)

  logps, ents = _walk(config, params, choices.shape[0], step, choices.T.astype(jnp.int32))
  return logps.sum(axis=0), ents.sum(axis=0)


def log_prob(config: ControllerConfig, params, choices: jax.Array) -> jax.Array:
  """`log p(choices)` for `choices (n, E)`: the sum of per-position log-probabilities."""
  return log_prob_and_entropy(config, params, choices)[0]


def entropy(config: ControllerConfig, params, choices: jax.Array) -> jax.Array:
  """Sum of the per-position entropies along each path in `choices (n, E)`; `(n,)`."""
  return log_prob_and_entropy(config, params, choices)[1]


def greedy(config: ControllerConfig, params) -> jax.Array:
  """The coloring `(E,)` picking the most likely choice at every step."""

  def step(logits, _):
    choice = jnp.argmax(logits, axis=-1).astype(jnp.int32)
    return choice, choice

  return _walk(config, params, 1, step, jnp.zeros((config.num_positions,)))[:, 0]


@struct.dataclass
class ReinforceState:
  """Controller parameters, optimiser state, moving-average reward baseline and step count."""

  params: dict
  opt_state: optax.OptState
  baseline: jax.Array
  step: jax.Array


def reinforce_init(config: ControllerConfig, key: jax.Array, optimizer: optax.GradientTransformation) -> ReinforceState:
  params = init(config, key)
  return ReinforceState(params, optimizer.init(params), jnp.float32(0.0), jnp.int32(0))


def reinforce_update(config: ControllerConfig, state: ReinforceState, choices: jax.Array, rewards: jax.Array,
                     optimizer: optax.GradientTransformation, *, entropy_coef: float = 1e-3,
                     baseline_decay: float = 0.95):
  """One REINFORCE step on the colorings `choices (n, E)` that earned `rewards (n,)`.

  Loss `-mean(A_i log p(c_i)) - entropy_coef * mean(H_i)` with advantages
  `A_i = (R_i - b) / std(R)` (non-finite rewards get weight 0) and the baseline updated as
  `b <- decay b + (1 - decay) mean(R)` (initialised to the first batch's mean).  Returns
  `(new_state, metrics)`.
  """
  valid = jnp.isfinite(rewards)
  n_valid = jnp.maximum(jnp.sum(valid), 1)
  r = jnp.where(valid, rewards, 0.0)
  mean = jnp.sum(r) / n_valid
  std = jnp.sqrt(jnp.sum(jnp.where(valid, (r - mean) ** 2, 0.0)) / n_valid)
  baseline = jnp.where(state.step == 0, mean, state.baseline)
  adv = jnp.where(valid, (r - baseline) / (std + 1e-8), 0.0)

  def loss_fn(params):
    logp, ent = log_prob_and_entropy(config, params, choices)
    return -jnp.sum(adv * logp) / n_valid - entropy_coef * jnp.mean(ent), jnp.mean(ent)

  (loss, ent), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
  updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
  any_valid = jnp.any(valid)
  params = jax.tree.map(lambda new, old: jnp.where(any_valid, new, old), optax.apply_updates(state.params, updates),
                        state.params)
  opt_state = jax.tree.map(lambda new, old: jnp.where(any_valid, new, old), opt_state, state.opt_state)
  new_baseline = jnp.where(any_valid, baseline_decay * baseline + (1 - baseline_decay) * mean, state.baseline)
  new_state = ReinforceState(params, opt_state, new_baseline, state.step + any_valid.astype(jnp.int32))
  return new_state, {"controller_loss": loss, "controller_entropy": ent / config.num_positions,
                     "controller_baseline": new_baseline}
