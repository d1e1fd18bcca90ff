"""ENAS controller: shapes, determinism, log-probs that match sampling frequencies, REINFORCE."""

import itertools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from chromnas.search import controller as ctrl

# ENAS's tanh clipping and a uniform start (zero per-position logits), not the training defaults.
CFG = ctrl.ControllerConfig(
  num_positions=2, num_choices=3, hidden_size=8, tanh_constant=2.5, init_logit_scale=0.0, init_logit_peak=0.0
)


@pytest.fixture(scope="module")
def params():
  p = ctrl.init(CFG, jax.random.PRNGKey(0))
  # Non-zero head so the distribution is far from uniform and depends on the previous choice.
  p["head_w"] = jax.random.normal(jax.random.PRNGKey(1), p["head_w"].shape)
  return p


def test_sample_shapes_range_determinism(params):
  sample = jax.jit(lambda k: ctrl.sample(CFG, params, k, 5))
  a, logp = sample(jax.random.PRNGKey(2))
  b, _ = sample(jax.random.PRNGKey(2))
  chex.assert_shape(a, (5, 2))
  chex.assert_type(a, jnp.int32)
  chex.assert_shape(logp, (5,))
  np.testing.assert_array_equal(a, b)
  assert int(a.min()) >= 0 and int(a.max()) < 3
  np.testing.assert_allclose(logp, ctrl.log_prob(CFG, params, a), rtol=1e-5, atol=1e-6)


def test_log_prob_matches_sampling_frequencies(params):
  n = 20000
  samples, _ = jax.jit(lambda k: ctrl.sample(CFG, params, k, n))(jax.random.PRNGKey(3))
  samples = np.asarray(samples)
  all_colorings = jnp.array(list(itertools.product(range(3), repeat=2)), jnp.int32)
  probs = np.exp(np.asarray(ctrl.log_prob(CFG, params, all_colorings)))
  np.testing.assert_allclose(probs.sum(), 1.0, rtol=1e-5)
  for coloring, p in zip(np.asarray(all_colorings), probs):
    freq = np.mean(np.all(samples == coloring, axis=1))
    assert abs(freq - p) < 5 * np.sqrt(p * (1 - p) / n) + 1e-3


def test_entropy_nonnegative_and_maximal_at_uniform_start():
  cfg = ctrl.ControllerConfig(
    num_positions=6, num_choices=4, hidden_size=32, tanh_constant=2.5, init_logit_scale=0.0, init_logit_peak=0.0
  )
  p = ctrl.init(cfg, jax.random.PRNGKey(0))  # zero head: uniform
  choices, _ = ctrl.sample(cfg, p, jax.random.PRNGKey(1), 3)
  ent = ctrl.entropy(cfg, p, choices)
  np.testing.assert_allclose(ent, 6 * np.log(4), rtol=1e-5)
  g = ctrl.greedy(cfg, p)
  chex.assert_shape(g, (6,))


@pytest.mark.parametrize("advantage", ["baseline", "batch", "rank"])
def test_reinforce_moves_probability_to_rewarded_choice(advantage):
  cfg = ctrl.ControllerConfig(
    num_positions=3, num_choices=2, hidden_size=8, tanh_constant=2.5, init_logit_scale=0.0, init_logit_peak=0.0
  )
  opt = optax.adam(0.1)
  state = ctrl.reinforce_init(cfg, jax.random.PRNGKey(0), opt)

  @jax.jit
  def step(state, key):
    choices, _ = ctrl.sample(cfg, state.params, key, 16)
    rewards = jnp.sum(choices == 1, axis=1).astype(jnp.float32)  # all-ones is best
    return ctrl.reinforce_update(cfg, state, choices, rewards, opt, advantage=advantage)[0], rewards.mean()

  state, curve = jax.lax.scan(step, state, jax.random.split(jax.random.PRNGKey(1), 60))
  assert float(curve[-10:].mean()) > 2.5 > float(curve[:5].mean())
  np.testing.assert_array_equal(ctrl.greedy(cfg, state.params), [1, 1, 1])


