"""Nothing lost, nothing silent: signals, damaged or missing checkpoints, bad settings, bad input."""

import os
import signal
import subprocess
import sys
import time

import binaries
import numpy as np
import pytest

from chromnas.core import bundle as bundle_lib
from chromnas.train import checkpointing, loop
from chromnas.train import config as config_lib
from chromnas.train.iteration import Iteration

ROOT = os.path.join(os.path.dirname(__file__), "..")
TINY = [
  "--config.task=debug_target",
  "--config.num_colors=4",
  "--config.episode_length=20",
  "--config.num_directions=2",
  "--config.eval_every=1",
  "--config.num_workers=1",
  "--config.noise_size=10000",
]


def _train(workdir, *extra, timeout=300):
  return subprocess.run(
    [sys.executable, "-m", "experiments.train", "--config=configs/default.py", f"--workdir={workdir}", *TINY, *extra],
    capture_output=True,
    text=True,
    timeout=timeout,
    cwd=ROOT,
  )


def test_sigterm_checkpoints_the_finished_iterations(tmp_path):
  proc = subprocess.Popen(
    [
      sys.executable,
      "-m",
      "experiments.train",
      "--config=configs/default.py",
      f"--workdir={tmp_path}",
      *TINY,
      "--config.num_iterations=100000",
      "--config.checkpoint_every=1000",
    ],
    stdout=subprocess.PIPE,
    stderr=subprocess.PIPE,
    text=True,
    cwd=ROOT,
  )
  deadline = time.time() + 240
  while time.time() < deadline:
    line = proc.stdout.readline()
    if line.startswith("it ") and int(line.split()[1].split("/")[0]) >= 5:
      break
  proc.send_signal(signal.SIGTERM)
  _, err = proc.communicate(timeout=120)
  assert proc.returncode == 143, err[-2000:]
  assert "terminated (SIGTERM): saved a checkpoint" in err
  with open(tmp_path / "metrics.csv") as f:
    last = int(f.read().strip().splitlines()[-1].split(",")[0])
  assert str(last) in os.listdir(tmp_path / "checkpoints")  # every iteration in the metrics is covered


def test_missing_checkpoints_never_overwrite_results(tmp_path):
  assert _train(tmp_path, "--config.num_iterations=2").returncode == 0
  best = (tmp_path / "best_policy.npz").read_bytes()
  metrics = (tmp_path / "metrics.csv").read_bytes()
  import shutil

  shutil.rmtree(tmp_path / "checkpoints")
  again = _train(tmp_path, "--config.num_iterations=4")
  assert again.returncode == 2 and "no checkpoint to resume from" in again.stderr
  assert again.stderr.strip().count("\n") == 0
  assert (tmp_path / "best_policy.npz").read_bytes() == best and (tmp_path / "metrics.csv").read_bytes() == metrics


def test_a_run_killed_before_its_first_checkpoint_restarts_identically(tmp_path):
  """A kill -9 before the first checkpoint leaves metrics rows and maybe a best policy but no
  checkpoint: the rerun restarts at iteration 0 and recomputes the same rows."""
  reference = tmp_path / "reference"
  assert _train(reference, "--config.num_iterations=4", "--config.checkpoint_every=3").returncode == 0
  import shutil

  # The same command on a second workdir writes the same files; a copy stands for that run.
  killed = tmp_path / "killed"
  shutil.copytree(reference, killed)
  shutil.rmtree(killed / "checkpoints")  # what a kill -9 before iteration 3's save leaves
  os.remove(killed / "latest_policy.npz")
  lines = (killed / "metrics.csv").read_text().splitlines()
  (killed / "metrics.csv").write_text("\n".join(lines[:3]) + "\n")  # header + iterations 1-2
  again = _train(killed, "--config.num_iterations=4", "--config.checkpoint_every=3")
  assert again.returncode == 0, again.stderr[-2000:]
  assert "before its first checkpoint" in again.stdout

  def strip_timing(path):
    import csv

    return [{k: v for k, v in r.items() if k not in ("steps_per_s", "wall_s")} for r in csv.DictReader(open(path))]

  assert strip_timing(killed / "metrics.csv") == strip_timing(reference / "metrics.csv")


def test_a_flipped_byte_in_a_checkpoint_is_caught(tmp_path):
  store = checkpointing.CheckpointStore(str(tmp_path / "ck"), keep=3)
  old = {"a": np.arange(4096, dtype=np.float32), "b": np.ones((3,), np.int32)}
  new = {"a": np.arange(4096, dtype=np.float32) * 2, "b": np.ones((3,), np.int32) * 2}
  store.save(1, old, {})
  store.save(2, new, {})
  # Change one value inside the newest checkpoint's data, as a flipped bit on disk would.
  files = [os.path.join(d, f) for d, _, fs in os.walk(tmp_path / "ck" / "2") for f in fs]
  target = max(files, key=os.path.getsize)
  data = bytearray(open(target, "rb").read())
  marker = np.float32(2 * 1000).tobytes()
  pos = bytes(data).find(marker)
  if pos < 0:  # compressed storage: damage the middle of the data instead
    pos = len(data) // 2
  data[pos] ^= 0x40
  open(target, "wb").write(bytes(data))
  step, state, _ = store.restore_latest(old)
  assert step == 1 and np.array_equal(state["a"], old["a"])
  assert os.listdir(tmp_path / "ck_unreadable")  # the damaged one is kept aside, not deleted
  store.close()


