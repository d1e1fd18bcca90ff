"""Brax evaluator: jit(vmap(scan)) rollouts, done masking, determinism, sharding over devices."""

import json
import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from chromnas.core import policy_spec
from chromnas.engines import make_evaluator
from chromnas.es import normalizer
from chromnas.model import partitions

EPISODE = 30


@pytest.fixture(scope="module")
def hopper():
  spec = policy_spec.make_spec(11, 3, "L", "chromatic", 5)
  ev = make_evaluator("brax", "hopper", spec, backend="positional", episode_length=EPISODE, noise_size=10_000)
  return spec, ev, jax.jit(ev.evaluate_params)


def test_shapes_and_determinism(hopper):
  spec, _, fn = hopper
  params = jax.random.normal(jax.random.PRNGKey(0), (4, spec.num_params))
  structures = partitions.random_structure(spec, jax.random.PRNGKey(1), (4,))
  stats = normalizer.init_stats(11)
  a = fn(params, structures, stats, jax.random.PRNGKey(2))
  b = fn(params, structures, stats, jax.random.PRNGKey(2))
  assert a.returns.shape == (4,) and a.lengths.dtype == jnp.int32
  np.testing.assert_array_equal(a.returns, b.returns)
  assert np.all(np.asarray(a.lengths) <= EPISODE) and np.all(np.asarray(a.lengths) >= 1)
  # Observation statistics count exactly the steps each episode was alive.
  assert float(a.obs_stats.count) == float(np.sum(a.lengths))


def test_early_termination_is_masked(hopper):
  """Large weights make the hopper fall: its episode stops counting before the horizon."""
  spec, _, fn = hopper
  params = jnp.full((2, spec.num_params), 3.0)
  structures = jnp.zeros((2, spec.structure_size), jnp.int32)
  res = fn(params, structures, normalizer.init_stats(11), jax.random.PRNGKey(0))
  lengths = np.asarray(res.lengths)
  assert np.all(np.isfinite(res.returns))
  # The return is bounded by what an alive hopper can collect in `length` steps.
  assert np.all(np.asarray(res.returns) <= lengths * 5.0)


def test_perturbations_are_antithetic(hopper):
  spec, ev, _ = hopper
  center = jnp.zeros(spec.num_params)
  offsets = jnp.array([0, 100], jnp.int32)
  structures = jnp.zeros((4, spec.structure_size), jnp.int32)
  res = jax.jit(ev.evaluate_perturbations, static_argnums=())(
    center, offsets, 0.0, structures, normalizer.init_stats(11), jax.random.PRNGKey(0)
  )
  r = np.asarray(res.returns)
  # sigma = 0: both sides are the centre and share the episode key, so pair i's returns agree.
  np.testing.assert_allclose(r[:2], r[2:], rtol=1e-6)


def test_population_sharded_across_two_devices(tmp_path):
  """With two (forced) CPU devices the population is split across both, and the answer is the
  same as a single-device vmap."""
  script = textwrap.dedent("""
      import json, jax, jax.numpy as jnp, numpy as np
      from chromnas.es import normalizer
      from chromnas.model import partitions
      from chromnas.core import policy_spec
      from chromnas.engines import make_evaluator
      assert len(jax.devices()) == 2, jax.devices()
      spec = policy_spec.make_spec(11, 3, "L", "chromatic", 5)
      ev = make_evaluator("brax", "hopper", spec, episode_length=10, noise_size=10_000)
      params = jax.random.normal(jax.random.PRNGKey(0), (4, spec.num_params)) * 0.1
      structures = partitions.random_structure(spec, jax.random.PRNGKey(1), (4,))
      stats = normalizer.init_stats(11)
      res = jax.jit(ev.evaluate_params)(params, structures, stats, jax.random.PRNGKey(2))
      keys = jax.random.split(jax.random.PRNGKey(2), 4)
      ref = jax.jit(jax.vmap(ev.rollout, in_axes=(0, 0, None, 0)))(params, structures, stats, keys)[0]
      print(json.dumps({"devices": len(res.returns.sharding.device_set),
                        "max_diff": float(jnp.max(jnp.abs(res.returns - ref)))}))
  """)
  env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2", JAX_PLATFORMS="cpu")
  out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=600)
  assert out.returncode == 0, out.stderr[-3000:]
  result = json.loads(out.stdout.strip().splitlines()[-1])
  assert result["devices"] == 2
  assert result["max_diff"] < 1e-4


def test_wrong_dims_and_backend_rejected():
  spec = policy_spec.make_spec(17, 6, "L", "chromatic", 5)
  with pytest.raises(ValueError, match="does not run on the brax backend"):
    make_evaluator("brax", "swimmer", policy_spec.make_spec(8, 2, "L", "chromatic", 5), backend="positional")
  with pytest.raises(ValueError, match="unknown task"):
    make_evaluator("brax", "cartpole", spec)
