"""Rollout engines behind one interface (`base.Evaluator`): Brax on device, a host worker pool.

Importing this package is cheap and JAX-free (host worker processes import its
`host_worker`, `host_episode` and `host_messages` modules); the evaluator classes load on first use.
"""

ENGINES = ("host", "brax")  # where episodes run: host worker processes, or Brax on device
HOST_BACKENDS = ("local", "ray")  # how the host engine starts its workers


def make_evaluator(engine: str, task: str, spec, **kwargs):
  """Builds the `Evaluator` (`chromnas.engines.base`) of `engine` (`'brax'` or `'host'`) for
  `task` and policy `spec`.

  Keyword arguments go to `BraxEvaluator` or `HostEvaluator` (see their docstrings).
  """
  if engine == "brax":
    from chromnas.engines.brax_evaluator import BraxEvaluator

    return BraxEvaluator(task, spec, **kwargs)
  if engine == "host":
    from chromnas.engines.host_evaluator import HostEvaluator

    return HostEvaluator(task, spec, **kwargs)
  raise ValueError(f"unknown engine {engine!r}; choose one of {ENGINES}")


__all__ = ["ENGINES", "HOST_BACKENDS", "make_evaluator"]
