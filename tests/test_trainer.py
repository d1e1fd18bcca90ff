"""End-to-end training on the host pool with tiny tasks: learning, metrics, checkpoints,
interrupt-and-resume determinism, corrupt checkpoints, diverging simulators, the binaries."""

import csv
import os
import shutil
import subprocess
import sys

import binaries
import jax
import numpy as np
import pytest

from chromnas.core import bundle as bundle_lib
from chromnas.train import build, config, loop

TINY = dict(
  task="debug_target",
  family="chromatic",
  num_colors=4,
  episode_length=20,
  num_directions=4,
  num_workers=2,
  num_iterations=6,
  eval_every=2,
  eval_episodes=2,
  checkpoint_every=2,
  noise_size=100_000,
  learning_rate=0.05,
)


def tiny_config(**overrides):
  c = config.default_config()
  c.update({**TINY, **overrides})
  return c


def _quiet(row, cfg):
  del row, cfg


def test_learns_known_optimum(tmp_path):
  cfg = tiny_config(
    family="unstructured",
    partition_source="none",
    num_iterations=40,
    eval_every=40,
    eval_episodes=4,
    sigma=0.05,
    num_directions=8,
  )
  state = loop.train(cfg, str(tmp_path), progress_fn=_quiet)
  rows = list(csv.DictReader(open(tmp_path / "metrics.csv")))
  first, last = float(rows[0]["reward_mean"]), float(rows[-1]["reward_mean"])
  assert last > 0.5 * first  # rewards are negative; the error at least halves
  assert float(state.best_return) > 0.5 * first


def test_metrics_checkpoints_and_best_policy(tmp_path):
  loop.train(tiny_config(), str(tmp_path), progress_fn=_quiet)
  rows = list(csv.DictReader(open(tmp_path / "metrics.csv")))
  assert [int(r["iteration"]) for r in rows] == [1, 2, 3, 4, 5, 6]
  for field in ("iteration", "env_steps", "reward_mean", "reward_max", "eval_return", "steps_per_s", "wall_s"):
    assert field in rows[0]
  assert int(rows[-1]["env_steps"]) == 6 * 8 * 20
  assert rows[1]["eval_return"] != "" and rows[0]["eval_return"] == ""
  assert sorted(os.listdir(tmp_path / "checkpoints"))[-1] == "6"
  bundle = bundle_lib.load_workdir_policy(str(tmp_path), "best")
  assert bundle.structure.shape == (8,) and bundle.params.shape == (4,)
  assert any(f.startswith("events") for f in os.listdir(tmp_path / "tb"))


@pytest.mark.parametrize(
  "source,error", [("fixed", KeyboardInterrupt), ("enas", KeyboardInterrupt), ("fixed", BrokenPipeError)]
)
def test_interrupted_and_resumed_run_equals_uninterrupted(tmp_path, source, error):
  """Same seed: a run stopped at iteration 3 (Ctrl-C, or an error such as a closed output pipe)
  and resumed ends with the same parameters, normaliser and (for enas) controller as one that
  ran straight through."""
  straight = loop.train(tiny_config(partition_source=source), str(tmp_path / "a"), progress_fn=_quiet)

  def stop_at_3(row, cfg):
    del cfg
    if row["iteration"] == 3:
      raise error

  with pytest.raises(error):
    loop.train(tiny_config(partition_source=source), str(tmp_path / "b"), progress_fn=stop_at_3)
  assert "3" in os.listdir(tmp_path / "b" / "checkpoints")  # the last finished iteration was saved
  resumed = loop.train(tiny_config(partition_source=source), str(tmp_path / "b"), progress_fn=_quiet)
  np.testing.assert_array_equal(np.asarray(straight.params), np.asarray(resumed.params))
  for a, b in zip(jax.tree.leaves(straight.source_state), jax.tree.leaves(resumed.source_state)):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  np.testing.assert_array_equal(np.asarray(straight.obs_stats.mean), np.asarray(resumed.obs_stats.mean))
  rows = list(csv.DictReader(open(tmp_path / "b" / "metrics.csv")))
  assert [int(r["iteration"]) for r in rows] == [1, 2, 3, 4, 5, 6]


def test_corrupt_checkpoint_falls_back_then_fails_clearly(tmp_path):
  cfg = tiny_config(num_iterations=4)
  loop.train(cfg, str(tmp_path), progress_fn=_quiet)
  ckpts = tmp_path / "checkpoints"
  for root, _, files in os.walk(ckpts / "4"):
    for f in files:
      with open(os.path.join(root, f), "wb") as fh:
        fh.write(b"garbage")
  state = loop.train(tiny_config(num_iterations=4), str(tmp_path), progress_fn=_quiet)
  assert int(state.iteration) == 4  # resumed from checkpoint 2 and redid 3..4
  for step in os.listdir(ckpts):
    shutil.rmtree(ckpts / step / "state")
  with pytest.raises(RuntimeError, match="no checkpoint .* could be read"):
    loop.train(tiny_config(num_iterations=6), str(tmp_path), progress_fn=_quiet)


