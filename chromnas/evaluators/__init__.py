"""Rollout engines behind one interface (`base.Evaluator`): Brax on device, a host worker pool."""
from chromnas.evaluators.base import EvalResult
from chromnas.evaluators.base import Evaluator


def make_evaluator(engine: str, task: str, spec, **kwargs) -> Evaluator:
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


__all__ = ["EvalResult", "Evaluator", "make_evaluator"]
