"""Plots learning curves of several workdirs on one figure: mean and spread over seeds.

  python -m experiments.plot_curves --out=curves.png --metric=eval_return \
      enas=runs/enas_s0,runs/enas_s1,runs/enas_s2 random=runs/random_s0,runs/random_s1

Each positional argument is `label=workdir[,workdir...]`; the runs of one label are seeds,
drawn as their mean (line) and min-max band against env steps.  It also prints, per label,
the mean and spread over seeds of: the population's mean reward over the first and the last
10% of iterations, the highest single-episode reward, the last and the best evaluation return.
"""

from __future__ import annotations

from absl import app, flags

from chromnas.train.metrics import load_curve
from experiments import IMAGE_EXTENSIONS, check_output_file, fail, parse_flags_or_exit

_OUT = flags.DEFINE_string("out", "curves.png", "Image file to write (.png, .pdf or .svg).")
_METRIC = flags.DEFINE_string("metric", "reward_mean", "metrics.csv column to plot.")


def plot(groups: dict, metric: str, path: str) -> None:
  """`groups = {label: [workdir, ...]}`; seeds are aligned on the shortest run's env steps."""
  import matplotlib

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  import numpy as np

  fig, ax = plt.subplots(figsize=(7, 4.5))
  for label, workdirs in groups.items():
    curves = [load_curve(w, metric) for w in workdirs]
    grid = np.linspace(0, min(c[0][-1] for c in curves), 200)
    values = np.stack([np.interp(grid, steps, vals) for steps, vals in curves])
    ax.plot(grid, values.mean(0), label=f"{label} (n={len(workdirs)})")
    ax.fill_between(grid, values.min(0), values.max(0), alpha=0.2)
  ax.set_xlabel("env steps")
  ax.set_ylabel(metric)
  ax.legend()
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)


def summary(groups: dict) -> str:
  """Text table of per-label statistics over seeds (see the module docstring)."""
  import os

  import numpy as np

  from chromnas.train.metrics import read_csv

  cols = (
    "first reward_mean",
    "final reward_mean",
    "max reward_max",
    "last eval_return",
    "best eval_return",
    "env steps",
  )
  lines = [f"{'label':<12}" + "".join(f"{c:>22}" for c in cols)]
  for label, workdirs in groups.items():
    stats = []
    for w in workdirs:
      rows = read_csv(os.path.join(w, "metrics.csv"))
      mean = np.array([float(r["reward_mean"]) for r in rows])
      evals = np.array([float(r["eval_return"]) for r in rows if r.get("eval_return", "") not in ("", "nan")])
      tail = max(1, len(rows) // 10)
      stats.append(
        (
          mean[:tail].mean(),
          mean[-tail:].mean(),
          max(float(r["reward_max"]) for r in rows),
          evals[-1] if evals.size else np.nan,
          evals.max() if evals.size else np.nan,
          float(rows[-1]["env_steps"]),
        )
      )
    stats = np.array(stats)
    cells = [
      f"{m:10.1f} +- {s:7.1f}" if i < 5 else f"{m:>20.3g}  "
      for i, (m, s) in enumerate(zip(stats.mean(0), stats.std(0)))
    ]
    lines.append(f"{label:<12}" + "".join(f"{c:>22}" for c in cells))
  return "\n".join(lines)


def main(argv):
  import os

  groups = {}
  for arg in argv[1:]:
    label, _, dirs = arg.partition("=")
    if not label or not dirs:
      fail(f"expected label=workdir[,workdir...], got {arg!r}")
    groups[label] = dirs.split(",")
  if not groups:
    fail("give at least one label=workdir[,workdir...]")
  check_output_file("out", _OUT.value, IMAGE_EXTENSIONS)
  for label, workdirs in groups.items():
    for w in workdirs:
      if not os.path.isfile(os.path.join(w, "metrics.csv")):
        fail(f"{label}={w}: no metrics.csv there; is it a training workdir?")
  try:
    plot(groups, _METRIC.value, _OUT.value)
    text = summary(groups)
  except (OSError, ValueError, KeyError) as e:
    fail(f"{type(e).__name__}: {e}" if isinstance(e, KeyError) else str(e).splitlines()[0])
  print(text)
  print(f"wrote {_OUT.value}")


if __name__ == "__main__":
  app.run(main, flags_parser=parse_flags_or_exit)
