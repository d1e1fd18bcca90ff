"""The golden runs (`tests/golden.py`): bit-identical on a machine with a stored profile, within
tolerance elsewhere, and a failure says which kind of mismatch it found."""

import copy
import json

import pytest

from tests import golden


def _mismatch_report(name, profile, mode, fp, problems):
  if profile["fingerprint"] == fp:
    why = "same fingerprint"
  elif mode == "bitwise":
    why = "host engine, same architecture and library versions, other vector unit"
  else:
    why = "other fingerprint"
  return (
    f"golden run {name}: {mode} comparison ({why}) against the profile "
    f"'{golden.describe(profile['fingerprint'])}' (this machine: '{golden.describe(fp)}') "
    f"found {len(problems)} mismatch(es):\n  " + "\n  ".join(problems)
  )


@pytest.mark.parametrize("name", list(golden.RUNS))
def test_golden_run_matches(tmp_path, name):
  profiles = golden.load()
  fp = golden.fingerprint()
  profile, mode = golden.select(profiles, name, fp)
  got = golden.run_one(name, str(tmp_path))
  problems = golden.compare(profile["runs"][name], got, mode)
  assert not problems, _mismatch_report(name, profile, mode, fp, problems)


def test_stored_profiles_hold_every_run_and_agree_within_tolerance():
  profiles = golden.load()
  fingerprints = [json.dumps(p["fingerprint"], sort_keys=True) for p in profiles]
  assert len(set(fingerprints)) == len(fingerprints), "two stored profiles share a fingerprint"
  for p in profiles:
    assert sorted(p["runs"]) == sorted(golden.RUNS), golden.describe(p["fingerprint"])
    for name in golden.RUNS:
      problems = golden.compare(profiles[0]["runs"][name], p["runs"][name], "tolerance")
      assert not problems, (name, golden.describe(p["fingerprint"]), problems)


# Comparison rules on a small hand-made digest: no training, so these run in milliseconds.


def _digest():
  rows = [
    {"iteration": str(i), "reward_mean": r, "best_return": b, "eval_return": e}
    for i, r, b, e in (
      (1, "39.2768", "-inf", ""),
      (2, "9.45075", "41.5", "41.5"),
      (3, "12.0", "41.5", ""),
      (4, "13.0", "45.25", "45.25"),
    )
  ]
  arr = {"sha256": "a" * 64, "dtype": "float32", "shape": [3, 5]}
  return {
    "columns": ["best_return", "eval_return", "iteration", "reward_mean"],
    "metrics": rows,
    "metrics_sha256": "x",
    "best_policy.npz": {"params": dict(arr)},
    "latest_policy.npz": {"params": dict(arr)},
  }


def test_identical_digests_pass_both_ways():
  assert golden.compare(_digest(), _digest(), "bitwise") == []
  assert golden.compare(_digest(), _digest(), "tolerance") == []


def test_a_difference_in_the_fifth_digit_fails_bitwise_and_passes_within_tolerance():
  got = _digest()
  got["metrics"][0]["reward_mean"] = "39.2766"  # the size of the AVX2 against AVX-512 difference
  (line,) = golden.compare(_digest(), got, "bitwise")
  assert line.startswith("BITWISE:") and "reward_mean" in line and "iteration 1" in line
  assert golden.compare(_digest(), got, "tolerance") == []


def test_a_change_in_percents_fails_the_tolerance_comparison_naming_the_metric():
  got = _digest()
  got["metrics"][1]["reward_mean"] = "9.6"
  (line,) = golden.compare(_digest(), got, "tolerance")
  assert line.startswith("TOLERANCE:") and "reward_mean" in line and "iteration 2" in line


def test_tolerance_covers_only_the_first_iterations_and_bitwise_covers_all():
  got = _digest()
  got["metrics"][golden.TOL_ITERATIONS]["reward_mean"] = "99.0"
  assert golden.compare(_digest(), got, "tolerance") == []
  assert golden.compare(_digest(), got, "bitwise")[0].startswith("BITWISE:")


def test_the_controller_loss_has_its_looser_tolerance():
  want = _digest()
  want["columns"].append("controller_loss")
  for row in want["metrics"]:
    row["controller_loss"] = "-0.944746"
  got = copy.deepcopy(want)
  got["metrics"][1]["controller_loss"] = "-0.94"  # 5e-3 relative: cancellation, not a bug
  assert golden.compare(want, got, "tolerance") == []
  got["metrics"][1]["controller_loss"] = "-0.92"  # 2.6e-2 relative
  (line,) = golden.compare(want, got, "tolerance")
  assert line.startswith("TOLERANCE:") and "controller_loss" in line and "within 0.01" in line


def test_non_finite_and_empty_metrics_must_match_exactly():
  got = _digest()
  got["metrics"][0]["best_return"] = "-1e30"
  assert golden.compare(_digest(), got, "tolerance")[0].startswith("TOLERANCE:")
  got = _digest()
  got["metrics"][0]["eval_return"] = "0"
  assert golden.compare(_digest(), got, "tolerance")[0].startswith("TOLERANCE:")


