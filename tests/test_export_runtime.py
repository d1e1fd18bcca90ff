"""Binary policy format (`chromnas.core.policy_file`) and the NumPy-only runtime (`chromnas.core.runtime`)."""

import dataclasses
import math
import os
import pathlib
import subprocess
import sys
import textwrap
import zlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chromnas import deploy
from chromnas.core import families, footprint, policy_file, policy_spec, runtime
from chromnas.core.bundle import PolicyBundle
from chromnas.model import policies

REPO = pathlib.Path(__file__).resolve().parents[1]
OBS, ACT = 17, 6
ARCHS = ("L", "H41", "H41,H41")


def make_bundle(family, arch, seed=0, num_colors=17, env="halfcheetah", keep=None):
  spec = policy_spec.make_spec(OBS, ACT, arch, family, num_colors if family == "chromatic" else 0)
  rng = np.random.default_rng(seed)
  params = rng.standard_normal(spec.num_params).astype(np.float32)
  structure = rng.integers(0, spec.num_choices, spec.structure_size).astype(np.int32)
  if keep is not None:
    structure = np.zeros(spec.structure_size, np.int32)
    structure[rng.choice(spec.structure_size, keep, replace=False)] = 1
  return PolicyBundle(
    spec,
    params,
    structure,
    rng.standard_normal(OBS).astype(np.float32),
    rng.uniform(0.5, 2.0, OBS).astype(np.float32),
    5.0,
    env,
  )


def num_kept(bundle):
  return int(bundle.structure.sum()) if bundle.spec.family == "masked" else None


def reference_actions(bundle, obs):
  """`policies.apply` (JAX) on observations normalised with the bundle's normaliser."""
  norm = jnp.clip((obs - bundle.obs_mean) / bundle.obs_std, -bundle.obs_clip, bundle.obs_clip)
  return np.asarray(_apply(bundle.spec, bundle.params, bundle.structure, norm))


_apply = jax.jit(policies.apply, static_argnums=0)


@pytest.fixture(scope="module")
def cases():
  """Every family x architecture: (bundle, file bytes, observations, reference actions)."""
  obs = np.random.default_rng(7).normal(0.0, 3.0, (8, OBS)).astype(np.float32)
  out = {}
  for family in families.NAMES:
    for arch in ARCHS:
      bundle = make_bundle(family, arch, seed=len(out))
      out[family, arch] = (bundle, policy_file.dumps(bundle), obs, reference_actions(bundle, obs))
  return out


@pytest.mark.parametrize("family", families.NAMES)
@pytest.mark.parametrize("arch", ARCHS)
def test_runtime_matches_policies_apply(cases, family, arch):
  bundle, data, obs, expected = cases[family, arch]
  policy = runtime.load_policy(data)
  batch = policy.act(obs)
  assert batch.shape == (8, ACT) and batch.dtype == np.float32
  np.testing.assert_allclose(batch, expected, atol=1e-5, rtol=1e-5)
  single = policy.act(obs[3])
  assert single.shape == (ACT,) and single.dtype == np.float32
  np.testing.assert_allclose(single, expected[3], atol=1e-5, rtol=1e-5)
  np.testing.assert_allclose(policy(obs.astype(np.float64)), expected, atol=1e-5, rtol=1e-5)
  if family == "chromatic":
    np.testing.assert_allclose(runtime.load_policy(data, matvec="mailman").act(obs), expected, atol=1e-5, rtol=1e-5)
  for mine, ref in zip(
    policy.weight_matrices(), policies.weight_matrices(bundle.spec, bundle.params, bundle.structure)
  ):
    np.testing.assert_allclose(mine, ref, rtol=0, atol=0)


@pytest.mark.parametrize("family", families.NAMES)
@pytest.mark.parametrize("arch", ARCHS)
def test_ordered_matvec_is_the_policy_with_rows_independent_of_the_batch(cases, family, arch):
  _, data, obs, expected = cases[family, arch]
  policy = runtime.load_policy(data, matvec="ordered")
  assert policy.layer_paths == ("ordered",) * len(policy.layer_paths)
  batch = policy.act(obs)
  np.testing.assert_allclose(batch, expected, atol=1e-5, rtol=1e-5)
  # One observation or a batch: the same bits per row, as the judge needs.
  np.testing.assert_array_equal(np.stack([policy.act(o) for o in obs]), batch)


