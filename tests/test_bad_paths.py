"""Every binary's bad path ends in one line `error: ...` naming what is wrong, and exit status 2.

Each case runs the binary with one wrong value (a missing file or folder, a directory where a file
belongs, a wrong extension, an unwritable path, a malformed address) and checks it fails before any
work: one stderr line, no traceback, nothing left behind in the scratch folder.
"""

import os
import pathlib

import binaries
import pytest

from chromnas.train import build, config

ROOT = pathlib.Path(__file__).resolve().parent.parent
POLICY = ROOT / "results" / "zoo" / "hopper_h41_chromatic11.chromnas"

# (binary, arguments, words the error line must hold).  In the arguments, {D} is an empty scratch
# folder, {F} a text file in it, {W} a folder holding a broken `config.json`.
CASES = [
  # export: the directory-as-output, then every other wrong path.
  ("export", ["--workdir={D}", "--out={D}"], "is a directory"),
  ("export", ["--workdir={D}", "--out={D}/missing/p.chromnas"], "no such directory"),
  ("export", ["--workdir={D}", "--out=/proc/p.chromnas"], "cannot write"),
  ("export", ["--workdir={D}", "--out={D}/p.txt"], "write a .chromnas"),
  ("export", ["--workdir={D}/missing", "--out={D}/p.chromnas"], "no such directory"),
  ("export", ["--workdir={F}", "--out={D}/p.chromnas"], "is a file"),
  ("export", ["--workdir={D}", "--out={D}/p.chromnas"], "best_policy.npz does not exist"),
  ("export", ["--policy={D}", "--format=onnx", "--out={D}/p.onnx"], "is a directory"),
  ("export", ["--policy={F}", "--format=onnx", "--out={D}/p.onnx"], "expected a .chromnas"),
  ("export", ["--policy=" + str(POLICY), "--format=onnx", "--out={D}/p.chromnas"], "write a .onnx"),
  ("export", ["--policy=" + str(POLICY), "--format=c", "--out={F}"], "not a directory"),
  ("export", ["--policy=" + str(POLICY), "--format=c", "--out=/proc/c_out"], "cannot write"),
  # render: the missing output folder, found before any frame is drawn.
  ("render", ["--policy=" + str(POLICY), "--out={D}/missing/r.gif"], "no such directory"),
  ("render", ["--policy=" + str(POLICY), "--out=/proc/r.gif"], "cannot write"),
  ("render", ["--policy=" + str(POLICY), "--out={D}/r.avi"], "write a .gif or an .mp4"),
  ("render", ["--policy=" + str(POLICY), "--out={D}/dir.gif"], "is a directory"),
  ("render", ["--policy={D}", "--out={D}/r.gif"], "is a directory"),
  ("render", ["--policy={D}/missing.chromnas", "--out={D}/r.gif"], "no such file"),
  ("render", ["--policy=" + str(POLICY), "--out={D}/r.gif", "--episodes=0"], "--episodes"),
  # evaluate
  ("evaluate", ["--policy={D}"], "is a directory"),
  ("evaluate", ["--policy={F}"], "--policy="),
  ("evaluate", ["--workdir={F}"], "training workdir"),
  ("evaluate", ["--workdir={W}"], "not a JSON config"),
  ("evaluate", ["--workdir={D}/missing"], "training workdir"),
  # train: config files, workdirs, the Ray address
  ("train", ["--config={D}/missing.py", "--workdir={D}/w"], "cannot load --config"),
  ("train", ["--config={D}", "--workdir={D}/w"], "--config"),
  ("train", ["--config={F}", "--workdir={D}/w"], "--config"),
  ("train", ["--config=configs/default.py", "--workdir={F}"], "File exists"),
  ("train", ["--config=configs/default.py", "--workdir=/proc/w"], "cannot write"),
  ("train", ["--config=configs/default.py", "--workdir={D}/w", "--config.ray_address=host:99999"], "ray_address"),
  (
    "train",
    ["--config=configs/default.py", "--workdir={D}/w", "--config.host_backend=ray", "--config.ray_address=127.0.0.1:1"],
    "no Ray cluster answers at 127.0.0.1:1",
  ),
  # draw_partition, plot_curves
  ("draw_partition", ["--workdir={D}/missing", "--out={D}/p.png"], "no such directory"),
  ("draw_partition", ["--workdir={D}", "--out={D}/p.txt"], "write a .png"),
  ("draw_partition", ["--workdir={D}", "--out=/proc/p.png"], "cannot write"),
  ("draw_partition", ["--workdir={D}", "--out={D}/p.png"], "best_policy.npz does not exist"),
  ("plot_curves", ["--out={D}/c.png", "a={D}/missing"], "no metrics.csv"),
  ("plot_curves", ["--out={D}/c.txt", "a={D}"], "write a .png"),
  ("plot_curves", ["--out={D}/missing/c.png", "a={D}"], "no such directory"),
  ("plot_curves", ["--out={D}/c.png", "no_label"], "label=workdir"),
  # the flag-only binaries
  ("list_tasks", ["--no_such_flag"], "no_such_flag"),
  ("list_tasks", ["stray"], "unexpected arguments"),
  ("footprint", ["--format=xml"], "format"),
  ("bench_controller", ["--config={D}/missing.py"], "cannot load --config"),
  ("bench_scaling", ["--config=no_such_row"], "no such config module"),
  ("bench_scaling", ["--workers=many"], "--workers"),
  ("bench_throughput", ["--task=no_such_task"], "--task"),
  ("bench_inference", ["--sizes=41by17"], "--sizes"),
  ("bench_inference", ["--colors=two"], "--colors"),
  ("bench_inference", ["--rounds=0"], "--rounds must be at least 1"),
]


