"""Renders episodes of a compact policy file to a GIF or an MP4.

  python -m experiments.render --policy=results/zoo/halfcheetah_l_chromatic17.chromnas --out=rollout.gif
  python -m experiments.render --policy=results/zoo/minitaur_l_chromatic13.chromnas --out=gait.mp4 --episodes=1

The policy runs in the NumPy runtime on the environment it is judged on; MuJoCo tasks are drawn
by MuJoCo's offscreen renderer (EGL, no display needed), Minitaur by PyBullet's camera.
"""

from __future__ import annotations

import os

os.environ.setdefault("MUJOCO_GL", "egl")  # before anything imports mujoco: no display needed

from absl import (
  app,  # noqa: E402
  flags,  # noqa: E402
)

from experiments import check_input_file, check_output_file, fail, parse_flags_or_exit  # noqa: E402

_POLICY = flags.DEFINE_string("policy", None, "A compact policy file (.chromnas).")
_OUT = flags.DEFINE_string("out", "rollout.gif", "Output file, .gif or .mp4.")
_EPISODES = flags.DEFINE_integer("episodes", 1, "Episodes to render, one after the other.")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of the first episode.")
_WIDTH = flags.DEFINE_integer("width", 320, "Frame width in pixels.")
_HEIGHT = flags.DEFINE_integer("height", 240, "Frame height in pixels.")
_MAX_STEPS = flags.DEFINE_integer("max_steps", 0, "Stop each episode after this many steps (0: the task's length).")
_EVERY = flags.DEFINE_integer("every", 2, "Keep every this many control steps.")
_FPS = flags.DEFINE_float("fps", 25.0, "Frames per second of the file.")


def main(argv):
  if len(argv) > 1:
    fail(f"unexpected arguments {argv[1:]}")
  # Checked before any frame is rendered: a bad --out would otherwise fail only at the end.
  check_input_file("policy", _POLICY.value)
  if os.path.splitext(_OUT.value or "")[1].lower() not in (".gif", ".mp4"):
    fail(f"--out={_OUT.value}: write a .gif or an .mp4")
  check_output_file("out", _OUT.value)
  for flag, value in (
    ("episodes", _EPISODES.value),
    ("width", _WIDTH.value),
    ("height", _HEIGHT.value),
    ("every", _EVERY.value),
  ):
    if value < 1:
      fail(f"--{flag} must be >= 1, got {value}")
  if _MAX_STEPS.value < 0:
    fail(f"--max_steps must be >= 0 (0: the task's length), got {_MAX_STEPS.value}")
  if not _FPS.value > 0:
    fail(f"--fps must be positive, got {_FPS.value}")
  from chromnas import render

  try:
    frames = render.render_frames(
      _POLICY.value, _EPISODES.value, _SEED.value, _WIDTH.value, _HEIGHT.value, _MAX_STEPS.value or None, _EVERY.value
    )
    render.write_video(frames, _OUT.value, _FPS.value)
  except (ValueError, ImportError, OSError) as e:
    fail(str(e).splitlines()[0] if str(e) else type(e).__name__)
  print(f"wrote {_OUT.value}: {len(frames)} frames of {frames[0].shape[1]}x{frames[0].shape[0]}")


if __name__ == "__main__":
  app.run(main, flags_parser=parse_flags_or_exit)
