"""Footprint accounting against every cell of the poster's comparison table; coloring helpers."""

import json
import subprocess
import sys

import jax
import numpy as np
import pytest

from chromnas.core import coloring, families, footprint, policy_spec
from chromnas.model import partitions

# The poster's comparison table (weight-params, compression %, bits), reward column aside.
POSTER = {
  ("Striker", "chromatic"): (23, 95, 8198),
  ("Striker", "masked"): (25, 95, 8262),
  ("Striker", "toeplitz"): (110, 88, 4832),
  ("Striker", "circulant"): (82, 90, 3936),
  ("Striker", "unstructured"): (1230, 0, 40672),
  ("HalfCheetah", "chromatic"): (17, 94, 6571),
  ("HalfCheetah", "masked"): (40, 92, 8250),
  ("HalfCheetah", "toeplitz"): (103, 85, 4608),
  ("HalfCheetah", "circulant"): (82, 88, 3936),
  ("HalfCheetah", "unstructured"): (943, 0, 31488),
  ("Hopper", "chromatic"): (11, 92, 3960),
  ("Hopper", "masked"): (17, 91, 4726),
  ("Hopper", "toeplitz"): (94, 78, 4320),
  ("Hopper", "circulant"): (82, 80, 3936),
  ("Hopper", "unstructured"): (574, 0, 19680),
  ("Walker2d", "chromatic"): (17, 94, 6571),
  ("Walker2d", "masked"): (19, 94, 6635),
  ("Walker2d", "toeplitz"): (103, 85, 4608),
  ("Walker2d", "circulant"): (82, 88, 3936),
  ("Walker2d", "unstructured"): (943, 0, 31488),
}


def test_comparison_table_matches_poster_cell_for_cell():
  rows = footprint.comparison_table()
  assert len(rows) == 20
  got = {(r["env"], r["family"]): (r["weight_params"], r["compression_pct"], r["bits"]) for r in rows}
  assert got == POSTER


def test_footprint_command_prints_json():
  out = subprocess.run(
    [sys.executable, "-m", "experiments.footprint", "--format=json"], check=True, capture_output=True, text=True
  ).stdout
  rows = json.loads(out)
  assert {(r["env"], r["family"]): (r["weight_params"], r["compression_pct"], r["bits"]) for r in rows} == POSTER
  assert set(rows[0]) == {"env", "family", "weight_params", "compression_pct", "bits"}


def test_bits_formula_example():
  fp = footprint.footprint("chromatic", 17, 6, "H41", num_colors=17)
  assert fp.bits == 32 * (17 + 41) + 943 * 5
  assert families.index_bits(1) == 0 and families.index_bits(2) == 1 and families.index_bits(17) == 5


def test_footprint_errors():
  with pytest.raises(ValueError, match="num_colors"):
    footprint.footprint("chromatic", 17, 6, "H41")
  with pytest.raises(ValueError, match="num_kept"):
    footprint.footprint("masked", 17, 6, "H41", num_kept=5000)
  with pytest.raises(ValueError, match="larger than the number of weights"):
    footprint.footprint("chromatic", 8, 2, "L", num_colors=100)


def test_random_structure_and_validation():
  spec = policy_spec.make_spec(17, 6, "H41", "chromatic", 17)
  s = partitions.random_structure(spec, jax.random.key(0), (3,))
  assert s.shape == (3, 943) and s.dtype == np.int32
  assert 0 <= int(s.min()) and int(s.max()) < 17
  coloring.validate_structure(spec, s)
  with pytest.raises(ValueError, match=r"\[0, 17\)"):
    coloring.validate_structure(spec, np.full((943,), 17))
  with pytest.raises(ValueError, match="trailing size"):
    coloring.validate_structure(spec, np.zeros((10,)))
  m = partitions.random_structure(policy_spec.make_spec(17, 6, "L", "masked"), jax.random.key(0))
  assert set(np.unique(m).tolist()) <= {0, 1}


def test_canonical_coloring():
  np.testing.assert_array_equal(coloring.canonical_coloring([2, 2, 0, 1, 0]), [0, 0, 1, 2, 1])
  np.testing.assert_array_equal(coloring.canonical_coloring([5, 1, 5]), coloring.canonical_coloring([0, 3, 0]))
  assert coloring.colors_used([3, 3, 1]) == 2
