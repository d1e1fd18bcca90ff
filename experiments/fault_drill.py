"""A fault drill: runs small training jobs, hurts them, and checks nothing is lost or silent.

  python -m experiments.fault_drill                 # all scenarios
  python -m experiments.fault_drill --kills=5 --scenarios=kill9,sigterm

Scenarios (each on the `debug_target` / `debug_nan` tasks, in its own temporary workdir):
  kill9     N `kill -9`s at random moments, each followed by a resume; the finished run's metrics
            (all columns but time and speed) and saved policies must equal an uninterrupted run's.
  sigterm   SIGTERM mid-run: exit status 143 and a checkpoint covering every iteration in the
            metrics; the rerun resumes and finishes.
  flipbyte  one byte flipped in the newest checkpoint: the resume falls back to the one before,
            moves the damaged one aside, and the run finishes.
  orphaned  checkpoints deleted next to existing results: the rerun refuses, results untouched.
  workers   host workers killed in a tight loop during a run: the run finishes.
  nan       a task whose odd-seeded episodes diverge to NaN: the run finishes with finite
            parameters and counts the non-finite episodes.
Prints one table row per scenario and exits non-zero if any failed.
"""

from __future__ import annotations

import csv
import hashlib
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

from absl import app, flags

from experiments import parse_flags_or_exit

SCENARIOS = ("kill9", "sigterm", "flipbyte", "orphaned", "workers", "nan")
_SCENARIOS = flags.DEFINE_list("scenarios", list(SCENARIOS), "Which scenarios to run.")
_KILLS = flags.DEFINE_integer("kills", 3, "kill -9s in the kill9 scenario.")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of the random kill moments.")
_KEEP = flags.DEFINE_bool("keep", False, "Keep the temporary workdirs.")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BASE = [
  "--config=configs/default.py",
  "--config.task=debug_target",
  "--config.num_colors=4",
  "--config.episode_length=20",
  "--config.num_directions=4",
  "--config.eval_every=2",
  "--config.num_workers=2",
  "--config.noise_size=100000",
  "--config.checkpoint_every=3",
]
TIMING_COLUMNS = ("steps_per_s", "wall_s")


def _cmd(workdir, *extra):
  return [sys.executable, "-m", "experiments.train", *BASE, f"--workdir={workdir}", *extra]


def _run(workdir, *extra, timeout=600):
  return subprocess.run(_cmd(workdir, *extra), capture_output=True, text=True, timeout=timeout, cwd=ROOT)


def _start(workdir, *extra):
  return subprocess.Popen(
    _cmd(workdir, *extra), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, start_new_session=True
  )


def _wait_for_iteration(proc, at_least: int, timeout: float = 300) -> bool:
  deadline = time.time() + timeout
  while time.time() < deadline:
    line = proc.stdout.readline()
    if not line:
      return False
    if line.startswith("it ") and int(line.split()[1].split("/")[0]) >= at_least:
      return True
  return False


def _metrics(workdir):
  with open(os.path.join(workdir, "metrics.csv"), newline="") as f:
    return [{k: v for k, v in r.items() if k not in TIMING_COLUMNS} for r in csv.DictReader(f)]


def _digest(path):
  """Hash of a policy `.npz`'s arrays (not of the zip container, whose timestamps differ)."""
  import numpy as np

  h = hashlib.sha256()
  with np.load(path) as z:
    for name in sorted(z.files):
      h.update(name.encode())
      h.update(np.ascontiguousarray(z[name]).tobytes())
  return h.hexdigest()[:16]


