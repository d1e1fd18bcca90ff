"""ENAS-style autoregressive controller over colorings (pointer-network style policy).

The controller walks over the `E` weights of a policy network in a fixed order and emits one
choice in `{0..C-1}` per weight (a color for the chromatic family, keep/drop for masked).
At step `i` an LSTM cell reads `emb[prev_choice] + pos[i]` (a learned embedding of the
previous choice and of the position) and a softmax head gives
`p(c_i | c_<i) = softmax(clip((s(h_i) + pos_logits[i]) / temperature))`.  The score `s` is
`head`'s: `linear`, `s(h) = h W + b`; or `pointer`, additive attention of the hidden state
over learned embeddings `e_c` of the choices, `s(h)_c = v . tanh(h W_q + e_c W_k)` (a pointer
network whose pointees are the colors, as the poster's controller).  `clip` is
ENAS's `tanh_constant * tanh(. / tanh_constant)` (off when `tanh_constant = 0`) and
`pos_logits (E, C)` are learned per-position logits (drawn with std `init_logit_scale` at
initialisation, so the controller can start near a spread-out random coloring).

Everything is pure: parameters are a dict pytree, keys are explicit, a whole batch of
colorings is one `lax.scan` over positions.  The input projections are hoisted out of the
recurrence, sampling is Gumbel-max with all noise drawn up front, and the teacher-forced
log-probability runs only the LSTM recurrence inside its scan (the head runs on all positions
at once afterwards), which keeps the REINFORCE update cheap.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import optax
from flax import struct

# The defaults below are the settings training uses (`config.controller` and
# `partition_sources.CONTROLLER_DEFAULTS` are derived from them), chosen by measurement on
# HalfCheetah: hidden size 16 (learns as well as 32 at half the cost), no tanh
# clipping of the logits, per-position logits drawn with std 4 at initialisation (a spread-out
# random coloring the controller starts near, instead of a uniform distribution that collapses
# to one color on HalfCheetah), Adam at 0.05 and batch-relative advantages.


# The controller's scoring heads (`ControllerConfig.head`).
HEADS = ("linear", "pointer")


def check_head(head: str) -> str:
  """Returns `head` if it is one of `HEADS`; raises `ValueError` naming the choices otherwise."""
  if head not in HEADS:
    raise ValueError(f"unknown controller head {head!r}; choose one of {HEADS}")
  return head


@dataclasses.dataclass(frozen=True)
class ControllerConfig:
  """Static controller settings: `num_positions` E, `num_choices` C, LSTM `hidden_size`, the
  softmax `temperature`, `tanh_constant` (0 disables the tanh clipping),
  `init_logit_scale`, the standard deviation of the per-position logits at initialisation
  (0: every coloring equally likely at the start), the scoring `head` (one of `HEADS`) and
  `init_logit_peak`: a margin added at initialisation to one random choice per position, so the
  controller starts concentrated on one random coloring and its samples differ from it in about
  `E (C - 1) e^-peak` positions (0: no peak)."""

  num_positions: int
  num_choices: int
  hidden_size: int = 16
  temperature: float = 1.0
  tanh_constant: float = 0.0
  # Start concentrated on one random coloring: the REINFORCE gradient over a few dozen sampled
  # partitions is too noisy to find structure from a uniform start, so the search is local
  # around a peak that the elite memory moves (see ReinforceConfig).
  init_logit_scale: float = 0.0
  head: str = "linear"
  init_logit_peak: float = 6.0


@dataclasses.dataclass(frozen=True)
class ReinforceConfig:
  """Settings of the controller's REINFORCE training: Adam's `learning_rate`, the entropy bonus
  `entropy_coef`, the moving-average baseline's `baseline_decay`, the `advantage` kind (one
  of `ADVANTAGES`, see `advantages`) and `diagnostics`, which adds the search's health figures
  to every update's metrics (gradient signal-to-noise, changes of the most likely coloring,
  distinct partitions per batch) at about twice the update's cost; `optimizer` is `adam` or
  `sgd` (plain steps: a position whose gradient is pure noise drifts as its noise does, where
  Adam rescales every parameter's step to about `learning_rate`).  `elite_size` k > 0 keeps the
  k best partitions seen so far and adds `elite_weight` times their mean log-likelihood to the
  objective (priority-queue training, Abolafia et al. 2018): the controller keeps a memory of
  what worked, where plain REINFORCE forgets a good sample after one step.  `elite_decay` d < 1
  moves each remembered reward to `m + d (r - m)` per update, `m` the batch's mean reward."""

  learning_rate: float = 0.1
  # No entropy bonus: with the elite memory the controller should concentrate on what scored
  # well; a bonus pulls it back towards the uniform distribution that does not train.
  entropy_coef: float = 0.0
  baseline_decay: float = 0.95
  advantage: str = "batch"
  diagnostics: bool = False
  optimizer: str = "adam"
  elite_size: int = 16
  elite_weight: float = 1.0
  # 1 keeps an elite's reward as it was measured.  Below 1, every update pulls the elites'
  # rewards towards the batch's mean by this factor, so that partitions which scored well under
  # old weights make room for new ones when the returns plateau (a soft form of the aging that
  # regularized evolution uses).
  elite_decay: float = 1.0
  # 0: off.  Above 0 (nats), a hinge bonus `entropy_floor_weight * sum_i min(H_i, entropy_floor)`
  # over the positions i of each sampled path: it pushes a position back only while its entropy is
  # below the floor, so the elite memory can still concentrate the controller, but not collapse it
  # onto one coloring in the first few hundred thousand steps, before ES has trained under any.
  entropy_floor: float = 0.0
  entropy_floor_weight: float = 1.0


def init(config: ControllerConfig, key: jax.Array) -> dict:
  """Parameters: choice and position embeddings, LSTM weights, the head's weights and per-position
  logits `pos_logits (E, C)` ~ N(0, init_logit_scale^2) + init_logit_peak * onehot(c0), `c0` a
  uniformly random coloring.  The head's output weights start at zero
  (`head_w`, or the pointer's `ptr_v`), so with `init_logit_scale = 0` every coloring is equally
  likely at the start."""
  check_head(config.head)
  h, c, e = config.hidden_size, config.num_choices, config.num_positions
  k1, k2, k3, k4, k5, k6, k7, k8 = jax.random.split(key, 8)
  scale = 1.0 / jnp.sqrt(h)
  pointer = {}
  if config.head == "pointer":
    pointer = {
      "ptr_emb": 0.1 * jax.random.normal(k5, (c, h)),  # the pointees: one embedding per choice
      "ptr_wq": scale * jax.random.normal(k6, (h, h)),
      "ptr_wk": scale * jax.random.normal(k7, (h, h)),
      "ptr_v": jnp.zeros((h,)),
    }
  return {
    **pointer,
    "choice_emb": 0.1 * jax.random.normal(k1, (c + 1, h)),  # index C is the start token
    "pos_emb": 0.1 * jax.random.normal(k2, (e, h)),
    "lstm_w": scale * jax.random.normal(k3, (2 * h, 4 * h)),
    "lstm_b": jnp.zeros((4 * h,)),
    "head_w": jnp.zeros((h, c)),
    "head_b": jnp.zeros((c,)),
    "pos_logits": config.init_logit_scale * jax.random.normal(k4, (e, c))
    + config.init_logit_peak * jax.nn.one_hot(jax.random.randint(k8, (e,), 0, c), c),
  }


def _input_tables(config: ControllerConfig, params):
  """The LSTM's input projections, hoisted out of the recurrence.

  The cell's pre-activation is `[x_i, h] @ lstm_w + b` with `x_i = emb[prev] + pos[i]`, i.e.
  `emb[prev] @ W_x + (pos[i] @ W_x + b) + h @ W_h`.  Returns `(choice_table (C+1, 4H),
  position_table (E, 4H), W_h (H, 4H))`: two matmuls per call instead of one per step.
  """
  hsz = config.hidden_size
  w_x, w_h = params["lstm_w"][:hsz], params["lstm_w"][hsz:]
  return params["choice_emb"] @ w_x, params["pos_emb"] @ w_x + params["lstm_b"], w_h


def _cell(w_h, carry, z_in):
  """One LSTM step on a batch: input pre-activation `z_in (n, 4H)`, `carry = (h, c)` each `(n, H)`."""
  h, c = carry
  i, f, g, o = jnp.split(z_in + h @ w_h, 4, axis=-1)
  c = jax.nn.sigmoid(f + 1.0) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
  h = jax.nn.sigmoid(o) * jnp.tanh(c)
  return h, c


def _scores(config: ControllerConfig, params, h):
  """The head's scores `s(h) (..., C)` of hidden states `h (..., H)`: `h W + b` (linear) or
  `v . tanh(h W_q + e_c W_k)` for every choice `c` (pointer)."""
  if config.head == "pointer":
    keys = params["ptr_emb"] @ params["ptr_wk"]  # (C, H)
    return jnp.tanh((h @ params["ptr_wq"])[..., None, :] + keys) @ params["ptr_v"]
  return h @ params["head_w"] + params["head_b"]


def _logits(config: ControllerConfig, params, h, pos_logits):
  """Head on hidden states `h (..., H)` at positions with per-position logits `pos_logits (..., C)`:
  `l = (s(h) + pos_logits) / T`, then `tanh_constant * tanh(l / tanh_constant)`; `(..., C)`."""
  logits = (_scores(config, params, h) + pos_logits) / config.temperature
  if config.tanh_constant:
    logits = config.tanh_constant * jnp.tanh(logits / config.tanh_constant)
  return logits


def _decode(config: ControllerConfig, params, perturb):
  """Autoregressive walk choosing `argmax(logits_i + perturb[i])` at each position.

  `perturb (E, n, C)`: Gumbel noise samples the softmax exactly (Gumbel-max); zeros give the
  greedy path.  Returns `(choices (E, n) int32, hidden states (E, n, H))`.  Only the
  recurrence and the head run inside the scan.
  """
  choice_table, position_table, w_h = _input_tables(config, params)
  n = perturb.shape[1]
  hsz = config.hidden_size
  carry0 = (jnp.zeros((n, hsz)), jnp.zeros((n, hsz)), jnp.full((n,), config.num_choices, jnp.int32))

  def body(carry, inputs):
    h, c, prev = carry
    pos_z, pos_logits, noise = inputs
    h, c = _cell(w_h, (h, c), choice_table[prev] + pos_z)
    choice = jnp.argmax(_logits(config, params, h, pos_logits) + noise, axis=-1).astype(jnp.int32)
    return (h, c, choice), (choice, h)

  _, (choices, hs) = jax.lax.scan(body, carry0, (position_table, params["pos_logits"], perturb))
  return choices, hs


def _path_log_probs(config: ControllerConfig, params, hs, choices):
  """Per-position `log p(choice_i | prefix) (E, n)` and entropies `(E, n)` from hidden states `hs (E, n, H)`."""

  def per_position(h, pos_logits, choice):
    logp_all = jax.nn.log_softmax(_logits(config, params, h, pos_logits[..., None, :]))
    logp = jnp.take_along_axis(logp_all, choice[..., None], axis=-1)[..., 0]
    return logp, -jnp.sum(jnp.exp(logp_all) * logp_all, axis=-1)

  if config.head == "pointer":
    # The pointer's scores hold an (n, C, H) tensor per position: a few positions at a time keeps
    # the memory of the whole path (E x n x C x H) from ever being live.
    return jax.lax.map(lambda xs: per_position(*xs), (hs, params["pos_logits"], choices), batch_size=32)
  return per_position(hs, params["pos_logits"], choices)


def sample(config: ControllerConfig, params, key: jax.Array, n: int):
  """`n` colorings `(n, E)` int32 drawn from the controller, and their log-probabilities `(n,)`.

  Gumbel-max sampling: `c_i = argmax(logits_i + g_i)`, `g ~ Gumbel(0, 1)` drawn for all
  positions at once.
  """
  gumbel = jax.random.gumbel(key, (config.num_positions, n, config.num_choices))
  choices, hs = _decode(config, params, gumbel)
  logp, _ = _path_log_probs(config, params, hs, choices)
  return choices.T, logp.sum(axis=0)


def log_prob_and_entropy(config: ControllerConfig, params, choices: jax.Array):
  """Teacher-forced `(log p(choices) (n,), sum of per-position entropies along the path (n,))`."""
  logp, ent = _teacher_forced(config, params, choices)
  return logp.sum(axis=0), ent.sum(axis=0)


def position_entropies(config: ControllerConfig, params, choices: jax.Array) -> jax.Array:
  """`H_i = -sum_c p(c | choices_<i) log p(c | choices_<i)` at every position along each path in
  `choices (n, E)`: `(n, E)`.  Where the controller has settled, `H_i` is near 0; a uniform
  position has `log C`."""
  return _teacher_forced(config, params, choices)[1].T


def _teacher_forced(config: ControllerConfig, params, choices: jax.Array):
  """Per-position `(log p (E, n), entropy (E, n))` along the paths `choices (n, E)`.

  The inputs are known in advance, so their projections are gathered before the scan and the
  scan holds only the LSTM recurrence; the head runs on all positions at once after it.
  """
  choices = choices.T.astype(jnp.int32)  # (E, n)
  choice_table, position_table, w_h = _input_tables(config, params)
  start = jnp.full((1, choices.shape[1]), config.num_choices, jnp.int32)
  z_in = choice_table[jnp.concatenate([start, choices[:-1]])] + position_table[:, None]  # (E, n, 4H)
  hsz = config.hidden_size
  n = choices.shape[1]

  def body(carry, z):
    h, c = _cell(w_h, carry, z)
    return (h, c), h

  _, hs = jax.lax.scan(body, (jnp.zeros((n, hsz)), jnp.zeros((n, hsz))), z_in)
  return _path_log_probs(config, params, hs, choices)


def log_prob(config: ControllerConfig, params, choices: jax.Array) -> jax.Array:
  """`log p(choices)` for `choices (n, E)`: the sum of per-position log-probabilities."""
  return log_prob_and_entropy(config, params, choices)[0]


def entropy(config: ControllerConfig, params, choices: jax.Array) -> jax.Array:
  """Sum of the per-position entropies along each path in `choices (n, E)`; `(n,)`."""
  return log_prob_and_entropy(config, params, choices)[1]


def greedy(config: ControllerConfig, params) -> jax.Array:
  """The coloring `(E,)` picking the most likely choice at every step."""
  return _decode(config, params, jnp.zeros((config.num_positions, 1, config.num_choices)))[0][:, 0]


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


ADVANTAGES = ("baseline", "batch", "rank")
# The controller's optimisers by name (`ReinforceConfig.optimizer`).
OPTIMIZERS = {"adam": optax.adam, "sgd": optax.sgd}


def make_optimizer(name: str, learning_rate: float) -> optax.GradientTransformation:
  """The optax optimiser `name` (a key of `OPTIMIZERS`) at `learning_rate`; `ValueError` otherwise."""
  if name not in OPTIMIZERS:
    raise ValueError(f"unknown controller optimizer {name!r}; choose one of {tuple(OPTIMIZERS)}")
  return OPTIMIZERS[name](learning_rate)


def check_advantage(kind: str) -> str:
  """Returns `kind` if it is one of `ADVANTAGES`; raises `ValueError` naming the choices otherwise."""
  if kind not in ADVANTAGES:
    raise ValueError(f"unknown advantage {kind!r}; choose one of {ADVANTAGES}")
  return kind


def advantages(rewards: jax.Array, baseline: jax.Array, kind: str = "baseline") -> jax.Array:
  """REINFORCE advantages `(n,)` of `rewards (n,)` (non-finite rewards get 0).

  `baseline`: `(R_i - b) / std(R)` with `b` the moving-average baseline; `batch`:
  `(R_i - mean(R)) / std(R)`, the batch's own mean as baseline; `rank`: centered ranks of the
  batch in `[-0.5, 0.5]` (ties share their mean rank).  The last two compare only partitions
  evaluated with the same shared values, and `rank` is invariant to the reward scale.
  """
  check_advantage(kind)
  valid = jnp.isfinite(rewards)
  n_valid = jnp.maximum(jnp.sum(valid), 1)
  r = jnp.where(valid, rewards, 0.0)
  mean = jnp.sum(r) / n_valid
  std = jnp.sqrt(jnp.sum(jnp.where(valid, (r - mean) ** 2, 0.0)) / n_valid)
  if kind == "baseline":
    adv = (r - baseline) / (std + 1e-8)
  elif kind == "batch":
    adv = (r - mean) / (std + 1e-8)
  else:  # rank
    x = jnp.where(valid, r, -jnp.inf)
    below = jnp.sum(valid[None, :] & (x[None, :] < x[:, None]), axis=1)  # valid entries strictly below
    ties = jnp.sum(valid[None, :] & (x[None, :] == x[:, None]), axis=1)
    rank = below + 0.5 * (ties - 1)  # mean rank among equals, in [0, n_valid - 1]
    adv = rank / jnp.maximum(n_valid - 1, 1) - 0.5
  return jnp.where(valid, adv, 0.0)


def reinforce_update(
  config: ControllerConfig,
  state: ReinforceState,
  choices: jax.Array,
  rewards: jax.Array,
  optimizer: optax.GradientTransformation,
  *,
  entropy_coef: float = ReinforceConfig.entropy_coef,
  baseline_decay: float = ReinforceConfig.baseline_decay,
  advantage: str = ReinforceConfig.advantage,
  diagnostics: bool = False,
  elites: jax.Array | None = None,
  elite_rewards: jax.Array | None = None,
  elite_weight: float = ReinforceConfig.elite_weight,
  entropy_floor: float = ReinforceConfig.entropy_floor,
  entropy_floor_weight: float = ReinforceConfig.entropy_floor_weight,
):
  """One REINFORCE step on the colorings `choices (n, E)` that earned `rewards (n,)`.

  Loss `-mean(A_i log p(c_i)) - entropy_coef * mean(H_i)` (with `entropy_floor` f > 0 also
  `- entropy_floor_weight * mean_i sum_e min(H_ie, f)`, `H_ie` the entropy at position e along
  path i) with advantages `A_i` from
  `advantages(rewards, b, advantage)` (non-finite rewards get weight 0) and the moving-average
  baseline updated as `b <- decay b + (1 - decay) mean(R)` (initialised to the first batch's
  mean; reported whatever `advantage` is).  Returns `(new_state, metrics)`; `diagnostics` adds
  `gradient_snr`'s figure of the policy-gradient term.  With `elites (k, E)` and their
  `elite_rewards (k,)`, the loss also has `- elite_weight * mean_j log p(elite_j)` over the
  elites with a finite reward.
  """
  valid = jnp.isfinite(rewards)
  n_valid = jnp.maximum(jnp.sum(valid), 1)
  mean = jnp.sum(jnp.where(valid, rewards, 0.0)) / n_valid
  baseline = jnp.where(state.step == 0, mean, state.baseline)
  adv = advantages(rewards, baseline, advantage)

  def loss_fn(params):
    logp_pos, ent_pos = _teacher_forced(config, params, choices)  # (E, n) each
    logp, ent = logp_pos.sum(axis=0), ent_pos.sum(axis=0)
    loss = -jnp.sum(adv * logp) / n_valid - entropy_coef * jnp.mean(ent)
    if entropy_floor > 0:
      loss = loss - entropy_floor_weight * jnp.mean(jnp.sum(jnp.minimum(ent_pos, entropy_floor), axis=0))
    if elites is not None and elites.shape[0]:
      assert elite_rewards is not None, "elites come with their elite_rewards"
      known = jnp.isfinite(elite_rewards)
      elite_logp = log_prob(config, params, elites)
      loss = loss - elite_weight * jnp.sum(jnp.where(known, elite_logp, 0.0)) / jnp.maximum(jnp.sum(known), 1)
    return loss, jnp.mean(ent)

  (loss, ent), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
  diag = {}
  if diagnostics:
    diag = gradient_snr(config, state.params, choices, adv / n_valid * adv.shape[0])
  updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
  any_valid = jnp.any(valid)
  params = jax.tree.map(
    lambda new, old: jnp.where(any_valid, new, old), optax.apply_updates(state.params, updates), state.params
  )
  opt_state = jax.tree.map(lambda new, old: jnp.where(any_valid, new, old), opt_state, state.opt_state)
  new_baseline = jnp.where(any_valid, baseline_decay * baseline + (1 - baseline_decay) * mean, state.baseline)
  new_state = ReinforceState(params, opt_state, new_baseline, state.step + any_valid.astype(jnp.int32))
  return new_state, {
    "controller_loss": loss,
    "controller_entropy": ent / config.num_positions,
    "controller_baseline": new_baseline,
    **diag,
  }


def gradient_snr(config: ControllerConfig, params, choices: jax.Array, adv: jax.Array) -> dict:
  """Signal-to-noise of the REINFORCE gradient `g = mean_n g_n`, `g_n = A_n grad log p(c_n)`.

  `choices (n, E)`, `adv (n,)`.  Per-sample gradients `g_n` (flattened over all parameters)
  give `snr = |mean g|^2 / (sum_p Var_n(g_n,p) / n)`: the squared norm of the batch gradient
  against the variance of its estimate.  Below 1, the step points mostly along noise.  Also
  `snr_pos_logits`, the same over the per-position logits alone.
  """

  def one(choice, a):
    g = jax.grad(lambda p: a * log_prob(config, p, choice[None])[0])(params)
    return g

  grads = jax.vmap(one)(choices, adv)
  n = choices.shape[0]

  def snr(tree):
    flat = jnp.concatenate([x.reshape(n, -1) for x in jax.tree.leaves(tree)], axis=1)
    mean = jnp.mean(flat, axis=0)
    var = jnp.sum(jnp.var(flat, axis=0)) / n
    return jnp.sum(mean**2) / jnp.maximum(var, 1e-30)

  return {"controller_grad_snr": snr(grads), "controller_grad_snr_pos_logits": snr(grads["pos_logits"])}