def test_diverging_simulator_never_reaches_parameters(tmp_path):
  state = loop.train(tiny_config(task="debug_nan", num_iterations=4), str(tmp_path), progress_fn=_quiet)
  rows = list(csv.DictReader(open(tmp_path / "metrics.csv")))
  assert sum(float(r["num_nonfinite"]) for r in rows) > 0
  assert np.all(np.isfinite(np.asarray(state.params)))
  assert np.all(np.isfinite(np.asarray(state.obs_stats.mean)))


def test_workdir_with_other_config_is_refused(tmp_path):
  loop.train(tiny_config(num_iterations=2), str(tmp_path), progress_fn=_quiet)
  with pytest.raises(ValueError, match="config.num_colors=4"):
    loop.train(tiny_config(num_iterations=4, num_colors=3), str(tmp_path), progress_fn=_quiet)


def test_init_scale_sets_the_starting_values_and_the_run(tmp_path):
  """`config.init_scale` draws the initial values at that std (the default draw, rescaled), and a
  workdir started at one scale cannot be resumed at another."""
  from chromnas.core import policy_spec

  spec = policy_spec.make_spec(4, 2, "H41", "chromatic", 4)
  source = build.make_source("fixed", spec, {})
  opt = build.make_optimizer("adam", 0.01)
  default = build.init_state(0, spec, source, opt).params
  small = build.init_state(0, spec, source, opt, 0.01).params
  np.testing.assert_allclose(small[:4], default[:4] * 0.01 * np.sqrt(4), rtol=1e-5)
  saved = tiny_config(init_scale=0.01)
  (tmp_path / "config.json").write_text(saved.to_json_best_effort())
  loop.check_same_run(build.identity(saved), str(tmp_path))
  with pytest.raises(ValueError, match="config.init_scale=0.01"):
    loop.check_same_run(build.identity(tiny_config(init_scale=0.02)), str(tmp_path))


def test_nested_identity_field_is_checked(tmp_path):
  """A controller of another size cannot resume the saved one (its checkpoint would not fit)."""
  import json

  saved = tiny_config(partition_source="enas")
  (tmp_path / "config.json").write_text(json.dumps(json.loads(saved.to_json_best_effort())))
  loop.check_same_run(build.identity(saved), str(tmp_path))  # the same config resumes
  other = tiny_config(partition_source="enas")
  other.controller.hidden_size = 2 * saved.controller.hidden_size
  with pytest.raises(ValueError, match="config.controller.hidden_size="):
    loop.check_same_run(build.identity(other), str(tmp_path))
  # Without a controller its size is irrelevant: a fixed-partition run resumes whatever it says.
  fixed = tiny_config(partition_source="fixed")
  (tmp_path / "config.json").write_text(json.dumps(json.loads(fixed.to_json_best_effort())))
  fixed.controller.hidden_size += 1
  loop.check_same_run(build.identity(fixed), str(tmp_path))


def test_train_and_evaluate_binaries(tmp_path):
  args = [
    sys.executable,
    "-m",
    "experiments.train",
    "--config=configs/default.py",
    f"--workdir={tmp_path}",
    "--config.task=debug_target",
    "--config.num_colors=4",
    "--config.episode_length=20",
    "--config.num_directions=2",
    "--config.num_iterations=2",
    "--config.eval_every=1",
    "--config.num_workers=1",
    "--config.noise_size=10000",
  ]
  out = subprocess.run(args, capture_output=True, text=True, timeout=300)
  assert out.returncode == 0, out.stderr[-2000:]
  assert "it     2/2" in out.stdout and "ETA" in out.stdout
  # The binaries that read the workdir, in one server process (`binaries.run_many`), each as
  # `python -m experiments.<binary>`.
  out_file, png, curves = tmp_path / "policy.chromnas", tmp_path / "partition.png", tmp_path / "curves.png"
  ev, ex, draw, plot, missing = binaries.run_many(
    [
      ("evaluate", [f"--workdir={tmp_path}", "--episodes=3"]),
      ("export", [f"--workdir={tmp_path}", f"--out={out_file}"]),
      ("draw_partition", [f"--workdir={tmp_path}", f"--out={png}"]),
      ("plot_curves", [f"--out={curves}", f"a={tmp_path},{tmp_path}"]),
      ("evaluate", [f"--workdir={tmp_path / 'nope'}"]),
    ],
    timeout=300,
  )
  assert ev.returncode == 0, ev.stderr[-2000:]
  assert "return" in ev.stdout and "+-" in ev.stdout and "over 3 episodes" in ev.stdout
  assert ex.returncode == 0, ex.stderr[-2000:]
  from chromnas.core import runtime
  from chromnas.model import policies

  bundle = bundle_lib.load_workdir_policy(str(tmp_path))
  obs = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
  normed = np.clip((obs - bundle.obs_mean) / bundle.obs_std, -bundle.obs_clip, bundle.obs_clip)
  np.testing.assert_allclose(
    runtime.load_policy(out_file).act(obs),
    policies.apply(bundle.spec, bundle.params, bundle.structure, normed),
    atol=1e-5,
  )
  assert draw.returncode == 0, draw.stderr[-2000:]
  assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
  assert plot.returncode == 0, plot.stderr[-2000:]
  assert curves.read_bytes()[:4] == b"\x89PNG"
  summary = plot.stdout.splitlines()
  assert summary[0].split()[:5] == ["label", "first", "reward_mean", "final", "reward_mean"] and summary[1].startswith(
    "a "
  )
  assert missing.returncode == 2 and "training workdir" in missing.stderr