def scenario_kill9(tmp):
  iterations = "--config.num_iterations=30"
  ref, hurt = os.path.join(tmp, "reference"), os.path.join(tmp, "killed")
  out = _run(ref, iterations)
  if out.returncode:
    return False, f"reference run failed: {out.stderr.strip()[-200:]}"
  rng = random.Random(_SEED.value)
  kills = 0
  for _ in range(_KILLS.value):
    proc = _start(hurt, iterations)
    if _wait_for_iteration(proc, 1):
      time.sleep(rng.uniform(0.0, 1.5))
      if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        kills += 1
    proc.wait()
  out = _run(hurt, iterations)
  if out.returncode:
    return False, f"the resumed run failed: {out.stderr.strip()[-200:]}"
  same_metrics = _metrics(ref) == _metrics(hurt)
  same_policies = all(
    _digest(os.path.join(ref, n)) == _digest(os.path.join(hurt, n)) for n in ("best_policy.npz", "latest_policy.npz")
  )
  detail = (
    f"{kills} kill -9s, then resumed: metrics {'identical' if same_metrics else 'DIFFER'}, "
    f"policies {'identical' if same_policies else 'DIFFER'} (latest {_digest(os.path.join(hurt, 'latest_policy.npz'))})"
  )
  return same_metrics and same_policies, detail


def scenario_sigterm(tmp):
  workdir = os.path.join(tmp, "sigterm")
  proc = _start(workdir, "--config.num_iterations=100000", "--config.checkpoint_every=1000")
  if not _wait_for_iteration(proc, 4):
    return False, "the run never reached iteration 4"
  proc.send_signal(signal.SIGTERM)
  _, err = proc.communicate(timeout=120)
  last = int(_metrics(workdir)[-1]["iteration"])
  covered = str(last) in os.listdir(os.path.join(workdir, "checkpoints"))
  out = _run(workdir, f"--config.num_iterations={last + 2}")
  ok = proc.returncode == 143 and covered and out.returncode == 0 and "resuming" in out.stdout
  return ok, (
    f"exit {proc.returncode}, metrics up to iteration {last}, checkpoint {last} "
    f"{'present' if covered else 'MISSING'}; rerun {'resumed and finished' if out.returncode == 0 else 'FAILED'}"
  )


def _first_run(workdir, iterations: int):
  """Trains `iterations` iterations in `workdir`: None, or a failure line."""
  out = _run(workdir, f"--config.num_iterations={iterations}")
  return f"first run failed: {out.stderr.strip()[-200:]}" if out.returncode else None


