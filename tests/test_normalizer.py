"""Running observation statistics: exact, mergeable in any order, masked rows ignored."""

import jax
import jax.numpy as jnp
import numpy as np

from chromnas.es import normalizer


def test_merge_equals_whole_batch():
  x = jax.random.normal(jax.random.key(0), (300, 4)) * 3.0 + 2.0
  whole = normalizer.stats_from_batch(x)
  parts = [normalizer.stats_from_batch(x[i : i + 100]) for i in (0, 100, 200)]
  merged = normalizer.merge(normalizer.merge(parts[2], parts[0]), parts[1])
  np.testing.assert_allclose(merged.mean, whole.mean, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(merged.m2, whole.m2, rtol=1e-4)
  stacked = jax.tree.map(lambda *a: jnp.stack(a), *parts)
  batch = normalizer.merge_batch(stacked)
  np.testing.assert_allclose(batch.mean, whole.mean, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(normalizer.std(batch), np.std(np.asarray(x), axis=0), rtol=1e-4)


def test_empty_stats_are_identity_and_merge_neutral():
  empty = normalizer.init_stats(3)
  x = jnp.array([[1.0, -2.0, 30.0]])
  np.testing.assert_allclose(normalizer.normalize(empty, x, clip=100.0), x)
  s = normalizer.stats_from_batch(jnp.array([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]]))
  m = normalizer.merge(empty, s)
  np.testing.assert_allclose(m.mean, s.mean)
  np.testing.assert_allclose(m.m2, s.m2)


def test_masked_rows_and_sums():
  x = jnp.array([[1.0], [3.0], [100.0]])
  s = normalizer.stats_from_batch(x, weights=jnp.array([1.0, 1.0, 0.0]))
  assert float(s.count) == 2.0 and float(s.mean[0]) == 2.0
  t = normalizer.stats_from_sums(jnp.float32(2.0), jnp.array([4.0]), jnp.array([10.0]))
  np.testing.assert_allclose(t.mean, s.mean)
  np.testing.assert_allclose(t.m2, s.m2)


def test_normalize_clips():
  s = normalizer.stats_from_batch(jnp.array([[0.0], [2.0]]))
  np.testing.assert_allclose(normalizer.normalize(s, jnp.array([[1000.0]]), clip=5.0), [[5.0]])
