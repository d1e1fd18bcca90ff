"""Policies: flat vector <-> pytree, one coloring for the whole network, tanh stacks, validation."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from chromnas.core import families, forward, policy_spec
from chromnas.model import partitions, policies


@pytest.mark.parametrize("family", families.NAMES)
@pytest.mark.parametrize("arch", ["L", "H41", "H41,H41"])
def test_flatten_roundtrip_and_apply(family, arch):
  spec = policy_spec.make_spec(17, 6, arch, family, num_colors=17 if family == "chromatic" else 0)
  params = jax.random.normal(jax.random.key(0), (spec.num_params,))
  tree = policies.unflatten(spec, params)
  np.testing.assert_array_equal(policies.flatten(spec, tree), params)
  structure = partitions.random_structure(spec, jax.random.key(1))
  chex.assert_shape(structure, (spec.structure_size,))
  obs = jax.random.normal(jax.random.key(2), (5, 17))
  act = policies.apply(spec, params, structure, obs)
  chex.assert_shape(act, (5, 6))
  assert np.all(np.abs(act) <= 1.0)
  # The NumPy forward pass (`core.forward`: host workers, runtime, deploy) on the NumPy matrices.
  mats, biases = families.weight_matrices(
    family, spec.layer_sizes, spec.num_colors, np.asarray(params), np.asarray(structure)
  )
  np.testing.assert_allclose(act, forward.forward(mats, biases, np.asarray(obs)), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("arch", ["L", "H41", "H41,H41"])
def test_prepared_policy_matches_jax_policy_with_normalisation(arch):
  """The workers' policy (normalisation folded into layer 1, float64) equals
  `policies.apply(normalize(obs))`, clipped observations included."""
  spec = policy_spec.make_spec(5, 3, arch, "chromatic", num_colors=4)
  p = jax.random.normal(jax.random.PRNGKey(0), (spec.num_params,))
  s = partitions.random_structure(spec, jax.random.PRNGKey(1))
  rng = np.random.default_rng(0)
  mean, std, clip = rng.normal(size=5), rng.uniform(0.2, 2.0, 5), 2.0
  mats, biases = families.weight_matrices("chromatic", spec.layer_sizes, 4, np.asarray(p), np.asarray(s))
  policy = forward.PreparedPolicy(mats, biases, mean, std, clip)
  for obs in rng.normal(0, 4, (6, 5)):  # scale 4: some entries clip
    normed = np.clip((obs - mean) / std, -clip, clip).astype(np.float32)
    np.testing.assert_allclose(policy(obs), policies.apply(spec, p, s, normed), atol=1e-5)


def test_one_coloring_covers_the_whole_network():
  spec = policy_spec.make_spec(17, 6, "H41,H41", "chromatic", 17)
  assert spec.num_params == 17 + 41 + 41
  assert spec.structure_size == 17 * 41 + 41 * 41 + 41 * 6
  params = jnp.arange(spec.num_params, dtype=jnp.float32)
  structure = partitions.random_structure(spec, jax.random.key(0))
  mats = policies.weight_matrices(spec, params, structure)
  values = set()
  for w in mats:
    values |= set(np.unique(np.asarray(w)).tolist())
  assert values <= set(range(17))  # every layer draws from the same 17 shared values


def test_param_counts_match_families():
  assert policy_spec.make_spec(17, 6, "H41", "unstructured").num_params == 943 + 41
  assert policy_spec.make_spec(17, 6, "H41", "toeplitz").num_params == 103 + 41
  assert policy_spec.make_spec(17, 6, "H41", "circulant").num_params == 82 + 41
  assert policy_spec.make_spec(17, 6, "L", "chromatic", 17).num_params == 17


def test_bad_specs_are_rejected_with_clear_errors():
  with pytest.raises(ValueError, match="larger than the number of weights"):
    policy_spec.make_spec(8, 2, "L", "chromatic", 17)
  with pytest.raises(ValueError, match="unknown"):
    policy_spec.make_spec(8, 2, "L", "hexagonal")
  with pytest.raises(ValueError, match="num_colors"):
    policy_spec.make_spec(8, 2, "L", "chromatic", 0)
  with pytest.raises(ValueError, match="architecture"):
    policy_spec.parse_architecture("MLP")
  spec = policy_spec.make_spec(8, 2, "L", "chromatic", 4)
  with pytest.raises(ValueError, match="needs 4"):
    policies.unflatten(spec, jnp.zeros(5))


def test_architecture_names_roundtrip():
  for name in ("L", "H41", "H41,H41", "H64,H32"):
    assert policy_spec.architecture_name(policy_spec.parse_architecture(name)) == name


def test_apply_jits_and_vmaps_over_population():
  spec = policy_spec.make_spec(11, 3, "H41", "chromatic", 11)
  pop = 4
  params = jax.random.normal(jax.random.key(0), (pop, spec.num_params))
  structures = partitions.random_structure(spec, jax.random.key(1), (pop,))
  obs = jax.random.normal(jax.random.key(2), (pop, 11))
  fn = jax.jit(jax.vmap(lambda p, s, o: policies.apply(spec, p, s, o)))
  out = fn(params, structures, obs)
  chex.assert_shape(out, (pop, 3))
  np.testing.assert_allclose(out[2], policies.apply(spec, params[2], structures[2], obs[2]), rtol=1e-5, atol=1e-6)


def test_init_params_linear_is_zero():
  spec = policy_spec.make_spec(17, 6, "L", "unstructured")
  np.testing.assert_array_equal(policies.init_params(spec, jax.random.key(0)), 0.0)
  spec_h = policy_spec.make_spec(17, 6, "H41", "chromatic", 17)
  p = policies.init_params(spec_h, jax.random.key(0))
  assert np.std(p[:17]) > 0 and np.all(p[17:] == 0)


def test_init_scale_scales_the_initial_values():
  """The same draw at another scale: `scale * N(0, 1)`, biases still zero."""
  spec = policy_spec.make_spec(17, 6, "H41", "chromatic", 17)
  default = policies.init_params(spec, jax.random.key(0))
  small = policies.init_params(spec, jax.random.key(0), 0.02)
  np.testing.assert_allclose(small[:17], default[:17] * 0.02 * np.sqrt(17), rtol=1e-5)
  assert np.all(small[17:] == 0)