def scenario_flipbyte(tmp):
  workdir = os.path.join(tmp, "flipbyte")
  failed = _first_run(workdir, 6)
  if failed:
    return False, failed
  newest = os.path.join(workdir, "checkpoints", "6")
  files = [os.path.join(d, f) for d, _, fs in os.walk(os.path.join(newest, "state")) for f in fs]
  target = max(files, key=os.path.getsize)
  data = bytearray(open(target, "rb").read())
  data[len(data) // 2] ^= 0x01
  open(target, "wb").write(bytes(data))
  out = _run(workdir, "--config.num_iterations=9")
  quarantined = (
    os.listdir(os.path.join(workdir, "checkpoints_unreadable"))
    if os.path.isdir(os.path.join(workdir, "checkpoints_unreadable"))
    else []
  )
  ok = out.returncode == 0 and "at iteration 3" in out.stdout and bool(quarantined)
  return ok, (
    f"flipped one byte of {os.path.relpath(target, workdir)}: rerun "
    f"{'resumed from checkpoint 3' if 'at iteration 3' in out.stdout else 'did NOT fall back'}, "
    f"damaged checkpoint moved aside: {quarantined or 'NO'}"
  )


def scenario_orphaned(tmp):
  workdir = os.path.join(tmp, "orphaned")
  failed = _first_run(workdir, 4)
  if failed:
    return False, failed
  before = _digest(os.path.join(workdir, "best_policy.npz")), open(os.path.join(workdir, "metrics.csv")).read()
  shutil.rmtree(os.path.join(workdir, "checkpoints"))
  out = _run(workdir, "--config.num_iterations=8")
  after = _digest(os.path.join(workdir, "best_policy.npz")), open(os.path.join(workdir, "metrics.csv")).read()
  ok = out.returncode == 2 and before == after and out.stderr.count("\n") == 1
  return (
    ok,
    f"rerun exit {out.returncode}: {out.stderr.strip()[:90]}...; "
    f"results {'untouched' if before == after else 'CHANGED'}",
  )


def scenario_workers(tmp):
  workdir = os.path.join(tmp, "workers")
  proc = _start(workdir, "--config.num_iterations=40", "--config.episode_length=200")
  killed = []
  stop = threading.Event()

  def killer():
    while not stop.is_set():
      for pid in _children_running("chromnas.engines.host_worker", proc.pid):
        try:
          os.kill(pid, signal.SIGKILL)
          killed.append(pid)
        except OSError:
          pass
      time.sleep(0.3)

  if not _wait_for_iteration(proc, 2):
    return False, "the run never reached iteration 2"
  thread = threading.Thread(target=killer, daemon=True)
  thread.start()
  time.sleep(4.0)
  stop.set()
  thread.join()
  out, err = proc.communicate(timeout=600)
  lost = sum(int(float(r.get("episodes_lost") or 0)) for r in _metrics(workdir))
  ok = proc.returncode == 0 and int(_metrics(workdir)[-1]["iteration"]) == 40
  return ok, (
    f"{len(killed)} workers killed over 4 s: run {'finished all 40 iterations' if ok else 'FAILED: ' + err[-150:]}"
    f", {lost} episodes lost"
  )


def _children_running(marker: str, root: int):
  out = []
  for pid in os.listdir("/proc"):
    if not pid.isdigit():
      continue
    try:
      with open(f"/proc/{pid}/cmdline", "rb") as f:
        cmd = f.read()
      with open(f"/proc/{pid}/stat") as f:
        ppid = int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
      continue
    if marker.encode() in cmd and ppid == root:
      out.append(int(pid))
  return out


def scenario_nan(tmp):
  workdir = os.path.join(tmp, "nan")
  out = _run(workdir, "--config.task=debug_nan", "--config.num_iterations=6")
  if out.returncode:
    return False, f"run failed: {out.stderr.strip()[-200:]}"
  rows = _metrics(workdir)
  nonfinite = sum(int(float(r["num_nonfinite"])) for r in rows)
  import numpy as np

  with np.load(os.path.join(workdir, "latest_policy.npz")) as z:
    finite = bool(np.all(np.isfinite(z["params"])))
  return (
    nonfinite > 0 and finite,
    f"{nonfinite} non-finite episodes excluded over {len(rows)} iterations; parameters finite: {finite}",
  )


def main(argv):
  if len(argv) > 1:
    print(f"error: unexpected arguments {argv[1:]}", file=sys.stderr)
    sys.exit(2)
  unknown = [s for s in _SCENARIOS.value if s not in SCENARIOS]
  if unknown:
    print(f"error: unknown scenario {unknown[0]!r}; choose from {', '.join(SCENARIOS)}", file=sys.stderr)
    sys.exit(2)
  tmp = tempfile.mkdtemp(prefix="chromnas-drill-")
  results = []
  try:
    for name in _SCENARIOS.value:
      start = time.time()
      try:
        ok, detail = globals()[f"scenario_{name}"](tmp)
      except Exception as e:  # pylint: disable=broad-except
        ok, detail = False, f"drill error: {type(e).__name__}: {e}"
      results.append((name, ok, time.time() - start, detail))
      print(f"{name:<9} {'PASS' if ok else 'FAIL'} {time.time() - start:6.1f}s  {detail}", flush=True)
  finally:
    if not _KEEP.value:
      shutil.rmtree(tmp, ignore_errors=True)
  print()
  print("| scenario | result | seconds | what happened |")
  print("|---|---|---|---|")
  for name, ok, secs, detail in results:
    print(f"| {name} | {'pass' if ok else 'FAIL'} | {secs:.0f} | {detail} |")
  if not all(ok for _, ok, _, _ in results):
    sys.exit(1)


if __name__ == "__main__":
  app.run(main, flags_parser=parse_flags_or_exit)
