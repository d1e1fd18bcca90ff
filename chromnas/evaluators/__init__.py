"""Rollout engines behind one interface (`base.Evaluator`): Brax on device, a host worker pool.

Importing this package is cheap and JAX-free (host worker processes import its
`host_worker` / `host_episode` modules); the evaluator classes load on first use.
"""


def make_evaluator(engine: str, task: str, spec, **kwargs):
  """Builds the evaluator of `engine` (`'brax'` or `'host'`) for `task` and policy `spec`.

  Keyword arguments go to `BraxEvaluator` or `HostEvaluator` (see their docstrings).
  """
  if engine == "brax":
    from chromnas.evaluators.brax_evaluator import BraxEvaluator
    return BraxEvaluator(task, spec, **kwargs)
  if engine == "host":
    from chromnas.evaluators.host_evaluator import HostEvaluator
    return HostEvaluator(task, spec, **kwargs)
  raise ValueError(f"unknown engine {engine!r}; use 'brax' or 'host'")


def __getattr__(name: str):
  if name in ("EvalResult", "Evaluator"):
    from chromnas.evaluators import base
    return getattr(base, name)
  raise AttributeError(name)


__all__ = ["EvalResult", "Evaluator", "make_evaluator"]
