"""Prints the poster's comparison table (footprints only) computed by the library.

  python -m experiments.footprint                 # text table
  python -m experiments.footprint --format=json   # JSON list of rows

Each row: env, family, weight_params, compression_pct, bits.  The settings (dims, H41
architecture, K for chromatic, kept edges for masked) are the poster's.
"""
from __future__ import annotations

import json

from absl import app
from absl import flags

from chromnas import partitions

_FORMAT = flags.DEFINE_enum("format", "text", ["text", "json"], "Output format.")

# (env, (obs, act), architecture, chromatic K, masked kept edges) as in the poster.
COMPARISON_ROWS = (
    ("Striker", (23, 7), "H41", 23, 25),
    ("HalfCheetah", (17, 6), "H41", 17, 40),
    ("Hopper", (11, 3), "H41", 11, 17),
    ("Walker2d", (17, 6), "H41", 17, 19),
)
FAMILY_ORDER = ("chromatic", "masked", "toeplitz", "circulant", "unstructured")


def comparison_table() -> list[dict]:
  """The 20 rows (4 envs x 5 families) of the poster's comparison table, reward aside."""
  rows = []
  for env, (obs, act), arch, k, kept in COMPARISON_ROWS:
    for family in FAMILY_ORDER:
      fp = partitions.footprint(family, obs, act, arch, num_colors=k if family == "chromatic" else None,
                                num_kept=kept if family == "masked" else None)
      rows.append({"env": env, "family": family, "weight_params": fp.weight_params,
                   "compression_pct": fp.compression_pct, "bits": fp.bits})
  return rows


def format_table(rows: list[dict]) -> str:
  """Fixed-width text rendering of `comparison_table()`."""
  lines = [f"{'env':<12} {'family':<13} {'# weight-params':>15} {'compression':>11} {'# bits':>8}"]
  for r in rows:
    lines.append(f"{r['env']:<12} {r['family']:<13} {r['weight_params']:>15d} {r['compression_pct']:>10d}% {r['bits']:>8d}")
  return "\n".join(lines)


def main(argv):
  del argv
  rows = comparison_table()
  print(json.dumps(rows, indent=1) if _FORMAT.value == "json" else format_table(rows))


if __name__ == "__main__":
  app.run(main)