def test_entropy_floor_lifts_a_collapsed_controller_and_leaves_an_open_one():
  """With equal rewards (no policy-gradient signal), `entropy_floor` raises the entropy of a
  controller peaked on one coloring (every position below the floor) to about the floor, and does
  not move a uniform one (every position above it) at all; 0 turns it off."""
  opt = optax.adam(0.1)
  rewards = jnp.ones((16,))

  def run(peak, floor, steps=60):
    cfg = ctrl.ControllerConfig(num_positions=5, num_choices=4, hidden_size=8, init_logit_peak=peak)
    state = ctrl.reinforce_init(cfg, jax.random.PRNGKey(0), opt)

    def step(state, key):
      choices, _ = ctrl.sample(cfg, state.params, key, 16)
      return ctrl.reinforce_update(cfg, state, choices, rewards, opt, entropy_floor=floor)[0], None

    start = state
    state, _ = jax.lax.scan(step, state, jax.random.split(jax.random.PRNGKey(1), steps))
    mean_entropy = lambda st: float(ctrl.position_entropies(cfg, st.params, ctrl.greedy(cfg, st.params)[None]).mean())
    return start, state, mean_entropy(start), mean_entropy(state)

  _, _, before, after = run(peak=8.0, floor=0.5)
  # Adam's momentum carries it somewhat past the floor; above it the bonus has no gradient, so it
  # stops well short of uniform (log 4 = 1.39).
  assert before < 0.05 and 0.45 < after < 1.1, (before, after)
  _, _, before, after = run(peak=8.0, floor=0.0)
  assert after < 0.05, after
  start, end, before, after = run(peak=0.0, floor=0.5, steps=5)
  assert before == pytest.approx(np.log(4), rel=1e-3)
  chex.assert_trees_all_close(end.params, start.params)


def test_nan_rewards_do_not_corrupt_controller():
  cfg = ctrl.ControllerConfig(
    num_positions=3, num_choices=2, hidden_size=8, tanh_constant=2.5, init_logit_scale=0.0, init_logit_peak=0.0
  )
  opt = optax.adam(0.1)
  state = ctrl.reinforce_init(cfg, jax.random.PRNGKey(0), opt)
  choices, _ = ctrl.sample(cfg, state.params, jax.random.PRNGKey(1), 4)
  new, metrics = ctrl.reinforce_update(cfg, state, choices, jnp.array([jnp.nan, 1.0, jnp.inf, 0.0]), opt)
  assert all(np.all(np.isfinite(x)) for x in jax.tree.leaves(new.params))
  assert np.isfinite(float(metrics["controller_loss"]))
  same, _ = ctrl.reinforce_update(cfg, state, choices, jnp.full((4,), jnp.nan), opt)
  chex.assert_trees_all_equal(same.params, state.params)


def test_advantages_kinds():
  r = jnp.array([3.0, 1.0, jnp.nan, 2.0, 2.0])
  batch = np.asarray(ctrl.advantages(r, jnp.float32(0.0), "batch"))
  finite = np.array([3.0, 1.0, 2.0, 2.0])
  np.testing.assert_allclose(batch[[0, 1, 3, 4]], (finite - finite.mean()) / finite.std(), rtol=1e-5)
  assert batch[2] == 0.0
  rank = np.asarray(ctrl.advantages(r, jnp.float32(0.0), "rank"))
  np.testing.assert_allclose(rank, [0.5, -0.5, 0.0, 0.0, 0.0], atol=1e-6)  # ties share their mean rank
  base = np.asarray(ctrl.advantages(r, jnp.float32(1.0), "baseline"))
  np.testing.assert_allclose(base[[0, 1, 3, 4]], (finite - 1.0) / finite.std(), rtol=1e-5)
  # Scale invariance of the batch-relative kinds.
  for kind in ("batch", "rank"):
    np.testing.assert_allclose(
      ctrl.advantages(1000.0 * r + 7.0, jnp.float32(0.0), kind),
      ctrl.advantages(r, jnp.float32(0.0), kind),
      rtol=1e-4,
      atol=1e-6,
    )
  with pytest.raises(ValueError, match="unknown advantage"):
    ctrl.advantages(r, jnp.float32(0.0), "softmax")
  with pytest.raises(ValueError, match="unknown advantage 'softmax'; choose one of"):
    ctrl.check_advantage("softmax")


def test_init_logit_scale_sets_a_random_starting_coloring():
  cfg = ctrl.ControllerConfig(num_positions=40, num_choices=5, hidden_size=8, tanh_constant=0.0, init_logit_scale=20.0)
  p = ctrl.init(cfg, jax.random.PRNGKey(0))
  start = np.argmax(np.asarray(p["pos_logits"]), axis=1)
  np.testing.assert_array_equal(ctrl.greedy(cfg, p), start)  # zero head: the per-position logits decide
  assert len(np.unique(start)) == 5  # a spread-out coloring, not one color
  samples, _ = ctrl.sample(cfg, p, jax.random.PRNGKey(1), 50)
  assert np.mean(np.asarray(samples) == start) > 0.85  # peaked around it
  uniform = ctrl.init(
    ctrl.ControllerConfig(num_positions=40, num_choices=5, hidden_size=8, init_logit_scale=0.0, init_logit_peak=0.0),
    jax.random.PRNGKey(0),
  )
  np.testing.assert_array_equal(uniform["pos_logits"], 0.0)


