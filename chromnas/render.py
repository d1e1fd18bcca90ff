"""Rendered rollouts of a compact policy file: frames, GIF / MP4 files.

The policy runs in the NumPy runtime on the environment it is judged on
(`chromnas.deploy.make_judge_env`); frames come from MuJoCo's offscreen renderer (Gymnasium's
`rgb_array` mode for its environments, `mujoco.Renderer` for ours) or from PyBullet's camera for
Minitaur.  On a machine without a display set `MUJOCO_GL=egl` before MuJoCo is imported (the
`experiments.render` binary does).  Files are written by imageio: GIFs through Pillow, MP4s
through imageio-ffmpeg (`pip install "chromnas[render]"`).
"""

from __future__ import annotations

import os

import numpy as np

from chromnas import deploy
from chromnas.core import episode, runtime
from chromnas.envs import tasks


def _mujoco_camera_frame(env, renderer):
  """A frame of an environment exposing `model` / `data` (our arm tasks), seen from a fixed
  camera framing the whole model."""
  import mujoco  # pylint: disable=g-import-not-at-top

  cam = mujoco.MjvCamera()
  cam.lookat[:] = env.model.stat.center
  cam.distance = 1.6 * env.model.stat.extent
  cam.azimuth, cam.elevation = 135.0, -30.0
  renderer.update_scene(env.data, camera=cam)
  return renderer.render()


def _pybullet_frame(env, width: int, height: int):
  """A frame of the Minitaur from a camera following its base (PyBullet's software renderer)."""
  import pybullet  # pylint: disable=g-import-not-at-top

  cid = env._cid  # pylint: disable=protected-access
  pos, _ = pybullet.getBasePositionAndOrientation(env._robot, physicsClientId=cid)  # pylint: disable=protected-access
  view = pybullet.computeViewMatrixFromYawPitchRoll(pos, 1.0, 30.0, -25.0, 0.0, 2, physicsClientId=cid)
  proj = pybullet.computeProjectionMatrixFOV(60.0, width / height, 0.05, 20.0, physicsClientId=cid)
  _, _, rgba, _, _ = pybullet.getCameraImage(
    width, height, view, proj, renderer=pybullet.ER_TINY_RENDERER, physicsClientId=cid
  )
  return np.asarray(rgba, np.uint8).reshape(height, width, 4)[:, :, :3]


def render_frames(
  policy_path: str,
  episodes: int = 1,
  seed: int = 0,
  width: int = 320,
  height: int = 240,
  max_steps: int | None = None,
  every: int = 1,
) -> list[np.ndarray]:
  """Frames `(height, width, 3)` uint8 of `episodes` episodes of the policy file at `policy_path`.

  Episode `e` is seeded `seed + e` and runs until termination, the task's episode length or
  `max_steps`; every `every`-th control step is kept (plus the first).
  """
  if not (isinstance(episodes, int) and episodes >= 1):
    raise ValueError(f"episodes must be a positive integer, got {episodes!r}")
  if width < 16 or height < 16 or every < 1:
    raise ValueError(f"need width, height >= 16 and every >= 1, got {width}x{height}, every={every}")
  policy = runtime.load_policy(policy_path)
  task = tasks.get_task(policy.env)
  if task.judge:
    kwargs = dict(render_mode="rgb_array", width=width, height=height)
    if task.camera:
      kwargs["camera_name"] = task.camera
    env, length, _ = deploy.make_judge_env(task.name, **kwargs)
    grab = env.render
  else:
    env, length, _ = deploy.make_judge_env(task.name)
    if hasattr(env, "_robot"):
      grab = lambda: _pybullet_frame(env, width, height)  # noqa: E731
    else:
      import mujoco  # pylint: disable=g-import-not-at-top

      renderer = mujoco.Renderer(env.model, height=height, width=width)
      grab = lambda: _mujoco_camera_frame(env, renderer)  # noqa: E731
  length = min(length, max_steps) if max_steps else length
  frames = []

  def keep(t, obs):  # the state after `t` control steps: the first, then every `every`-th
    del obs
    if t % every == 0:
      frames.append(np.array(grab(), np.uint8, copy=True))  # renderers may reuse their buffer

  scale = episode.action_scaler(env.action_space)
  try:
    for e in range(episodes):
      _, steps = episode.run(env, policy.act, seed=seed + e, episode_length=length, scale=scale, observe=keep)
      if steps % every == 0:  # the state after the last step, which no policy acted on
        keep(steps, None)
  finally:
    env.close()
  return frames


def write_video(frames, path: str, fps: float = 30.0) -> str:
  """Writes frames to `path` (`.gif` or `.mp4`, chosen by the extension) and returns it."""
  import imageio.v2 as imageio  # pylint: disable=g-import-not-at-top

  ext = os.path.splitext(path)[1].lower()
  if ext not in (".gif", ".mp4"):
    raise ValueError(f"{path}: write a .gif or an .mp4")
  if not frames:
    raise ValueError("no frames to write")
  tmp = path + ".tmp" + ext
  if ext == ".gif":
    imageio.mimsave(tmp, list(frames), duration=1000.0 / fps, loop=0)  # milliseconds per frame (Pillow)
  else:
    imageio.mimsave(tmp, list(frames), fps=fps, macro_block_size=1)
  os.replace(tmp, path)
  return path
