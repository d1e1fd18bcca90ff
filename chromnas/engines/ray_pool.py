"""A fault-tolerant pool of Ray actors with dynamic job dispatch: `HostPool` across machines.

`RayPool` is a drop-in for `chromnas.engines.host_pool.HostPool` (same `broadcast`, `run`,
`workers`, `stats`, `obs_dim`, `act_dim`, `close`) and takes the same messages
(`chromnas.engines.host_messages`) as actor-method arguments.  Each actor owns one
`host_worker.WorkerState` (one environment, the shared noise table rebuilt from its seed).

Per iteration `broadcast` puts the `SetCenter` once in the object store (`ray.put`) and sends every
actor the object reference once; jobs carry noise offsets and seeds, never noise vectors.  An
actor becomes available for jobs when it has acknowledged the broadcast, so an actor that died
between iterations is noticed (and replaced) without costing any job a try.  `run` hands jobs
one at a time to whichever actor is free (`ray.wait`).  A job whose actor dies (or raises, or
runs past `job_timeout`) is retried on another actor up to `max_retries` times, then dropped
(absent from the answer, counted in `stats['jobs_lost']`); the actor is killed and replaced by
a fresh one (`stats['workers_replaced']`) that receives the current broadcast before any job.
Actors are created with `max_restarts=0`, so Ray never restarts one behind the pool's back.
A replacement whose constructor fails is replaced again; `max_start_failures` such failures in
a row make `run` raise.  One that is still not running after `start_timeout` (typically waiting
for CPUs after a node was lost) is left to start while the other actors go on; `run` raises
only when no actor at all is running.  `pool.workers` always has `num_workers` handles.

Ray is an optional dependency (`pip install chromnas[ray]`).  If Ray is already initialised in
this process (by the caller, or a test), the pool uses that instance and leaves it running.
Otherwise, with an address (or `RAY_ADDRESS` in the environment, as under `ray job submit`) it
connects to that cluster and disconnects on `close()` (the cluster keeps running); without one
it starts a local instance (no dashboard, `num_cpus = max(num_workers, cores)`) and shuts it
down on `close()` (after the last open pool using it closes).
"""
from __future__ import annotations

import collections
import logging
import os
import time
from typing import NamedTuple

from chromnas.engines import host_pool
from chromnas.engines.host_messages import EpisodeJob
from chromnas.engines.host_messages import EpisodeResult
from chromnas.engines.host_messages import SetCenter
from chromnas.engines.host_messages import WorkerConfig

_log = logging.getLogger(__name__)

_STARTING, _IDLE, _BUSY = "starting", "idle", "busy"

# Ray sessions this module initialised itself (`ray.init` without an existing instance), and
# how many open pools use them: the session is shut down when the last of them closes.
_SESSION = {"owned": False, "users": 0}


_WATCHDOG = """
import os, signal, sys, time
parent, me = int(sys.argv[1]), os.getpid()

def table():
  out = {}
  for pid in os.listdir('/proc'):
    if pid.isdigit():
      try:
        with open(f'/proc/{pid}/stat') as f:
          fields = f.read().rsplit(')', 1)[1].split()
        out[int(pid)] = (int(fields[1]), fields[19])  # parent pid, start time
      except (OSError, IndexError):
        pass
  return out

seen = {}
while os.getppid() == parent:
  procs = table()
  family, grew = {parent}, True
  while grew:
    grew = False
    for pid, (ppid, start) in procs.items():
      if ppid in family and pid not in family and pid != me:
        family.add(pid)
        seen[pid] = start
        grew = True
  time.sleep(0.5)
procs = table()
for pid, start in seen.items():
  if procs.get(pid, (None, None))[1] == start:
    try:
      os.kill(pid, signal.SIGKILL)
    except OSError:
      pass
"""


