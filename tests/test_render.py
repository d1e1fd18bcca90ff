"""Rendered rollouts: `experiments.render` writes GIF / MP4 files with frames of the asked size."""

import os
import subprocess
import sys

import numpy as np
import pytest

from chromnas.core import policy_file
from chromnas.core.bundle import PolicyBundle
from chromnas.core.policy_spec import PolicySpec

ROOT = os.path.join(os.path.dirname(__file__), "..")


def _policy_file(tmp_path, task, obs_dim, act_dim, num_colors=5):
  spec = PolicySpec(obs_dim, act_dim, (), "chromatic", num_colors)
  rng = np.random.default_rng(0)
  bundle = PolicyBundle(
    spec,
    rng.normal(0, 0.3, spec.num_params).astype(np.float32),
    rng.integers(0, num_colors, spec.structure_size).astype(np.int32),
    np.zeros(obs_dim, np.float32),
    np.ones(obs_dim, np.float32),
    10.0,
    task,
  )
  path = tmp_path / f"{task}.chromnas"
  policy_file.write_policy(str(path), bundle)
  return path


@pytest.mark.parametrize(
  "task, obs_dim, act_dim, out",
  [
    ("hopper", 11, 3, "rollout.gif"),  # Gymnasium's MuJoCo renderer (EGL)
    ("striker", 23, 7, "rollout.mp4"),  # our MuJoCo arm task, mujoco.Renderer
    ("minitaur", 28, 8, "gait.gif"),  # PyBullet's camera
  ],
)
def test_render_writes_frames_of_the_right_size(tmp_path, task, obs_dim, act_dim, out):
  import imageio.v2 as imageio

  policy = _policy_file(tmp_path, task, obs_dim, act_dim)
  target = tmp_path / out
  res = subprocess.run(
    [
      sys.executable,
      "-m",
      "experiments.render",
      f"--policy={policy}",
      f"--out={target}",
      "--max_steps=12",
      "--every=3",
      "--width=96",
      "--height=64",
    ],
    capture_output=True,
    text=True,
    timeout=300,
    cwd=ROOT,
    env={**os.environ, "MUJOCO_GL": "egl"},
  )
  assert res.returncode == 0, res.stderr[-2000:]
  if out.endswith(".gif"):
    frames = imageio.mimread(str(target))
  else:
    with imageio.get_reader(str(target), "ffmpeg") as reader:
      frames = [reader.get_data(i) for i in range(reader.count_frames())]
  assert 2 <= len(frames) <= 5
  assert all(f.shape[:2] == (64, 96) for f in frames)
  assert max(float(np.std(f[..., :3])) for f in frames) > 5.0  # a picture, not a blank frame


def test_render_refuses_bad_output(tmp_path):
  policy = _policy_file(tmp_path, "hopper", 11, 3)
  res = subprocess.run(
    [sys.executable, "-m", "experiments.render", f"--policy={policy}", f"--out={tmp_path}/x.avi"],
    capture_output=True,
    text=True,
    timeout=120,
    cwd=ROOT,
  )
  assert res.returncode == 2 and "write a .gif or an .mp4" in res.stderr
