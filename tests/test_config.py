"""Bad configs fail before anything compiles, with one message naming the field."""

import subprocess
import sys

import pytest

from chromnas.train import config


def _cfg(**overrides):
  c = config.default_config()
  for k, v in overrides.items():
    c[k] = v
  return c


@pytest.mark.parametrize(
  "overrides, field",
  [
    ({"task": "cartpole"}, "task"),
    ({"family": "hexagonal"}, "family"),
    ({"engine": "gpu"}, "engine"),
    ({"engine": "brax", "backend": "warp"}, "backend"),
    ({"engine": "brax", "task": "swimmer", "backend": "positional"}, "backend"),
    ({"num_colors": 500}, "num_colors"),
    ({"num_colors": 0}, "num_colors"),
    ({"sigma": -0.1}, "sigma"),
    ({"sigma": 0.0}, "sigma"),
    ({"num_directions": 0}, "num_directions"),
    ({"learning_rate": -1.0}, "learning_rate"),
    ({"architecture": "MLP"}, "architecture"),
    ({"partition_source": "oracle"}, "partition_source"),
    ({"family": "unstructured", "partition_source": "enas"}, "partition_source"),
    ({"top_directions": 99}, "top_directions"),
    ({"optimizer": "lbfgs"}, "optimizer"),
    ({"fitness_shaping": "softmax"}, "fitness_shaping"),
    ({"episode_length": 0}, "episode_length"),
    ({"host_backend": "slurm"}, "host_backend"),
    ({"task": "debug_target", "engine": "brax"}, "engine"),
    ({"pairs_per_partition": 3}, "pairs_per_partition"),
    ({"pairs_per_partition": -1}, "pairs_per_partition"),
  ],
)
def test_bad_field_is_named(overrides, field):
  with pytest.raises(ValueError, match=rf"^config\.{field}:"):
    config.validate(_cfg(**overrides))


@pytest.mark.parametrize("field, value", [("advantage", "softmax"), ("hidden_size", 0), ("learning_rate", 0.0)])
def test_bad_controller_field_is_named(field, value):
  c = config.default_config()
  c.controller[field] = value
  with pytest.raises(ValueError, match=rf"^config\.controller\.{field}:"):
    config.validate(c)


def test_default_config_is_valid():
  spec = config.validate(config.default_config())
  assert (spec.obs_dim, spec.act_dim, spec.family, spec.num_colors) == (17, 6, "chromatic", 17)


def test_k_larger_than_weights_message_names_counts():
  with pytest.raises(ValueError, match=r"K=200 must lie in \[1, 102\]"):
    config.validate(_cfg(num_colors=200))


def test_train_binary_reports_bad_config(tmp_path):
  proc = subprocess.run(
    [
      sys.executable,
      "-m",
      "experiments.train",
      "--config=configs/default.py",
      "--config.task=cartpole",
      f"--workdir={tmp_path}",
    ],
    capture_output=True,
    text=True,
  )
  assert proc.returncode == 2
  assert "config.task: unknown task 'cartpole'" in proc.stderr


def test_every_config_file_validates():
  import importlib
  import pathlib

  files = [p.stem for p in pathlib.Path("configs").glob("*.py") if p.stem not in ("__init__", "poster_row")]
  assert len(files) >= 30
  for name in files:
    cfg = importlib.import_module(f"configs.{name}").get_config()
    config.validate(cfg)


def test_option_lists_have_one_home():
  """The config names the choices of the modules that implement them."""
  import re

  from chromnas.search import controller, partition_sources

  for field, value, choices in [
    ("partition_source", "oracle", partition_sources.KINDS),
    ("optimizer", "lbfgs", tuple(config.OPTIMIZERS)),
  ]:
    with pytest.raises(ValueError, match=re.escape(str(choices))):
      config.validate(_cfg(**{field: value}))
  c = config.default_config()
  c.controller.advantage = "softmax"
  with pytest.raises(ValueError, match=re.escape(str(controller.ADVANTAGES))):
    config.validate(c)
  assert config.default_config().evolution.to_dict() == partition_sources.EVOLUTION_DEFAULTS
