"""The flax layers compute `x @ W.T + b` with the family's `W`, train their values, never their structure."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from chromnas.core import families
from chromnas.model import layers

IN, OUT, K, BATCH = 5, 4, 3, 6
MODULES = {
  "chromatic": lambda **kw: layers.ChromaticDense(OUT, K, **kw),
  "toeplitz": lambda **kw: layers.ToeplitzDense(OUT, **kw),
  "circulant": lambda **kw: layers.CirculantDense(OUT, **kw),
  "masked": lambda **kw: layers.MaskedDense(OUT, **kw),
  "unstructured": lambda **kw: layers.StructuredDense(OUT, family="unstructured", **kw),
}


def _x(seed=0, batch=BATCH):
  return jax.random.normal(jax.random.key(seed), (batch, IN), jnp.float32)


def _reference(family, variables):
  """`(W, b)` in NumPy from the family record, independently of the layer's own code."""
  record = families.FAMILIES[family]
  params = variables["params"]
  structure = variables.get("structure", {})
  flat = np.asarray(next(iter(structure.values()))).reshape(-1) if structure else None
  return record.matrix(np.asarray(params["values"]), flat, (OUT, IN)), np.asarray(params["bias"])


@pytest.mark.parametrize("family", sorted(MODULES))
def test_output_is_x_times_w_transposed_plus_b(family):
  model = MODULES[family](bias_init=jax.nn.initializers.normal(1.0))
  variables = model.init(jax.random.key(1), _x())
  record = families.FAMILIES[family]
  n = K if record.shared_values else record.layer_values((OUT, IN))
  chex.assert_shape(variables["params"]["values"], (n,))
  assert ("structure" in variables) == record.searched
  for s in variables.get("structure", {}).values():
    chex.assert_shape(s, (OUT, IN))
    chex.assert_type(s, jnp.int32)
    assert 0 <= int(s.min()) and int(s.max()) < record.num_choices(K)
  x = _x()
  y = model.apply(variables, x)
  chex.assert_shape(y, (BATCH, OUT))
  chex.assert_type(y, jnp.float32)
  w, b = _reference(family, variables)
  np.testing.assert_allclose(np.asarray(y), np.asarray(x) @ w.T + b, rtol=1e-5, atol=1e-5)
  # Leading dims broadcast: one input vector, and a (2, 3, in) stack.
  np.testing.assert_allclose(model.apply(variables, x[0]), y[0], rtol=1e-6, atol=1e-6)
  chex.assert_shape(model.apply(variables, x.reshape(2, 3, IN)), (2, 3, OUT))


def test_no_bias_and_num_colors_checks():
  x = _x()
  v = layers.ChromaticDense(OUT, K, use_bias=False).init(jax.random.key(0), x)
  assert set(v["params"]) == {"values"}
  with pytest.raises(ValueError, match="needs num_colors"):
    layers.StructuredDense(OUT, family="chromatic").init(jax.random.key(0), x)
  with pytest.raises(ValueError, match="takes no num_colors"):
    layers.ToeplitzDense(OUT, K).init(jax.random.key(0), x)


def test_initialisers_default_and_override():
  # The default draws the values from N(0, 1/in): the same numbers as that initialiser given explicitly.
  default = layers.ChromaticDense(OUT, K).init(jax.random.key(0), _x())
  explicit = layers.ChromaticDense(OUT, K, values_init=jax.nn.initializers.normal(IN**-0.5)).init(
    jax.random.key(0), _x()
  )
  chex.assert_trees_all_equal(default, explicit)
  np.testing.assert_array_equal(default["params"]["bias"], 0)
  colors = np.arange(OUT * IN).reshape(OUT, IN) % K
  v = layers.ChromaticDense(
    OUT, K, values_init=jax.nn.initializers.ones, structure_init=layers.fixed_structure(colors)
  ).init(jax.random.key(0), _x())
  np.testing.assert_array_equal(v["structure"]["colors"], colors)
  np.testing.assert_array_equal(v["params"]["values"], 1)
  v = layers.MaskedDense(OUT, structure_init=layers.fixed_structure(1)).init(jax.random.key(0), _x())
  np.testing.assert_array_equal(v["structure"]["mask"], np.ones((OUT, IN)))
  with pytest.raises(ValueError, match="must lie in"):
    layers.ChromaticDense(OUT, 2, structure_init=layers.fixed_structure(colors)).init(jax.random.key(0), _x())


def test_structure_rng_stream_is_independent_of_params():
  model, x = layers.ChromaticDense(OUT, K), _x()
  a = model.init({"params": jax.random.key(0), "structure": jax.random.key(1)}, x)
  b = model.init({"params": jax.random.key(0), "structure": jax.random.key(2)}, x)
  np.testing.assert_array_equal(a["params"]["values"], b["params"]["values"])
  assert not np.array_equal(a["structure"]["colors"], b["structure"]["colors"])
  # A fresh coloring for existing parameters: apply without one and let it be created.
  _, fresh = model.apply({"params": a["params"]}, x, rngs={"structure": jax.random.key(1)}, mutable=["structure"])
  np.testing.assert_array_equal(fresh["structure"]["colors"], a["structure"]["colors"])


