"""Prints the poster's comparison table (footprints only) computed by the library.

  python -m experiments.footprint                 # text table
  python -m experiments.footprint --format=json   # JSON list of rows

Each row: env, family, weight_params, compression_pct, bits.  The settings (dims, H41
architecture, K for chromatic, kept edges for masked) are the poster's.
"""

from __future__ import annotations

import json

from absl import app, flags

from chromnas.core import footprint
from experiments import fail, parse_flags_or_exit

_FORMAT = flags.DEFINE_enum("format", "text", ["text", "json"], "Output format.")


def main(argv):
  if len(argv) > 1:
    fail(f"unexpected arguments {argv[1:]}")
  rows = footprint.comparison_table()
  print(json.dumps(rows, indent=1) if _FORMAT.value == "json" else footprint.format_comparison_table(rows))


if __name__ == "__main__":
  app.run(main, flags_parser=parse_flags_or_exit)
