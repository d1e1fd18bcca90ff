"""Shared pytest set-up: float32 JAX on the CPU, fast hypothesis profile."""

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")
# Persistent XLA cache shared by the tests and the binaries they start: a function compiled
# once (e.g. a Brax rollout) is not compiled again by later tests or subprocesses.
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", os.path.join(os.path.dirname(__file__), "..", ".jax_cache"))
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.5")

from hypothesis import settings  # noqa: E402

settings.register_profile("chromnas", max_examples=25, deadline=None, derandomize=True)
settings.load_profile("chromnas")
