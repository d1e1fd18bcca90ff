"""Metrics sinks: `WORKDIR/metrics.csv` (one row per iteration) and TensorBoard event files."""

from __future__ import annotations

import csv
import math
import os

CSV_FIELDS = ("iteration", "env_steps", "reward_mean", "reward_max", "eval_return", "steps_per_s", "wall_s")


class MetricsWriter:
  """Appends rows to `metrics.csv` and scalars to TensorBoard (`WORKDIR/tb`).

  On resume, `truncate_after(iteration)` drops CSV rows newer than the restored checkpoint,
  so the file never holds two rows for one iteration.
  """

  def __init__(self, workdir: str, extra_fields=(), tensorboard: bool = True):
    self.path = os.path.join(workdir, "metrics.csv")
    self.fields = list(CSV_FIELDS) + [f for f in extra_fields if f not in CSV_FIELDS]
    self._tb = None
    if tensorboard:
      from tensorboardX import SummaryWriter

      self._tb = SummaryWriter(os.path.join(workdir, "tb"))
    if not os.path.exists(self.path):
      with open(self.path, "w", newline="") as f:
        csv.writer(f).writerow(self.fields)

  def truncate_after(self, iteration: int) -> None:
    """Keeps the header and rows with `iteration <= iteration`."""
    rows = read_csv(self.path)
    with open(self.path, "w", newline="") as f:
      w = csv.DictWriter(f, fieldnames=self.fields, extrasaction="ignore")
      w.writeheader()
      for r in rows:
        if int(float(r["iteration"])) <= iteration:
          w.writerow(r)

  def write(self, row: dict) -> None:
    with open(self.path, "a", newline="") as f:
      csv.DictWriter(f, fieldnames=self.fields, extrasaction="ignore").writerow(
        {k: _fmt(row.get(k, "")) for k in self.fields}
      )
    if self._tb is not None:
      step = int(row["env_steps"])
      for k, v in row.items():
        if k not in ("iteration", "env_steps") and isinstance(v, (int, float)) and math.isfinite(v):
          self._tb.add_scalar(k, v, step)

  def write_images(self, env_steps: int, images: dict) -> None:
    """Logs `{tag: (H, W, 3) uint8}` images to TensorBoard at `env_steps` (no-op without it)."""
    if self._tb is not None:
      for tag, image in images.items():
        self._tb.add_image(tag, image, int(env_steps), dataformats="HWC")

  def close(self) -> None:
    if self._tb is not None:
      self._tb.close()
      self._tb = None


def structure_images(structure, layer_shapes, num_choices: int, entropy=None, scale: int = 6) -> dict:
  """Pictures of a partition for TensorBoard: `partition/layer<l>`, each weight `(out, in)` of
  layer `l` colored by its color (or kept / dropped), and with `entropy (E,)` also
  `entropy/layer<l>`, the controller's per-position entropy as a heat map (0 black, log C
  white).  Each cell is `scale` pixels; returns `{tag: (H, W, 3) uint8}`."""
  import numpy as np
  from matplotlib import colormaps

  structure = np.asarray(structure)
  cmap = colormaps["tab20" if num_choices <= 20 else "nipy_spectral"].resampled(max(num_choices, 2))
  out, offset = {}, 0
  top = math.log(max(num_choices, 2))
  for layer, (rows, cols) in enumerate(layer_shapes):
    grid = structure[offset : offset + rows * cols].reshape(rows, cols)
    rgb = (cmap(grid)[..., :3] * 255).astype(np.uint8)
    out[f"partition/layer{layer}"] = np.kron(rgb, np.ones((scale, scale, 1), np.uint8))
    if entropy is not None:
      e = np.clip(np.asarray(entropy)[offset : offset + rows * cols].reshape(rows, cols) / top, 0.0, 1.0)
      gray = (colormaps["magma"](e)[..., :3] * 255).astype(np.uint8)
      out[f"entropy/layer{layer}"] = np.kron(gray, np.ones((scale, scale, 1), np.uint8))
    offset += rows * cols
  return out


def _fmt(v):
  if isinstance(v, float):
    return "" if math.isnan(v) else f"{v:.6g}"
  return v


def read_csv(path: str) -> list[dict]:
  """Rows of a metrics CSV as dicts of strings."""
  with open(path, newline="") as f:
    return list(csv.DictReader(f))


def load_curve(workdir: str, metric: str):
  """`(env_steps (n,), values (n,))` of the rows of `workdir/metrics.csv` where `metric` is set;
  `ValueError` if there are none."""
  import numpy as np  # pylint: disable=import-outside-toplevel

  rows = [r for r in read_csv(os.path.join(workdir, "metrics.csv")) if r.get(metric, "") != ""]
  if not rows:
    raise ValueError(f"{workdir}/metrics.csv has no values for {metric!r}")
  return np.array([float(r["env_steps"]) for r in rows]), np.array([float(r[metric]) for r in rows])
