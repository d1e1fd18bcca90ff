"""Partition search: the ENAS controller, the partition sources (fixed, random, enas,
evolution) as optax-style pure functions over `flax.struct` state, and a synthetic task for
testing them.  Imports `chromnas.core` and `chromnas.model` only."""