@pytest.mark.parametrize("family", ["chromatic", "masked", "toeplitz"])
def test_jit_and_vmap_over_inputs_and_population(family):
  model, x = MODULES[family](), _x()
  variables = model.init(jax.random.key(0), x)
  y = model.apply(variables, x)
  np.testing.assert_allclose(jax.jit(model.apply)(variables, x), y, rtol=1e-6, atol=1e-6)
  # vmap over single inputs.
  np.testing.assert_allclose(jax.vmap(model.apply, in_axes=(None, 0))(variables, x), y, rtol=1e-6, atol=1e-6)
  # vmap over a population of parameter sets (and structures), one init per key.
  pop = jax.jit(jax.vmap(model.init, in_axes=(0, None)))(jax.random.split(jax.random.key(3), 4), x)
  ys = jax.jit(jax.vmap(model.apply, in_axes=(0, None)))(pop, x)
  chex.assert_shape(ys, (4, BATCH, OUT))
  for p in range(4):
    member = jax.tree.map(lambda a: a[p], pop)
    np.testing.assert_allclose(ys[p], model.apply(member, x), rtol=1e-5, atol=1e-5)


def test_chromatic_value_gradient_sums_dense_gradient_over_each_color():
  model, x = layers.ChromaticDense(OUT, K), _x()
  variables = model.init(jax.random.key(0), x)
  colors = variables["structure"]["colors"]
  target = jnp.sin(jnp.arange(BATCH * OUT, dtype=jnp.float32)).reshape(BATCH, OUT)

  def loss(params):
    return jnp.mean((model.apply({"params": params, "structure": variables["structure"]}, x) - target) ** 2)

  def dense_loss(w):
    return jnp.mean((x @ w.T + variables["params"]["bias"] - target) ** 2)

  grads = jax.grad(loss)(variables["params"])
  # The structure gets no gradient: only `values` and `bias` are differentiated.
  assert set(grads) == {"values", "bias"}
  w = variables["params"]["values"][colors]
  dw = jax.grad(dense_loss)(w)
  expected = jnp.zeros(K).at[colors.reshape(-1)].add(dw.reshape(-1))
  np.testing.assert_allclose(grads["values"], expected, rtol=1e-5, atol=1e-6)
  assert float(jnp.abs(expected).sum()) > 0


def test_coloring_is_not_trained_and_can_be_swapped():
  model, x = layers.ChromaticDense(OUT, K), _x()
  variables = model.init(jax.random.key(0), x)
  structure = variables["structure"]
  opt = optax.sgd(0.1)
  params = variables["params"]
  state = opt.init(params)

  def loss(p):
    return jnp.sum(model.apply({"params": p, "structure": structure}, x) ** 2)

  updates, state = opt.update(jax.grad(loss)(params), state)
  params = optax.apply_updates(params, updates)
  assert not np.array_equal(params["values"], variables["params"]["values"])
  np.testing.assert_array_equal(structure["colors"], variables["structure"]["colors"])
  # Swapping the coloring changes the output to that of the new W.
  new_colors = (structure["colors"] + 1) % K
  swapped = {"params": params, "structure": {"colors": new_colors}}
  w = np.asarray(params["values"])[np.asarray(new_colors)]
  y = model.apply(swapped, x)
  np.testing.assert_allclose(y, np.asarray(x) @ w.T + np.asarray(params["bias"]), rtol=1e-5, atol=1e-5)
  assert not np.allclose(y, model.apply({"params": params, "structure": structure}, x))


def test_two_layer_chromatic_mlp_fits_a_regression_target():
  import flax.linen as nn

  class MLP(nn.Module):
    @nn.compact
    def __call__(self, x):
      return layers.ChromaticDense(1, 8)(jnp.tanh(layers.ChromaticDense(32, 8)(x)))

  xs = jax.random.normal(jax.random.key(0), (128, 4))
  ys = jnp.sin(xs[:, :1]) + 0.5 * xs[:, 1:2] * xs[:, 2:3]
  model = MLP()
  variables = model.init(jax.random.key(1), xs)
  assert set(variables["structure"]) == {"ChromaticDense_0", "ChromaticDense_1"}
  opt = optax.adam(0.03)

  def loss(params):
    return jnp.mean((model.apply({"params": params, "structure": variables["structure"]}, xs) - ys) ** 2)

  @jax.jit
  def train(params):
    def step(carry, _):
      params, state = carry
      value, grads = jax.value_and_grad(loss)(params)
      updates, state = opt.update(grads, state)
      return (optax.apply_updates(params, updates), state), value

    (params, _), values = jax.lax.scan(step, (params, opt.init(params)), None, length=100)
    return params, values

  params, history = train(variables["params"])
  final = float(loss(params))
  assert final < 0.3 * float(history[0]), (float(history[0]), final)