def test_brax_engine_trains(tmp_path):
  """The same driver on the Brax engine (one jitted step per iteration): metrics, checkpoint, best policy."""
  cfg = tiny_config(
    task="hopper", engine="brax", num_colors=5, episode_length=10, num_iterations=3, eval_every=2, checkpoint_every=3
  )
  state = loop.train(cfg, str(tmp_path), progress_fn=_quiet)
  assert int(state.iteration) == 3
  rows = list(csv.DictReader(open(tmp_path / "metrics.csv")))
  assert [int(r["iteration"]) for r in rows] == [1, 2, 3]
  assert rows[1]["eval_return"] != "" and np.isfinite(float(rows[1]["eval_return"]))
  assert "3" in os.listdir(tmp_path / "checkpoints")
  assert bundle_lib.load_workdir_policy(str(tmp_path)).structure.shape == (33,)


def test_tensorboard_gets_partition_and_entropy_images(tmp_path):
  cfg = tiny_config(partition_source="enas", image_every=2)
  loop.train(cfg, str(tmp_path), progress_fn=_quiet)
  events = b"".join(open(os.path.join(d, f), "rb").read() for d, _, fs in os.walk(tmp_path / "tb") for f in fs)
  assert b"partition/layer0" in events and b"entropy/layer0" in events


def test_structure_images_shapes_and_colors():
  from chromnas.train.metrics import structure_images

  structure = np.array([0, 1, 2, 0, 1, 2, 3, 3], np.int32)
  images = structure_images(structure, [(2, 3), (1, 2)], 4, entropy=np.linspace(0, np.log(4), 8), scale=2)
  assert images["partition/layer0"].shape == (4, 6, 3) and images["partition/layer1"].shape == (2, 4, 3)
  assert images["partition/layer0"].dtype == np.uint8
  layer0 = images["partition/layer0"][::2, ::2]
  assert np.array_equal(layer0[0, 0], layer0[1, 0]) and not np.array_equal(layer0[0, 0], layer0[0, 1])
  ent = images["entropy/layer1"][::2, ::2].astype(int)
  assert ent[0, 1].sum() > ent[0, 0].sum()  # higher entropy is brighter


@pytest.mark.parametrize("engine", ["host", pytest.param("brax", marks=pytest.mark.slow)])
def test_forward_fd_estimator_trains(tmp_path, engine):
  """`estimator='forward_fd'` (the poster's eq. 1) trains end to end on both engines: each
  iteration runs `2t` one-sided directions plus one episode at the centre (host: and learns the
  debug task; Brax: a chromatic Hopper with its partitions runs and evaluates)."""
  if engine == "host":
    cfg = tiny_config(
      estimator="forward_fd",
      family="unstructured",
      partition_source="none",
      num_iterations=30,
      eval_every=30,
      eval_episodes=4,
      sigma=0.05,
      num_directions=8,
    )
  else:
    cfg = tiny_config(
      estimator="forward_fd",
      task="hopper",
      engine="brax",
      num_colors=5,
      episode_length=10,
      num_iterations=3,
      eval_every=3,
      checkpoint_every=3,
      partition_source="enas",
    )
  state = loop.train(cfg, str(tmp_path), progress_fn=_quiet)
  rows = list(csv.DictReader(open(tmp_path / "metrics.csv")))
  assert int(rows[0]["env_steps"]) <= (2 * cfg.num_directions + 1) * cfg.episode_length
  assert np.isfinite(float(state.best_return))
  if engine == "host":
    assert int(rows[0]["env_steps"]) == (2 * 8 + 1) * 20
    first, last = float(rows[0]["reward_mean"]), float(rows[-1]["reward_mean"])
    assert last > 0.5 * first  # rewards are negative; the error at least halves


def test_forward_fd_refuses_top_directions():
  with pytest.raises(ValueError, match="config.top_directions: ARS top-b needs antithetic pairs"):
    config.validate(tiny_config(estimator="forward_fd", top_directions=2))
  with pytest.raises(ValueError, match="config.estimator: unknown estimator 'central'"):
    config.validate(tiny_config(estimator="central"))
