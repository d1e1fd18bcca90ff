"""chromnas: Chromatic Networks (ENAS-searched weight sharing + ES) in JAX."""

from setuptools import find_packages, setup

# Version ranges measured to install together (see WORKSPACE_NOTES.md and DESIGN.md).
CORE = [
  "numpy>=1.26",
  "jax>=0.10.2,<0.11",
  "flax>=0.12.8,<0.13",
  "optax>=0.2.8,<0.3",
  "chex>=0.1.92,<0.2",
  "brax>=0.14.2,<0.15",
  "mujoco>=4.0,<5",
  "mujoco-mjx>=3.17",
  "absl-py>=2.0",
  "ml-collections>=1.0",
  "orbax-checkpoint>=0.12.8,<0.13",
  "tensorboardX>=2.6",
  "matplotlib>=3.8",
]
HOST = ["gymnasium[mujoco]>=1.4,<2", "pybullet>=3.2.7"]
RAY = ["ray[default]>=2.40"]
RENDER = ["imageio>=2.30", "imageio-ffmpeg>=0.5"]  # GIF (Pillow) and MP4 writing for experiments.render
FAST = ["numba>=0.68"]  # compiled chromatic matvec in the NumPy runtime (chromnas.core.mailman)
ONNX = ["onnx>=1.14", "onnxruntime>=1.16"]  # ONNX export of policy files (chromnas.export.onnx_export) and its check
# Seed statistics of the reports (chromnas.seed_stats): rliable's IQM and bootstrap intervals.  rliable
# imports arch, whose 7.x releases fail to import beside pandas 3 and whose 8.x rejects rliable's
# bootstrap arguments; these ranges import and run together.
STATS = ["rliable>=1.2", "arch>=7,<8", "pandas<3"]
TEST = ["pytest>=8", "pytest-xdist>=3", "hypothesis>=6.100", "nbmake>=1.5.5"] + RENDER + FAST + ONNX + STATS

setup(
  name="chromnas",
  version="0.1.0",
  description=(
    "Chromatic Networks: ENAS-searched weight sharing for RL policies trained by Evolution Strategies, in JAX."
  ),
  long_description=open("README.md", encoding="utf-8").read(),
  long_description_content_type="text/markdown",
  license="Apache-2.0",
  packages=find_packages(include=["chromnas", "chromnas.*", "experiments", "experiments.*", "configs", "configs.*"]),
  python_requires=">=3.10",
  install_requires=CORE,
  extras_require={
    "host": HOST,
    "ray": RAY,
    "render": RENDER,
    "fast": FAST,
    "onnx": ONNX,
    "stats": STATS,
    "test": TEST,
    "all": HOST + RAY + TEST,
  },
)
