"""A fault-tolerant pool of host worker processes with dynamic job dispatch.

Each worker is a separate Python process (`chromnas.engines.host_worker`) connected by a
socket pair, speaking the messages of `chromnas.engines.host_messages`.  Per iteration the
pool broadcasts a `SetCenter` once to every worker, then hands out `EpisodeJob`s one at a time
to whichever worker is free.  A worker that dies or hangs past
`job_timeout` is replaced; its job is retried up to `max_retries` times, then dropped (its
result is NaN and counted as lost).
"""

from __future__ import annotations

import collections
import os
import socket
import subprocess
import sys
import time
from multiprocessing.connection import Connection, wait
from typing import cast

import numpy as np

from chromnas.engines.host_messages import EpisodeJob, EpisodeResult, Failed, SetCenter, Shutdown, WorkerConfig


class WorkerLost(RuntimeError):
  """A worker process died or did not start in time."""


class _Worker:
  """One worker process and its end of the socket pair; started and configured on construction."""

  def __init__(self, init_cfg: WorkerConfig, start_timeout: float):
    parent, child = socket.socketpair()
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", "1")
    env.setdefault("MKL_NUM_THREADS", "1")
    env.setdefault("OPENBLAS_NUM_THREADS", "1")
    self.proc = subprocess.Popen(
      [sys.executable, "-m", "chromnas.engines.host_worker", f"--fd={child.fileno()}"],
      pass_fds=(child.fileno(),),
      env=env,
    )
    child.close()
    self.conn = Connection(parent.detach())
    self.conn.send(init_cfg)
    if not self.conn.poll(start_timeout):
      self.kill()
      raise WorkerLost(f"host worker did not start within {start_timeout:.0f}s")
    try:
      msg = self.conn.recv()
    except (EOFError, OSError) as e:
      self.kill()
      raise WorkerLost(f"host worker exited while starting (exit code {self.proc.poll()})") from e
    if isinstance(msg, Failed):
      self.kill()
      raise RuntimeError(f"host worker failed to start:\n{msg.traceback}")
    self.obs_dim, self.act_dim = msg.obs_dim, msg.act_dim
    self.started = 0.0

  def kill(self):
    try:
      self.proc.kill()
      self.proc.wait(timeout=5)
    except Exception:  # pylint: disable=broad-except
      pass
    try:
      self.conn.close()
    except Exception:  # pylint: disable=broad-except
      pass


