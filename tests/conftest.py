"""Shared pytest set-up: float32 JAX on the CPU, fast hypothesis profile."""
import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")

from hypothesis import settings  # noqa: E402

settings.register_profile("chromnas", max_examples=25, deadline=None, derandomize=True)
settings.load_profile("chromnas")
