"""The policy in JAX: structured matrices, the tanh stack, random partitions, flax layers and
the JAX mailman kernel.  Built on `chromnas.core` (family records, the policy spec)."""