class HostPool:
  """`num_workers` processes running episodes; see the module docstring."""

  def __init__(
    self,
    init_cfg: WorkerConfig,
    num_workers: int,
    *,
    job_timeout: float = 600.0,
    max_retries: int = 2,
    start_timeout: float = 120.0,
    max_start_failures: int = 20,
  ):
    if num_workers < 1:
      raise ValueError(f"num_workers must be >= 1, got {num_workers}")
    self.init_cfg = init_cfg
    self.job_timeout = job_timeout
    self.max_retries = max_retries
    self.start_timeout = start_timeout
    self.max_start_failures = max_start_failures
    self.workers: list[_Worker] = []
    self.broadcast_msg: SetCenter | None = None
    self.stats: collections.Counter[str] = collections.Counter()
    try:
      for _ in range(num_workers):
        self.workers.append(_Worker(init_cfg, start_timeout))
    except BaseException:
      self.close()
      raise
    self.obs_dim, self.act_dim = self.workers[0].obs_dim, self.workers[0].act_dim

  def _replace(self, idx: int) -> None:
    """Replaces worker `idx`.  A replacement that dies while starting (workers killed in a tight
    loop, a transient fork failure) is retried, up to `max_start_failures` failures per pool, as
    the Ray pool does; past that budget the pool gives up with `WorkerLost`."""
    self.workers[idx].kill()
    self.stats["workers_replaced"] += 1
    while True:
      try:
        worker = _Worker(self.init_cfg, self.start_timeout)
        if self.broadcast_msg is not None:
          worker.conn.send(self.broadcast_msg)
        break
      except (WorkerLost, OSError, EOFError) as e:
        self.stats["start_failures"] += 1
        if self.stats["start_failures"] > self.max_start_failures:
          raise WorkerLost(
            f"{self.stats['start_failures']} replacement workers failed to start (last: {e}); giving up"
          ) from e
        time.sleep(min(0.1 * self.stats["start_failures"], 2.0))
    self.workers[idx] = worker

  def broadcast(self, msg: SetCenter) -> None:
    """Sends `msg` to every worker; later replacements get it too."""
    self.broadcast_msg = msg
    for i, w in enumerate(self.workers):
      try:
        w.conn.send(msg)
      except (OSError, EOFError):
        self._replace(i)

  def run(self, jobs: list[EpisodeJob]) -> dict[int, EpisodeResult]:
    """Runs `jobs` and returns `{job.index: result}`.

    Lost jobs (worker died more than `max_retries` times on them) are absent from the answer.
    """
    pending = collections.deque((job, 0) for job in jobs)  # (job, tries so far)
    results: dict[int, EpisodeResult] = {}
    busy: dict[int, tuple[EpisodeJob, int]] = {}  # worker -> its job and tries
    while pending or busy:
      for i, w in enumerate(self.workers):
        if i not in busy and pending:
          job, tries = pending.popleft()
          try:
            w.conn.send(job)
            w.started = time.monotonic()
            busy[i] = (job, tries)
          except (OSError, EOFError):
            pending.appendleft((job, tries))
            self._replace(i)
      conns = {self.workers[i].conn: i for i in busy}
      ready = cast("list[Connection]", wait(list(conns), timeout=1.0))  # `wait` returns some of the objects it is given
      for conn in ready:
        i = conns[conn]
        job, tries = busy[i]
        try:
          msg = conn.recv()
        except (EOFError, OSError):
          msg = None
        if isinstance(msg, EpisodeResult):
          results[job.index] = msg
          del busy[i]
          continue
        # The worker died (or reported an error): retry its job elsewhere, replace it.
        del busy[i]
        self._retry(job, tries, pending)
        self._replace(i)
      now = time.monotonic()
      for i in list(busy):
        w = self.workers[i]
        if w.proc.poll() is not None and not w.conn.poll() or now - w.started > self.job_timeout:
          job, tries = busy.pop(i)
          self._retry(job, tries, pending)
          self._replace(i)
    return results

  def _retry(self, job, tries, pending) -> None:
    requeue(self.stats, pending, job, tries, self.max_retries)

  def close(self) -> None:
    """Asks every worker to exit, then kills stragglers.  Safe to call twice."""
    for w in self.workers:
      try:
        w.conn.send(Shutdown())
      except Exception:  # pylint: disable=broad-except
        pass
    deadline = time.monotonic() + 5.0
    for w in self.workers:
      try:
        w.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
      except subprocess.TimeoutExpired:
        pass
      w.kill()
    self.workers = []


def requeue(
  stats: collections.Counter, pending: collections.deque, job: EpisodeJob, tries: int, max_retries: int
) -> None:
  """Puts a failed job back on `pending` with one more try, or counts it lost after `max_retries`."""
  if tries < max_retries:
    stats["jobs_retried"] += 1
    pending.append((job, tries + 1))
  else:
    stats["jobs_lost"] += 1


def pid_list(pool: HostPool) -> list[int]:
  """Process ids of the pool's workers (for tests and monitoring)."""
  return [w.proc.pid for w in pool.workers]


def combine_results(results: dict[int, EpisodeResult], num: int, obs_dim: int):
  """Arrays `(returns (num,), lengths (num,), count, obs_sum, obs_sq)` from per-job results in
  index order (missing jobs give NaN returns); sums are float64 and order-independent."""
  returns = np.full((num,), np.nan, np.float32)
  lengths = np.zeros((num,), np.int32)
  count, s, ss = 0.0, np.zeros(obs_dim), np.zeros(obs_dim)
  for i in range(num):
    if i in results:
      r = results[i]
      returns[i], lengths[i] = r.ret, r.length
      count += r.count
      s = s + r.obs_sum
      ss = ss + r.obs_sq_sum
  return returns, lengths, count, s, ss