def _scratch(folder):
  """An empty scratch folder as the cases expect it: a text file, a folder named like an output
  file, a run folder with a broken `config.json`."""
  (folder / "notes.txt").write_text("not a policy, not a config\n")
  (folder / "dir.gif").mkdir()
  broken = folder / "broken_run"
  broken.mkdir()
  (broken / "config.json").write_text("{not json")
  return folder


@pytest.fixture(scope="module")
def bad_path_results(tmp_path_factory):
  """Every case of `CASES` run once, each in its own scratch folder (one server process,
  `binaries.run_many`): (result, scratch folder, its listing before the run) by case index."""
  runs, commands = [], []
  for binary, args, _ in CASES:
    scratch = _scratch(tmp_path_factory.mktemp("bad_path"))
    values = {"{D}": str(scratch), "{F}": str(scratch / "notes.txt"), "{W}": str(scratch / "broken_run")}
    for key, value in values.items():
      args = [a.replace(key, value) for a in args]
    runs.append((scratch, sorted(os.listdir(scratch))))
    commands.append((binary, args))
  results = binaries.run_many(commands, timeout=60)
  return [(r, scratch, before) for r, (scratch, before) in zip(results, runs, strict=True)]


@pytest.mark.parametrize("index", range(len(CASES)), ids=[f"{b}:{' '.join(a)}" for b, a, _ in CASES])
def test_bad_path_is_one_line(bad_path_results, index):
  words = CASES[index][2]
  out, scratch, before = bad_path_results[index]
  lines = out.stderr.strip().splitlines()
  assert out.returncode == 2, out.stderr[-2000:]
  assert len(lines) == 1 and lines[0].startswith("error:"), out.stderr[-2000:]
  assert words in lines[0], lines[0]
  assert sorted(os.listdir(scratch)) == before  # no temporary or partial file left behind


@pytest.mark.parametrize(
  "source, overrides, words",
  [
    ("configs/no_such_row.py", {}, "no such config file"),
    ("configs.no_such_row", {}, "no such config module"),
    ("configs", {}, "no get_config"),
    ("configs.default", {"no_such_field": 1}, "config.no_such_field: unknown field"),
    ("configs.default", {"controller.no_such_field": 1}, "config.controller.no_such_field: unknown field"),
    ("configs.default", {"seed": "three"}, "config.seed:"),
  ],
)
def test_load_config_names_what_is_wrong(source, overrides, words):
  with pytest.raises(ValueError, match=words):
    build.load_config(source, overrides)


@pytest.mark.parametrize("address", ["not_an_address", "host:0", "http://host:6379", "host:", "ray://host"])
def test_malformed_ray_address_is_named(address):
  cfg = config.default_config()
  cfg.host_backend, cfg.ray_address = "ray", address
  with pytest.raises(ValueError, match=r"^config\.ray_address: .* is not a Ray address"):
    config.validate(cfg)


@pytest.mark.parametrize("address", ["", "auto", "10.0.0.1:6379", "head-node:6379", "ray://head:10001", "[::1]:6379"])
def test_ray_address_forms_are_accepted(address):
  cfg = config.default_config()
  cfg.ray_address = address
  config.validate(cfg)


def test_load_config_reads_files_modules_and_saved_runs(tmp_path):
  by_path = build.load_config("configs/hopper_h41_chromatic11.py", {"seed": 3, "controller.hidden_size": 8})
  by_module = build.load_config("configs.hopper_h41_chromatic11", {"seed": 3, "controller.hidden_size": 8})
  assert by_path.to_dict() == by_module.to_dict()
  assert (by_path.seed, by_path.controller.hidden_size) == (3, 8)
  (tmp_path / "config.json").write_text(by_path.to_json())
  assert build.load_config(str(tmp_path / "config.json")).to_dict() == by_path.to_dict()


def test_unreachable_ray_address_is_named_at_once():
  import socket
  import time

  from chromnas.engines import ray_pool

  start = time.perf_counter()
  with pytest.raises(ConnectionError, match=r"no Ray cluster answers at ray://127\.0\.0\.1:1 "):
    ray_pool.check_reachable("ray://127.0.0.1:1")
  assert time.perf_counter() - start < 5.0
  with socket.socket() as listener:  # something that answers: the check passes, in every address form
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    for address in (f"127.0.0.1:{port}", f"ray://127.0.0.1:{port}", "auto", "local"):
      ray_pool.check_reachable(address)


def test_progress_survives_a_reader_that_went_away():
  import subprocess
  import sys

  # The reader closes before the binary prints anything: its writes (and the flush at exit) hit a
  # closed pipe.  `| head -1` does the same after the first line.
  proc = subprocess.Popen(
    [sys.executable, "-m", "experiments.list_tasks"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE
  )
  proc.stdout.close()
  err = proc.stderr.read().decode()
  assert proc.wait(timeout=120) == 0, err[-2000:]
  assert "Traceback" not in err and "BrokenPipe" not in err, err[-2000:]
