"""Renders episodes of a compact policy file to a GIF or an MP4.

  python -m experiments.render --policy=results/zoo/halfcheetah_l_chromatic17.chromnas --out=rollout.gif
  python -m experiments.render --policy=results/zoo/minitaur_l_chromatic13.chromnas --out=gait.mp4 --episodes=1

The policy runs in the NumPy runtime on the environment it is judged on; MuJoCo tasks are drawn
by MuJoCo's offscreen renderer (EGL, no display needed), Minitaur by PyBullet's camera.
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("MUJOCO_GL", "egl")  # before anything imports mujoco: no display needed

from absl import (
  app,  # noqa: E402
  flags,  # noqa: E402
)

from experiments import parse_flags_or_exit  # noqa: E402

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
    print(f"error: unexpected arguments {argv[1:]}", file=sys.stderr)
    sys.exit(2)
  if not _POLICY.value or not os.path.isfile(_POLICY.value):
    print(f"error: --policy={_POLICY.value}: no such file", file=sys.stderr)
    sys.exit(2)
  if os.path.splitext(_OUT.value)[1].lower() not in (".gif", ".mp4"):
    print(f"error: --out={_OUT.value}: write a .gif or an .mp4", file=sys.stderr)
    sys.exit(2)
  if os.path.isdir(_OUT.value):
    print(f"error: --out={_OUT.value} is a directory", file=sys.stderr)
    sys.exit(2)
  from chromnas import render

  try:
    frames = render.render_frames(
      _POLICY.value, _EPISODES.value, _SEED.value, _WIDTH.value, _HEIGHT.value, _MAX_STEPS.value or None, _EVERY.value
    )
    render.write_video(frames, _OUT.value, _FPS.value)
  except (ValueError, ImportError) as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(2)
  print(f"wrote {_OUT.value}: {len(frames)} frames of {frames[0].shape[1]}x{frames[0].shape[0]}")


if __name__ == "__main__":
  app.run(main, flags_parser=parse_flags_or_exit)