def _start_watchdog() -> None:
  """Starts a small process that remembers every descendant of this process (Ray's raylet, GCS,
  agents and workers) and kills the ones still alive once this process is gone, however it
  died (kill -9 included); otherwise a local Ray instance outlives its driver.  Linux only (it
  reads /proc)."""
  import subprocess  # pylint: disable=import-outside-toplevel
  import sys  # pylint: disable=import-outside-toplevel
  if not os.path.isdir("/proc"):
    return
  subprocess.Popen([sys.executable, "-c", _WATCHDOG, str(os.getpid())], stdin=subprocess.DEVNULL,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def _import_ray():
  try:
    import ray  # pylint: disable=import-outside-toplevel
  except ImportError as e:
    raise ImportError("the 'ray' host backend needs Ray, an optional dependency: pip install chromnas[ray] "
                      "(or pip install 'ray[default]>=2.40')") from e
  return ray


class ActorInfo(NamedTuple):
  """What an actor reports about itself: its environment's sizes and its process id (on its node)."""

  obs_dim: int
  act_dim: int
  pid: int


class _Actor:
  """The body of a pool actor (wrapped by `ray.remote` in `_actor_class`)."""

  def __init__(self, cfg: WorkerConfig):
    from chromnas.engines import host_worker  # pylint: disable=import-outside-toplevel
    self.state = host_worker.WorkerState(cfg)

  def info(self) -> ActorInfo:
    """Answering means the constructor succeeded."""
    ready = self.state.ready()
    return ActorInfo(ready.obs_dim, ready.act_dim, os.getpid())

  def set_center(self, msg: SetCenter) -> bool:
    """Stores the iteration's `SetCenter` (it arrives resolved from its object reference)."""
    self.state.center = msg
    return True

  def run_job(self, job: EpisodeJob) -> EpisodeResult:
    """One episode (see `host_worker.WorkerState.run_job`)."""
    return self.state.run_job(job)


_ACTOR_CLASS = None


def _actor_class(ray):
  global _ACTOR_CLASS  # pylint: disable=global-statement
  if _ACTOR_CLASS is None:
    _ACTOR_CLASS = ray.remote(_Actor)
  return _ACTOR_CLASS


class _Slot:
  """One place in the pool: an actor handle and what the pool is waiting for from it."""

  def __init__(self, actor, ref, deadline: float):
    self.actor = actor
    self.state = _STARTING
    self.ref = ref  # the pending call: readiness / broadcast acknowledgement, or a job
    self.deadline = deadline
    self.fresh = True  # not yet answered anything (a failure now is a failure to start)
    self.overdue = False  # fresh and past its start deadline: left to start when it can
    self.job: EpisodeJob | None = None  # while busy
    self.tries = 0  # tries the job had before this one


class RayPool:
  """`num_workers` Ray actors running episodes; see the module docstring.

  Args:
    init_cfg: the workers' configuration (as for `HostPool`).
    num_workers: actors.
    job_timeout: seconds a job may run before its actor is killed and the job retried.
    max_retries: retries of a job whose actor died before it is dropped.
    address: Ray address to connect to (`'auto'`, `'HOST:PORT'`, `'ray://HOST:10001'`); `None`
      uses `RAY_ADDRESS` if set, else starts a local instance.  Ignored if Ray is already
      initialised in this process.
    start_timeout: seconds the first actors may take to start (the constructor raises after it),
      and a live actor may take to acknowledge a broadcast (it is replaced after it).
    num_cpus_per_worker: CPUs Ray reserves for each actor.
    max_start_failures: consecutive actor start failures after which `run` raises.
    scheduling_strategy: Ray scheduling strategy of the actors (default `'SPREAD'` over nodes).
  """

  def __init__(self, init_cfg: WorkerConfig, num_workers: int, *, job_timeout: float = 600.0, max_retries: int = 2,
               address: str | None = None, start_timeout: float = 120.0, num_cpus_per_worker: float = 1.0,
               max_start_failures: int = 3, scheduling_strategy: str = "SPREAD"):
    if num_workers < 1:
      raise ValueError(f"num_workers must be >= 1, got {num_workers}")
    ray = _import_ray()
    self._ray = ray
    self.init_cfg = init_cfg
    self.job_timeout = job_timeout
    self.max_retries = max_retries
    self.start_timeout = start_timeout
    self.max_start_failures = max_start_failures
    self.stats = collections.Counter()
    self._slots: list[_Slot] = []
    self._broadcast_ref = None
    self._start_failures = 0
    self._closed = False
    self._uses_session = False

    if not ray.is_initialized():
      address = address or os.environ.get("RAY_ADDRESS") or None
      if address:
        ray.init(address=address, ignore_reinit_error=True, logging_level=logging.WARNING)
      else:
        # A watchdog stops the local instance if this process dies without closing it (kill -9).
        ray.init(num_cpus=max(num_workers, os.cpu_count() or 1), include_dashboard=False,
                 dashboard_host="127.0.0.1", ignore_reinit_error=True, log_to_driver=False,
                 logging_level=logging.WARNING)
        _start_watchdog()
      _SESSION["owned"] = True
    elif address:
      _log.info("Ray is already initialised in this process; ignoring address=%r", address)
    _SESSION["users"] += 1
    self._uses_session = True

    self._options = dict(num_cpus=num_cpus_per_worker, max_restarts=0, max_task_retries=0,
                         scheduling_strategy=scheduling_strategy)
    try:
      cpus = ray.cluster_resources().get("CPU", 0.0)
      if num_workers * num_cpus_per_worker > cpus:
        _log.warning("RayPool: %d workers x %g CPUs exceed the cluster's %g CPUs; some actors will wait for "
                     "resources", num_workers, num_cpus_per_worker, cpus)
      now = time.monotonic()
      for _ in range(num_workers):
        actor = self._new_actor()
        self._slots.append(_Slot(actor, actor.info.remote(), now + start_timeout))
      try:
        infos = ray.get([s.ref for s in self._slots], timeout=start_timeout)
      except ray.exceptions.GetTimeoutError as e:
        raise RuntimeError(f"Ray actors did not start within {start_timeout:.0f}s (the cluster has {cpus:g} CPUs, "
                           f"{num_workers} workers need {num_workers * num_cpus_per_worker:g})") from e
      except ray.exceptions.RayError as e:
        raise RuntimeError(f"a Ray host worker failed to start:\n{e}") from e
      for s in self._slots:
        s.state, s.ref, s.fresh = _IDLE, None, False
    except BaseException:
      self.close()
      raise
    self.obs_dim, self.act_dim = infos[0].obs_dim, infos[0].act_dim

  @property
  def workers(self) -> list:
    """The actor handles, one per place in the pool (replacements take their place)."""
    return [s.actor for s in self._slots]

  def _new_actor(self):
    return _actor_class(self._ray).options(**self._options).remote(self.init_cfg)

  def _kill(self, actor) -> None:
    try:
      self._ray.kill(actor, no_restart=True)
    except Exception:  # pylint: disable=broad-except
      pass

  def _replace(self, slot: _Slot, reason: str, detail: str = "") -> None:
    """Kills the slot's actor and starts a fresh one, which gets the current broadcast first."""
    _log.warning("RayPool: replacing a worker (%s)", reason)
    if slot.fresh:
      self._start_failures += 1
      self.stats["start_failures"] += 1
      if self._start_failures > self.max_start_failures:
        raise RuntimeError(f"Ray host workers failed to start {self._start_failures} times in a row; "
                           f"last: {detail or reason}")
    self._kill(slot.actor)
    self.stats["workers_replaced"] += 1
    actor = self._new_actor()
    ref = actor.info.remote() if self._broadcast_ref is None else actor.set_center.remote(self._broadcast_ref)
    slot.actor, slot.ref, slot.state, slot.fresh, slot.job = actor, ref, _STARTING, True, None
    slot.overdue = False
    slot.deadline = time.monotonic() + self.start_timeout

  def broadcast(self, msg: SetCenter) -> None:
    """Puts `msg` in the object store once and sends every actor its reference; later
    replacements get it too.  An actor takes jobs once it acknowledged it."""
    self._broadcast_ref = self._ray.put(msg)
    now = time.monotonic()
    for slot in self._slots:
      ref = slot.actor.set_center.remote(self._broadcast_ref)
      if slot.state == _IDLE:
        slot.deadline = now + self.start_timeout
      slot.state, slot.ref = _STARTING, ref  # calls on one actor run in order: this one is last

  def run(self, jobs: list[EpisodeJob]) -> dict[int, EpisodeResult]:
    """Runs `jobs` and returns `{job.index: result}`.  Lost jobs are absent from the answer."""
    ray = self._ray
    pending = collections.deque((job, 0) for job in jobs)  # (job, tries so far)
    results: dict[int, EpisodeResult] = {}
    if pending and not self._slots:
      raise RuntimeError("RayPool.run on a closed pool")
    try:
      while pending or any(s.state == _BUSY for s in self._slots):
        now = time.monotonic()
        for slot in self._slots:
          if slot.state == _IDLE and pending:
            job, tries = pending.popleft()
            slot.ref = slot.actor.run_job.remote(job)
            slot.state, slot.job, slot.tries, slot.deadline = _BUSY, job, tries, now + self.job_timeout
        waiting = {s.ref: s for s in self._slots if s.state != _IDLE}
        if not waiting:
          continue
        deadlines = [s.deadline for s in waiting.values() if not s.overdue]
        timeout = min([1.0] + [max(0.0, d - now) for d in deadlines])
        ready, rest = ray.wait(list(waiting), num_returns=1, timeout=timeout)
        if ready and rest:
          more, _ = ray.wait(rest, num_returns=len(rest), timeout=0)
          ready += more
        for ref in ready:
          self._collect(waiting[ref], ref, pending, results)
        now = time.monotonic()
        for slot in self._slots:
          if slot.state == _IDLE or slot.overdue or now <= slot.deadline:
            continue
          if slot.state == _BUSY:
            index = slot.job.index
            self._retry(slot, pending)
            self._replace(slot, f"job {index} ran past job_timeout={self.job_timeout:g}s")
          elif not slot.fresh:
            self._replace(slot, f"no answer to the broadcast within start_timeout={self.start_timeout:g}s")
          else:
            # Most likely waiting for free CPUs (a lost node): recreating it would not help, and
            # the other actors go on working.  It joins in when it starts.
            slot.overdue = True
            _log.warning("RayPool: a new worker has not started within start_timeout=%gs (waiting for "
                         "resources?); going on with the others", self.start_timeout)
        if pending and all(s.state == _STARTING and s.overdue for s in self._slots):
          raise RuntimeError(f"no Ray host worker has started within start_timeout={self.start_timeout:g}s "
                             f"(cluster CPUs: {self._ray.cluster_resources().get('CPU', 0.0):g}, available: "
                             f"{self._ray.available_resources().get('CPU', 0.0):g})")
    finally:
      for slot in self._slots:
        if slot.state == _BUSY:  # interrupted: the job's answer, when it comes, is discarded
          slot.state, slot.job = _STARTING, None
    return results

  def _collect(self, slot: _Slot, ref, pending, results) -> None:
    ray = self._ray
    try:
      value = ray.get(ref)
    except ray.exceptions.RayError as e:  # the actor died, or the job raised
      what = f"job {slot.job.index}" if slot.state == _BUSY else "starting or receiving the broadcast"
      if slot.state == _BUSY:
        self._retry(slot, pending)
      lines = [line.strip() for line in str(e).splitlines() if line.strip()] or [""]
      summary = lines[-1] if isinstance(e, ray.exceptions.RayTaskError) else lines[0]
      self._replace(slot, f"{type(e).__name__} on {what}: {summary}", str(e))
      return
    if slot.state == _BUSY:
      results[slot.job.index] = value
    slot.state, slot.ref, slot.job = _IDLE, None, None
    if slot.fresh:
      slot.fresh = slot.overdue = False
      self._start_failures = 0

  def _retry(self, slot: _Slot, pending) -> None:
    job, slot.job = slot.job, None
    host_pool.requeue(self.stats, pending, job, slot.tries, self.max_retries)

  def close(self) -> None:
    """Kills the actors; shuts Ray down if this module started it and no other pool uses it.
    Safe to call twice."""
    if self._closed:
      return
    self._closed = True
    ray = self._ray
    if ray.is_initialized():
      for slot in self._slots:
        self._kill(slot.actor)
    self._slots = []
    self._broadcast_ref = None
    if self._uses_session:
      self._uses_session = False
      _SESSION["users"] -= 1
      if _SESSION["users"] <= 0 and _SESSION["owned"]:
        _SESSION["owned"] = False
        if ray.is_initialized():
          ray.shutdown()


def pid_list(pool: RayPool, timeout: float | None = None) -> list[int]:
  """Process ids of the pool's actors, on their nodes (for tests and monitoring); waits for
  starting actors up to `timeout` seconds (default: the pool's `start_timeout`)."""
  ray = pool._ray  # pylint: disable=protected-access
  refs = [a.info.remote() for a in pool.workers]
  return [info.pid for info in ray.get(refs, timeout=pool.start_timeout if timeout is None else timeout)]


__all__ = ["RayPool", "pid_list"]
