"""The golden runs (`tests/golden.py`) still produce bit-identical metrics and policies."""
import json

import pytest

from tests import golden


@pytest.mark.parametrize("name", list(golden.RUNS))
def test_golden_run_is_bit_identical(tmp_path, name):
  with open(golden.GOLDEN_PATH) as f:
    expected = json.load(f)[name]
  got = golden.run_one(name, str(tmp_path))
  # Row by row first, so a failure shows the first iteration that differs.
  for want_row, got_row in zip(expected["metrics"], got["metrics"]):
    assert got_row == want_row
  assert got == expected