_ORDERED_BITS = """
import sys, zlib, numpy as np
from chromnas.core import forward
rng = np.random.default_rng(0)
w = rng.standard_normal((41, 111)).astype(np.float32)
h = rng.standard_normal((64, 111)).astype(np.float32)
print(zlib.crc32(forward.ordered_product(w)(h).tobytes()))
"""


def test_ordered_product_has_the_same_bits_without_numpy_simd():
  """`forward.ordered_product` with every NumPy SIMD extension this CPU dispatches to, and with
  none of them (`NPY_DISABLE_CPU_FEATURES`) and OpenBLAS on its AVX2 kernels: the same bits (a
  BLAS product of these shapes differs between OpenBLAS's AVX-512 and AVX2 kernels)."""
  from numpy._core._multiarray_umath import __cpu_baseline__, __cpu_dispatch__, __cpu_features__

  dispatched = [f for f in __cpu_dispatch__ if __cpu_features__.get(f) and f not in __cpu_baseline__]
  if not dispatched:
    pytest.skip("NumPy dispatches to no SIMD extension beyond its baseline here")

  def crc(env_extra):
    env = {**os.environ, **env_extra}
    out = subprocess.run(
      [sys.executable, "-c", _ORDERED_BITS], capture_output=True, text=True, env=env, cwd=REPO, timeout=120
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout.strip()

  plain = {"NPY_DISABLE_CPU_FEATURES": " ".join(dispatched)}
  if "X86_V3" in dispatched:  # an AVX2 CPU: OpenBLAS can be held to its Haswell kernels
    plain["OPENBLAS_CORETYPE"] = "Haswell"
  assert crc({}) == crc(plain)


@pytest.mark.parametrize("family", families.NAMES)
@pytest.mark.parametrize("arch", ARCHS)
def test_payload_is_the_footprint(cases, family, arch):
  bundle, data, _, _ = cases[family, arch]
  spec = bundle.spec
  bits = footprint.spec_footprint(spec, num_kept(bundle)).bits
  overhead = 8 + 2 + 4 + 1 + 1 + 4 + 4 + 4 * len(spec.hidden) + 4 + 8 + 2 + len(bundle.env) + 8 * spec.obs_dim + 4
  assert len(data) - overhead == math.ceil(bits / 8)
  assert policy_file.loads(data).payload_bits == bits


def test_poster_halfcheetah_sizes():
  chromatic = make_bundle("chromatic", "H41", num_colors=17, env="")
  masked = make_bundle("masked", "H41", keep=40, env="")
  overhead = 8 + 2 + 4 + 1 + 1 + 4 + 4 + 4 + 4 + 8 + 2 + 8 * OBS + 4
  assert len(policy_file.dumps(chromatic)) - overhead == math.ceil(6571 / 8)  # 32*(17+41) + 943*5
  assert len(policy_file.dumps(masked)) - overhead == math.ceil(8250 / 8)  # 32*(40+41) + 943*6


@pytest.mark.parametrize("family", families.NAMES)
def test_roundtrip_to_bundle(cases, family):
  bundle, data, obs, expected = cases[family, "H41"]
  back = policy_file.load_bundle(data)
  assert back.spec == bundle.spec and back.env == bundle.env and back.obs_clip == bundle.obs_clip
  np.testing.assert_array_equal(back.obs_mean, bundle.obs_mean)
  np.testing.assert_array_equal(back.obs_std, bundle.obs_std)
  np.testing.assert_array_equal(back.structure, bundle.structure)
  params = bundle.params.copy()
  if family == "masked":  # dropped edges are not stored
    params[: bundle.spec.num_edges] *= bundle.structure
  np.testing.assert_array_equal(back.params, params)
  np.testing.assert_allclose(reference_actions(back, obs), expected, atol=1e-6)
  assert policy_file.dumps(back) == data


def test_write_and_load_from_path(cases, tmp_path):
  bundle, data, obs, expected = cases["chromatic", "H41,H41"]
  path = tmp_path / "policy.chromnas"
  assert policy_file.write_policy(path, bundle) == len(data)
  assert path.read_bytes() == data
  for p in (path, str(path)):
    np.testing.assert_allclose(runtime.load_policy(p).act(obs), expected, atol=1e-5)
  assert not list(tmp_path.glob("*.tmp"))


def test_header_fields(cases):
  bundle, data, _, _ = cases["chromatic", "H41"]
  decoded = policy_file.loads(data)
  assert (decoded.family, decoded.obs_dim, decoded.act_dim, decoded.hidden) == ("chromatic", OBS, ACT, (41,))
  assert decoded.num_colors == 17 and decoded.env == "halfcheetah" and decoded.obs_clip == 5.0
  assert decoded.version == policy_file.FORMAT_VERSION and data[:8] == policy_file.MAGIC
  policy = runtime.load_policy(data)
  assert "chromatic H41" in repr(policy) and policy.num_colors == 17


def test_committed_zoo_files_keep_their_format():
  """The format on disk never changes: every `results/zoo` file decodes, encodes back to the same
  bytes, and (chromatic) its mailman path acts as its dense one."""
  paths = sorted((REPO / "results" / "zoo").glob("*.chromnas"))
  if not paths:
    pytest.skip("no results/zoo files in this checkout")
  for path in paths:
    data = path.read_bytes()
    decoded = policy_file.loads(data)
    assert policy_file.dumps(policy_file.to_bundle(decoded)) == data, path.name
    if decoded.record.shared_values:
      obs = np.random.default_rng(0).normal(0.0, 1.0, (4, decoded.obs_dim)).astype(np.float32)
      np.testing.assert_allclose(
        runtime.load_policy(data, matvec="mailman").act(obs),
        runtime.load_policy(data, matvec="dense").act(obs),
        atol=1e-5,
      )


# ---- corrupted data ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sample(cases):
  return cases["masked", "H41"][1]


@pytest.mark.parametrize("cut", [0, 5, 12, 30, -100, -5, -1])
def test_truncated_raises(sample, cut):
  with pytest.raises(ValueError, match="truncated"):
    runtime.load_policy(sample[:cut])


def test_wrong_magic_raises(sample):
  with pytest.raises(ValueError, match="wrong magic"):
    policy_file.loads(b"NOTCHROM" + sample[8:])
  with pytest.raises(ValueError, match="wrong magic"):
    runtime.load_policy(b"PK\x03\x04" + sample)


def test_unknown_version_raises(sample):
  data = bytearray(sample)
  data[8:10] = (99).to_bytes(2, "little")
  with pytest.raises(ValueError, match="unknown policy format version 99"):
    policy_file.loads(bytes(data))


def test_trailing_bytes_raise(sample):
  with pytest.raises(ValueError, match="trailing"):
    policy_file.loads(sample + b"\x00")


def test_flipped_byte_in_payload_is_a_checksum_error(sample):
  data = bytearray(sample)
  data[len(data) // 2] ^= 0x10
  with pytest.raises(ValueError, match="checksum mismatch"):
    runtime.load_policy(bytes(data))


@pytest.mark.parametrize("family", ["chromatic", "masked", "toeplitz"])
def test_every_flipped_byte_raises(cases, family):
  data = cases[family, "H41"][1]
  for pos in range(len(data)):
    for mask in (0x01, 0x80):
      corrupted = bytearray(data)
      corrupted[pos] ^= mask
      with pytest.raises(ValueError):
        policy_file.loads(bytes(corrupted))


def test_header_checks_after_a_valid_checksum(sample):
  """A file whose CRC was recomputed over a nonsense header still fails, naming the field."""
  data = bytearray(sample[:-4])
  data[14] = 9  # family code
  data += zlib.crc32(bytes(data)).to_bytes(4, "little")
  with pytest.raises(ValueError, match="unknown family code 9"):
    policy_file.loads(bytes(data))


# ---- writer checks and masked encoding --------------------------------------------------------


def test_writer_rejects_bad_bundles():
  good = make_bundle("chromatic", "L")
  with pytest.raises(ValueError, match="NaN"):
    policy_file.dumps(dataclasses.replace(good, params=np.full_like(good.params, np.nan)))
  with pytest.raises(ValueError, match="structure has length"):
    policy_file.dumps(dataclasses.replace(good, structure=good.structure[:-1]))
  with pytest.raises(ValueError, match=r"must lie in \[0, 17\)"):
    policy_file.dumps(dataclasses.replace(good, structure=good.structure + 17))
  with pytest.raises(ValueError, match="params has length"):
    policy_file.dumps(dataclasses.replace(good, params=good.params[:-1]))
  with pytest.raises(ValueError, match="std"):
    policy_file.dumps(dataclasses.replace(good, obs_std=np.zeros(OBS, np.float32)))


@pytest.mark.parametrize("keep", [0, 1, 2, 3, 64, 102])
def test_masked_extremes(keep):
  spec = policy_spec.make_spec(OBS, ACT, "L", "masked")
  bundle = make_bundle("masked", "L", keep=keep)
  data = policy_file.dumps(bundle)
  decoded = policy_file.loads(data)
  np.testing.assert_array_equal(decoded.structure, bundle.structure)
  assert decoded.num_values == keep
  if keep >= 2:  # the exact footprint; kept = 1 needs 1 bit per edge, kept = 0 none
    assert decoded.payload_bits == footprint.spec_footprint(spec, keep).bits
  obs = np.random.default_rng(0).standard_normal((3, OBS)).astype(np.float32)
  np.testing.assert_allclose(runtime.load_policy(data).act(obs), reference_actions(bundle, obs), atol=1e-5)


@settings(max_examples=40)
@given(st.lists(st.booleans(), min_size=1, max_size=80))
def test_mask_code_roundtrip(mask):
  mask = np.asarray(mask)
  codes = policy_file.encode_mask(mask)
  kept = int(mask.sum())
  bits = policy_file.structure_bits_per_edge(families.get("masked"), kept)
  assert bits == (1 if kept == 1 else families.index_bits(kept))
  if kept >= 2:
    assert bits == families.index_bits(kept) and codes.max() < 2**bits
  packed = policy_file.pack_bits(codes, bits)
  assert len(packed) == (mask.size * bits + 7) // 8
  np.testing.assert_array_equal(
    policy_file.decode_mask(policy_file.unpack_bits(packed, mask.size, bits), kept, mask.size), mask.astype(np.int32)
  )


def test_runtime_rejects_bad_obs_and_options(cases):
  _, data, _, _ = cases["toeplitz", "L"]
  policy = runtime.load_policy(data)
  with pytest.raises(ValueError, match="obs_dim=17"):
    policy.act(np.zeros(OBS + 1, np.float32))
  with pytest.raises(ValueError, match="chromatic"):
    runtime.load_policy(data, matvec="mailman")
  with pytest.raises(ValueError, match="matvec"):
    runtime.load_policy(data, matvec="fast")


# ---- JAX-free import --------------------------------------------------------------------------


def test_runtime_works_with_jax_hidden(cases, tmp_path):
  _, data, obs, expected = cases["chromatic", "H41,H41"]
  path = tmp_path / "policy.chromnas"
  path.write_bytes(data)
  np.save(tmp_path / "obs.npy", obs)
  script = textwrap.dedent(f"""
      import sys
      for name in ("jax", "jaxlib", "flax", "optax", "chex"):
          sys.modules[name] = None  # any import of these now raises ImportError
      import numpy as np
      from chromnas.core import runtime
      policy = runtime.load_policy({str(path)!r})
      mailman = runtime.load_policy({str(path)!r}, matvec="mailman")
      obs = np.load({str(tmp_path / "obs.npy")!r})
      np.save({str(tmp_path / "act.npy")!r}, np.stack([policy.act(obs), mailman.act(obs)]))
      loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("jax", "jaxlib", "flax") and sys.modules[m])
      assert not loaded, loaded
      print("ok")
  """)
  env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
  proc = subprocess.run(
    [sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60
  )
  assert proc.returncode == 0, proc.stderr
  actions = np.load(tmp_path / "act.npy")
  np.testing.assert_allclose(actions[0], expected, atol=1e-5)
  np.testing.assert_allclose(actions[1], expected, atol=1e-5)


# ---- the export binary --------------------------------------------------------------------------


def test_export_binary_with_a_loader(cases, tmp_path):
  bundle, data, obs, expected = cases["chromatic", "H41"]
  out = tmp_path / "best.chromnas"
  summary = deploy.export_workdir("unused", str(out), loader=lambda workdir, which: bundle)
  assert out.read_bytes() == data
  assert "chromatic" in summary and f"{len(data)} bytes" in summary


def test_export_binary_on_a_trainer_workdir(cases, tmp_path):
  from chromnas.core import bundle as bundle_lib

  bundle, data, obs, expected = cases["masked", "H41,H41"]
  bundle_lib.save_npz(str(tmp_path / "best_policy.npz"), bundle)
  out = tmp_path / "best.chromnas"
  deploy.export_workdir(str(tmp_path), str(out))
  np.testing.assert_allclose(runtime.load_policy(out).act(obs), expected, atol=1e-5)


def _with_valid_crc(data: bytes, old: bytes, new: bytes) -> bytes:
  """`data` with the first `old` replaced by `new` and the checksum recomputed (a file that a
  reader checking only the CRC would accept)."""
  import zlib

  assert len(old) == len(new) and data.find(old) >= 0
  pos = data.find(old)
  body = data[:pos] + new + data[pos + len(old) : -4]
  return body + policy_file._CRC.pack(zlib.crc32(body))  # pylint: disable=protected-access


@pytest.mark.parametrize(
  "what, words",
  [("std", "std must be finite and positive"), ("value", "non-finite weight values"), ("clip", "obs_clip")],
)
def test_reader_validates_what_the_crc_cannot(what, words):
  from chromnas.core.bundle import PolicyBundle
  from chromnas.core.policy_spec import PolicySpec

  spec = PolicySpec(3, 2, (), "chromatic", 2)
  bundle = PolicyBundle(
    spec,
    np.array([0.25, -0.5], np.float32),
    np.array([0, 1, 1, 0, 1, 0], np.int32),
    np.zeros(3, np.float32),
    np.full(3, 7.0, np.float32),
    10.0,
    "x",
  )
  data = policy_file.dumps(bundle)
  policy_file.loads(data)
  if what == "std":
    bad = _with_valid_crc(data, np.full(3, 7.0, "<f4").tobytes(), np.array([7.0, 0.0, 7.0], "<f4").tobytes())
  elif what == "value":
    bad = _with_valid_crc(data, np.array([0.25], "<f4").tobytes(), np.array([np.nan], "<f4").tobytes())
  else:
    import struct

    bad = _with_valid_crc(data, struct.pack("<d", 10.0), struct.pack("<d", -1.0))
  with pytest.raises(ValueError, match=words):
    policy_file.loads(bad)


def test_runtime_refuses_non_finite_observations(tmp_path):
  from chromnas.core.bundle import PolicyBundle
  from chromnas.core.policy_spec import PolicySpec

  spec = PolicySpec(3, 2, (), "chromatic", 2)
  bundle = PolicyBundle(
    spec,
    np.array([0.25, -0.5], np.float32),
    np.array([0, 1, 1, 0, 1, 0], np.int32),
    np.zeros(3, np.float32),
    np.ones(3, np.float32),
    10.0,
    "x",
  )
  policy = runtime.load_policy(policy_file.dumps(bundle))
  assert np.all(np.isfinite(policy.act(np.ones(3))))
  with pytest.raises(ValueError, match="NaN or inf"):
    policy.act(np.array([1.0, np.nan, 0.0]))
