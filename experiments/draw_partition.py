"""Draws a policy's partition as a picture: one heatmap per layer, one color per shared value.

  python -m experiments.draw_partition --workdir=DIR --out=partition.png [--which=best|latest]

Like the poster's figures: each cell is a weight `(out, in)` of a layer, colored by its
partition (chromatic) or kept/dropped (masked).
"""

from __future__ import annotations

from absl import app, flags

from experiments import IMAGE_EXTENSIONS, check_input_dir, check_output_file, fail, parse_flags_or_exit

_WORKDIR = flags.DEFINE_string("workdir", None, "Training workdir.", required=True)
_OUT = flags.DEFINE_string("out", "partition.png", "Image file to write (.png, .pdf or .svg).")
_WHICH = flags.DEFINE_enum("which", "best", ["best", "latest"], "Which saved policy.")


def draw(bundle, path: str) -> None:
  """Writes the heatmaps of `bundle.structure` (one panel per layer) to `path`."""
  import matplotlib

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  import numpy as np

  spec = bundle.spec
  if spec.structure_size == 0:
    raise ValueError(f"the {spec.family} family has no partition to draw")
  shapes = spec.layer_shapes
  fig, axes = plt.subplots(1, len(shapes), figsize=(4 * len(shapes), 4), squeeze=False)
  k = spec.num_choices
  cmap = plt.get_cmap("tab20" if k <= 20 else "nipy_spectral", k)
  offset = 0
  for ax, (r, c) in zip(axes[0], shapes):
    grid = np.asarray(bundle.structure[offset : offset + r * c]).reshape(r, c)
    offset += r * c
    im = ax.imshow(grid, cmap=cmap, vmin=-0.5, vmax=k - 0.5, interpolation="nearest")
    ax.set_title(f"{r} x {c}")
    ax.set_xlabel("input")
    ax.set_ylabel("output")
  fig.colorbar(im, ax=axes[0].tolist(), label="color" if spec.family_record.shared_values else "kept")
  fig.suptitle(f"{bundle.env} {spec.architecture} {spec.family}" + (f" K={spec.num_colors}" if spec.num_colors else ""))
  fig.savefig(path, dpi=100)
  plt.close(fig)


def main(argv):
  if len(argv) > 1:
    fail(f"unexpected arguments {argv[1:]}")
  check_input_dir("workdir", _WORKDIR.value)
  check_output_file("out", _OUT.value, IMAGE_EXTENSIONS)
  from chromnas.core import bundle

  try:
    draw(bundle.load_workdir_policy(_WORKDIR.value, _WHICH.value), _OUT.value)
  except (OSError, ValueError) as e:
    fail(str(e).splitlines()[0] if str(e) else type(e).__name__)
  print(f"wrote {_OUT.value}")


if __name__ == "__main__":
  app.run(main, flags_parser=parse_flags_or_exit)