def test_checkpoint_digest_is_checked_directly(tmp_path):
  store = checkpointing.CheckpointStore(str(tmp_path / "ck"))
  store.save(1, {"a": np.zeros(3, np.float32)}, {})
  state, meta = store.restore(1, {"a": np.zeros(3, np.float32)})
  assert meta["state_sha256"] == checkpointing.digest(state)
  assert checkpointing.digest({"a": np.ones(3, np.float32)}) != meta["state_sha256"]
  store.close()


@pytest.mark.parametrize(
  "field, value, words",
  [
    ("learning_rate", float("inf"), "must be finite"),
    ("sigma", float("inf"), "must be finite"),
    ("sigma", 1e9, "must lie in (0, 10]"),
    ("max_wall_minutes", float("nan"), "must be finite"),
    ("reward_shift", -1.0, "reward_shift"),
    ("init_scale", -0.1, "must lie in [0, 10]"),
    ("init_scale", float("nan"), "must be finite"),
    ("num_workers", 100000, "local workers"),
    ("num_workers", -1, "num_workers"),
  ],
)
def test_absurd_settings_are_refused(field, value, words):
  c = config_lib.default_config()
  c[field] = value
  with pytest.raises(ValueError, match=f"config.{field}") as e:
    config_lib.validate(c)
  assert words in str(e.value)


def test_nan_controller_setting_and_typo_are_refused():
  c = config_lib.default_config()
  c.controller.init_logit_scale = float("nan")
  with pytest.raises(ValueError, match="config.controller.init_logit_scale: must be finite"):
    config_lib.validate(c)
  c = config_lib.default_config()
  c.learning_rat = 5.0
  with pytest.raises(ValueError, match="config.learning_rat: unknown field; did you mean config.learning_rate"):
    config_lib.validate(c)


def test_non_finite_parameters_are_never_saved(tmp_path, monkeypatch):
  """Parameters that turn non-finite stop the run with a clear error; what is saved stays finite."""
  import jax.numpy as jnp

  cfg = config_lib.default_config()
  cfg.update(
    dict(
      task="debug_target",
      num_colors=4,
      episode_length=20,
      num_directions=2,
      num_iterations=10,
      eval_every=1,
      checkpoint_every=1,
      num_workers=1,
      noise_size=10000,
    )
  )
  real_call = Iteration.__call__

  def poisoned(self, state):
    state, m = real_call(self, state)
    if int(state.iteration) == 3:
      state = state.replace(params=state.params * jnp.inf)
    return state, m

  monkeypatch.setattr(Iteration, "__call__", poisoned)
  with pytest.raises(FloatingPointError, match="non-finite at iteration 3"):
    loop.train(cfg, str(tmp_path), progress_fn=None)
  assert sorted(int(s) for s in os.listdir(tmp_path / "checkpoints")) == [1, 2]
  bundle, _ = bundle_lib.load_npz(str(tmp_path / "latest_policy.npz"))
  assert np.all(np.isfinite(bundle.params))