def test_training_defaults_have_one_home():
  """The controller's defaults are the settings training uses; the partition sources and the
  config copy them (the golden ENAS runs pin these values)."""
  from chromnas.search import partition_sources
  from chromnas.train import config

  cfg, rl = ctrl.ControllerConfig(num_positions=1, num_choices=1), ctrl.ReinforceConfig()
  assert (cfg.hidden_size, cfg.temperature, cfg.tanh_constant, cfg.init_logit_scale, cfg.init_logit_peak) == (
    16,
    1.0,
    0.0,
    0.0,
    6.0,
  )
  assert (rl.learning_rate, rl.entropy_coef, rl.baseline_decay, rl.advantage, rl.elite_size) == (
    0.1,
    0.0,
    0.95,
    "batch",
    16,
  )
  expected = {
    "hidden_size": 16,
    "temperature": 1.0,
    "tanh_constant": 0.0,
    "init_logit_scale": 0.0,
    "head": "linear",
    "init_logit_peak": 6.0,
    "learning_rate": 0.1,
    "entropy_coef": 0.0,
    "baseline_decay": 0.95,
    "advantage": "batch",
    "diagnostics": False,
    "optimizer": "adam",
    "elite_size": 16,
    "elite_weight": 1.0,
    "elite_decay": 1.0,
    "entropy_floor": 0.0,
    "entropy_floor_weight": 1.0,
  }
  assert partition_sources.CONTROLLER_DEFAULTS == expected
  assert config.default_config().controller.to_dict() == expected


def test_pointer_head_samples_match_teacher_forced_log_probs():
  """The pointer head's sampled colorings score the same log-probability teacher-forced, it starts
  uniform when the per-position logits do, and one REINFORCE step on it moves the likelihood of a
  rewarded coloring up."""
  cfg = ctrl.ControllerConfig(
    num_positions=70, num_choices=6, hidden_size=8, init_logit_scale=0.0, init_logit_peak=0.0, head="pointer"
  )
  params = ctrl.init(cfg, jax.random.PRNGKey(0))
  choices, logp = ctrl.sample(cfg, params, jax.random.PRNGKey(1), 5)
  np.testing.assert_allclose(ctrl.log_prob(cfg, params, choices), logp, rtol=1e-5)
  np.testing.assert_allclose(logp, 70 * np.log(1 / 6), rtol=1e-5)  # v = 0: every coloring equally likely
  opt = optax.adam(0.05)
  state = ctrl.reinforce_init(cfg, jax.random.PRNGKey(0), opt)
  rewards = jnp.arange(5.0)
  new, metrics = ctrl.reinforce_update(cfg, state, choices, rewards, opt, diagnostics=True)
  gain = ctrl.log_prob(cfg, new.params, choices) - ctrl.log_prob(cfg, state.params, choices)
  assert gain[4] > gain[0]
  assert np.isfinite(metrics["controller_grad_snr"]) and metrics["controller_grad_snr"] > 0
  assert float(jnp.abs(new.params["ptr_v"]).sum()) > 0  # the pointer's own weights learn


def test_unknown_head_is_one_clear_error():
  with pytest.raises(ValueError, match="unknown controller head 'lstm'"):
    ctrl.init(ctrl.ControllerConfig(num_positions=3, num_choices=2, head="lstm"), jax.random.PRNGKey(0))


def test_gradient_snr_is_large_for_a_consistent_signal_and_small_for_noise():
  """`gradient_snr`: identical samples with equal advantages give a noiseless gradient (huge SNR);
  advantages of random sign over random colorings give an SNR near the 1-per-sample floor."""
  cfg = ctrl.ControllerConfig(num_positions=20, num_choices=4, hidden_size=4)
  params = ctrl.init(cfg, jax.random.PRNGKey(0))
  same = jnp.tile(ctrl.greedy(cfg, params)[None], (16, 1))
  assert float(ctrl.gradient_snr(cfg, params, same, jnp.ones(16))["controller_grad_snr"]) > 1e6
  noisy = jax.random.randint(jax.random.PRNGKey(2), (16, 20), 0, 4)
  adv = jax.random.normal(jax.random.PRNGKey(3), (16,))
  assert float(ctrl.gradient_snr(cfg, params, noisy, adv)["controller_grad_snr"]) < 5.0


def test_peaked_start_samples_near_one_coloring():
  """`init_logit_peak`: the controller starts on one random coloring and its samples differ from
  it in about `E (C - 1) e^-peak / (1 + (C - 1) e^-peak)` positions."""
  e, c, peak = 400, 5, 5.0
  cfg = ctrl.ControllerConfig(num_positions=e, num_choices=c, hidden_size=4, init_logit_scale=0.0, init_logit_peak=peak)
  params = ctrl.init(cfg, jax.random.PRNGKey(0))
  mode = ctrl.greedy(cfg, params)
  assert len(np.unique(np.asarray(mode))) == c  # a random coloring, not one color
  samples, _ = ctrl.sample(cfg, params, jax.random.PRNGKey(1), 64)
  rate = (c - 1) * np.exp(-peak) / (1 + (c - 1) * np.exp(-peak))
  deviations = np.mean(np.sum(np.asarray(samples) != np.asarray(mode)[None], axis=1))
  np.testing.assert_allclose(deviations, e * rate, rtol=0.25)
