"""Shared pytest set-up: float32 JAX on the CPU, fast hypothesis profile."""

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")
# Persistent XLA cache shared by the tests and the binaries they start: a function compiled
# once (e.g. a Brax rollout) is not compiled again by later tests or subprocesses.  Every program
# is kept, however quickly it compiles: a training subprocess compiles dozens of small ones
# (optimiser, controller, normaliser steps) whose compile times add up to most of its run, and
# reading one back costs far less than compiling it.
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", os.path.join(os.path.dirname(__file__), "..", ".jax_cache"))
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")

from hypothesis import settings  # noqa: E402

settings.register_profile("chromnas", max_examples=25, deadline=None, derandomize=True)
settings.load_profile("chromnas")