def test_policy_bytes_are_compared_bitwise_only():
  got = _digest()
  got["latest_policy.npz"]["params"]["sha256"] = "b" * 64
  assert golden.compare(_digest(), got, "bitwise") == ["BITWISE: latest_policy.npz[params] bytes differ"]
  assert golden.compare(_digest(), got, "tolerance") == []


@pytest.mark.parametrize("mode", ["bitwise", "tolerance"])
def test_structure_changes_are_reported_as_structure(mode):
  got = _digest()
  got["best_policy.npz"]["params"]["shape"] = [3, 6]
  (line,) = golden.compare(_digest(), got, mode)
  assert line.startswith("STRUCTURE:") and "best_policy.npz[params]" in line
  got = _digest()
  got["columns"].append("grad_norm")
  for row in got["metrics"]:
    row["grad_norm"] = "1"
  assert golden.compare(_digest(), got, mode)[0].startswith("STRUCTURE: metric columns")
  got = _digest()
  got["metrics"].pop()
  assert golden.compare(_digest(), got, mode) == ["STRUCTURE: 3 metric rows, expected 4"]
  got = _digest()
  got["best_policy.npz"]["params"]["dtype"] = "float64"
  assert golden.compare(_digest(), got, mode)[0].startswith("STRUCTURE: best_policy.npz[params] is float64")
  got = _digest()
  got["latest_policy.npz"]["obs_mean"] = got["latest_policy.npz"]["params"]
  assert golden.compare(_digest(), got, mode)[0].startswith("STRUCTURE: latest_policy.npz holds")


def test_a_serialised_text_array_may_change_length_but_not_bytes_on_the_same_fingerprint():
  want, got = _digest(), _digest()
  want["best_policy.npz"]["meta"] = {"sha256": "c" * 64, "dtype": "uint8", "shape": [171]}
  got["best_policy.npz"]["meta"] = {"sha256": "d" * 64, "dtype": "uint8", "shape": [170]}
  assert golden.compare(want, got, "tolerance") == []
  assert golden.compare(want, got, "bitwise") == ["BITWISE: best_policy.npz[meta] bytes differ"]


def test_an_unknown_mode_is_refused():
  with pytest.raises(ValueError, match="mode must be"):
    golden.compare(_digest(), _digest(), "approximate")


def _profiles():
  fp = golden.fingerprint()
  other = copy.deepcopy(fp)
  other["cpu_features"] = [f for f in other["cpu_features"] if not f.startswith("AVX512")] + ["NOT_THIS_CPU"]
  runs = {name: _digest() for name in golden.RUNS}
  return fp, other, runs


def test_select_is_bitwise_on_the_same_fingerprint():
  fp, other, runs = _profiles()
  profiles = [{"fingerprint": other, "runs": runs}, {"fingerprint": fp, "runs": runs}]
  for name in golden.RUNS:
    assert golden.select(profiles, name, fp) == (profiles[1], "bitwise")


def test_select_elsewhere_is_tolerance_for_jax_runs_and_bitwise_for_host_runs():
  fp, other, runs = _profiles()
  profiles = [{"fingerprint": other, "runs": runs}]
  for name in golden.RUNS:
    want = "bitwise" if name in golden.HOST_RUNS else "tolerance"
    assert golden.select(profiles, name, fp) == (profiles[0], want), name
  other["versions"]["numpy"] = "0.0"
  for name in golden.RUNS:
    assert golden.select(profiles, name, fp) == (profiles[0], "tolerance"), name


def test_host_runs_without_fused_multiply_add_compare_within_tolerance():
  fp, other, runs = _profiles()
  if fp["machine"] not in ("x86_64", "amd64"):
    pytest.skip("XLA's ISA levels are x86 ones")
  other["xla_isa"], fp["xla_isa"] = "AVX", "AVX2"  # XLA capped at AVX has no FMA
  profiles = [{"fingerprint": other, "runs": runs}]
  for name in golden.HOST_RUNS:
    assert golden.select(profiles, name, fp) == (profiles[0], "tolerance"), name


def test_fingerprint_follows_the_xla_isa_cap(monkeypatch):
  monkeypatch.delenv("XLA_FLAGS", raising=False)
  native = golden.fingerprint()
  monkeypatch.setenv("XLA_FLAGS", "--xla_force_host_platform_device_count=2 --xla_cpu_max_isa=avx2")
  capped = golden.fingerprint()
  assert capped != native
  assert capped["xla_max_isa"] == "AVX2" and capped["xla_flags"] == ["--xla_force_host_platform_device_count=2"]
  if "AVX2" in native["cpu_features"]:  # an x86-64 CPU with AVX2 or more compiles for AVX2 when capped
    assert capped["xla_isa"] == "AVX2"
  assert golden.host_key(capped) == golden.host_key(native)


def test_a_golden_file_of_another_format_is_refused(tmp_path):
  path = tmp_path / "golden.json"
  path.write_text(json.dumps({"host_fixed": _digest()}))
  with pytest.raises(ValueError, match="not a golden file of format"):
    golden.load(str(path))