BAD_INPUTS = [
  # (binary, arguments, words in the one-line error)
  ("train", ["--config=/nonexistent/config.py"], "No such file"),
  ("train", ["--config=tests/data/bad_syntax_config.py"], "SyntaxError"),
  ("train", ["--config=tests/data/no_get_config.py"], "get_config"),
  ("train", ["--config=tests/data/typo_config.py"], "learning_rat"),
  ("train", ["--config.learning_rat=3"], "learning_rat"),
  ("train", ["--config.sigma=abc"], "config.sigma"),
  ("train", ["--config.task=nope"], "config.task"),
  ("train", ["--config.engine=gpu"], "config.engine"),
  ("train", ["--config.family=sparse"], "config.family"),
  ("train", ["--config.architecture=H0"], "config.architecture"),
  ("train", ["--config.num_colors=0"], "config.num_colors"),
  ("train", ["--config.num_colors=100000"], "config.num_colors"),
  ("train", ["--config.partition_source=magic"], "config.partition_source"),
  ("train", ["--config.family=toeplitz", "--config.partition_source=enas"], "config.partition_source"),
  ("train", ["--config.sigma=-1"], "config.sigma"),
  ("train", ["--config.sigma=inf"], "config.sigma"),
  ("train", ["--config.learning_rate=nan"], "config.learning_rate"),
  ("train", ["--config.learning_rate=0"], "config.learning_rate"),
  ("train", ["--config.obs_clip=-1"], "config.obs_clip"),
  ("train", ["--config.num_directions=0"], "config.num_directions"),
  ("train", ["--config.episode_length=0"], "config.episode_length"),
  ("train", ["--config.num_iterations=-5"], "config.num_iterations"),
  ("train", ["--config.top_directions=99"], "config.top_directions"),
  ("train", ["--config.optimizer=lbfgs"], "config.optimizer"),
  ("train", ["--config.fitness_shaping=cubic"], "config.fitness_shaping"),
  ("train", ["--config.num_workers=100000"], "config.num_workers"),
  ("train", ["--config.max_wall_minutes=nan"], "config.max_wall_minutes"),
  ("train", ["--config.max_env_steps=-1"], "config.max_env_steps"),
  ("train", ["--config.max_lost_fraction=1.5"], "config.max_lost_fraction"),
  ("train", ["--config.noise_size=10"], "config.noise_size"),
  ("train", ["--config.pairs_per_partition=3"], "config.pairs_per_partition"),
  ("train", ["--config.controller.advantage=bogus"], "config.controller.advantage"),
  ("train", ["--config.controller.init_logit_scale=nan"], "config.controller.init_logit_scale"),
  ("train", ["--config.controller.learning_rate=-1"], "config.controller.learning_rate"),
  ("train", ["--config.controller.elite_decay=1.5"], "config.controller.elite_decay"),
  ("train", ["--config.controller.entropy_floor=-0.5"], "config.controller.entropy_floor"),
  ("train", ["--config.reward_shift=-1"], "config.reward_shift"),
  ("train", ["--workdir=WORKDIR_IS_A_FILE"], "File exists"),
  ("train", ["--env_kwargs={bad"], "not valid JSON"),
  ("train", ["--env_kwargs=[1, 2]"], "JSON object"),
  ("evaluate", ["--episodes=-3", "--policy=x"], "--episodes"),
  ("evaluate", ["--episodes=0", "--policy=x"], "--episodes"),
  ("evaluate", ["--policy=/nonexistent.chromnas"], "no such file"),
  ("evaluate", ["--workdir=/nonexistent"], "training workdir"),
  ("evaluate", ["--workdir=/nonexistent", "--policy=x"], "exactly one"),
  ("evaluate", ["--episodes=abc", "--policy=x"], "episodes"),
  ("export", ["--workdir=/nonexistent", "--out=/tmp/x.chromnas"], "/nonexistent"),
  ("export", ["--out=/tmp/x.chromnas"], "--workdir"),
  ("reproduce", ["--rows=nope"], "unknown row"),
  ("reproduce", ["--table=everything"], "table"),
  ("reproduce", ["--set=noequals"], "field=value"),
]


def _bad_input_command(case, folder):
  """The command of a `BAD_INPUTS` case run in `folder` (which holds a file named `file`)."""
  binary, args, _ = case
  args = [a.replace("WORKDIR_IS_A_FILE", str(folder / "file")) for a in args]
  extra = []
  if binary == "train":
    if not any(a.startswith("--config=") for a in args):
      extra.append("--config=configs/default.py")
    if not any(a.startswith("--workdir") for a in args):
      extra.append(f"--workdir={folder / 'w'}")
  return binary, extra + args


@pytest.fixture(scope="module")
def bad_input_results(tmp_path_factory):
  """Every `BAD_INPUTS` case run once (in one server process, `binaries.run_many`), each in its own
  folder: the results and folders by case index."""
  folders = []
  for _ in BAD_INPUTS:
    folder = tmp_path_factory.mktemp("bad_input")
    (folder / "file").write_text("not a directory")
    folders.append(folder)
  results = binaries.run_many([_bad_input_command(c, f) for c, f in zip(BAD_INPUTS, folders)], timeout=60)
  return list(zip(results, folders))


@pytest.mark.parametrize("index", range(len(BAD_INPUTS)), ids=[f"{b}:{' '.join(a)}" for b, a, _ in BAD_INPUTS])
def test_bad_input_is_one_line(bad_input_results, index):
  words = BAD_INPUTS[index][2]
  out, folder = bad_input_results[index]
  assert out.returncode != 0
  lines = out.stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith("error:"), out.stderr[-2000:]
  assert words in lines[0], lines[0]
  assert "Traceback" not in out.stderr
  assert not os.path.exists(folder / "w" / "checkpoints")  # nothing started
  assert out.elapsed < 15  # the binary's own run, imports of the shared libraries aside


@pytest.mark.slow
def test_fault_drill_passes():
  out = subprocess.run(
    [sys.executable, "-m", "experiments.fault_drill", "--kills=2"],
    capture_output=True,
    text=True,
    timeout=1800,
    cwd=ROOT,
  )
  assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
  assert out.stdout.count("| pass |") == 6


def test_bad_env_kwargs_are_one_line(tmp_path):
  out = _train(tmp_path, "--config.num_iterations=1", '--env_kwargs={"no_such_argument": 1}')
  lines = out.stderr.strip().splitlines()
  assert out.returncode != 0 and len(lines) == 1 and "no_such_argument" in lines[0], out.stderr[-2000:]
