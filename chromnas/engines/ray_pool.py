"""A fault-tolerant pool of Ray actors with dynamic job dispatch: `HostPool` across machines.

`RayPool` is a drop-in for `chromnas.engines.host_pool.HostPool` (same `broadcast`, `run`,
`workers`, `stats`, `obs_dim`, `act_dim`, `close`) and takes the same messages
(`chromnas.engines.host_messages`) as actor-method arguments.  Each actor owns one
`host_worker.WorkerState` (one environment, the shared noise table rebuilt from its seed).

Per iteration `broadcast` puts the `SetCenter` once in the object store (`ray.put`) and sends every
actor the object reference once; jobs carry noise offsets and seeds, never noise vectors.  An
actor becomes available for jobs when it has acknowledged the broadcast, so an actor that died
between iterations is noticed (and replaced) without costing any job a try.  `run` hands jobs
to whichever actor is free (`ray.wait`), in batches of half of each actor's share of the jobs
left (guided self-scheduling; at most `max_batch`, `BATCH` from the host evaluator; single jobs
at the end), so the driver makes fewer calls than episodes when actors have several episodes
each; its bookkeeping costs O(1) per answer, not O(actors).
A batch answers with one result per job, computed exactly as one job at a time would be.

A job whose actor dies (or raises, or runs past `job_timeout`) is retried on another actor up to
`max_retries` times, then dropped (absent from the answer, counted in `stats['jobs_lost']`); the
actor is killed and replaced by a fresh one (`stats['workers_replaced']`) that receives the
current broadcast before any job.  A failed batch of several jobs cannot say which one killed its
actor: its jobs go back uncharged and each runs alone until it succeeds, so the tries of each job
are counted exactly as without batches (`stats['batches_split']`).
Actors are created with `max_restarts=0`, so Ray never restarts one behind the pool's back.
A replacement whose constructor fails is replaced again; `max_start_failures` such failures in
a row make `run` raise.  One that is still not running after `start_timeout` (typically waiting
for CPUs after a node was lost) is left to start while the other actors go on; `run` raises
only when no actor at all is running, and one that starts later (a node was added) takes jobs.

Actors are spread over the cluster's nodes (`scheduling_strategy='SPREAD'`); each reports its
node id, so `worker_nodes` says where each place of the pool runs, `last_run_nodes` and
`node_episodes` count episodes per node (the last `run`, and since the start), and each `run`
logs them at INFO level.  With `num_workers=None` the pool is elastic: at every `broadcast` it
sizes itself to the CPUs of the live nodes, so a node that joins adds actors from the next
iteration, and a lost node's places are given up.  The population never depends on the number of
actors: the jobs (and their episode seeds) are fixed by the caller, each result is keyed by its
job's index, so more or fewer actors only share the same episodes differently.

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
import math
import os
import time
from typing import NamedTuple

from chromnas.engines import host_pool
from chromnas.engines.host_messages import EpisodeJob, EpisodeResult, SetCenter, WorkerConfig

_log = logging.getLogger(__name__)

# Most episodes per actor call for the host evaluator: enough to cut the driver's calls per
# iteration many-fold when actors have many episodes each, while the guided batch size keeps
# the last calls of an iteration single episodes.
BATCH = 32

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
  subprocess.Popen(
    [sys.executable, "-c", _WATCHDOG, str(os.getpid())],
    stdin=subprocess.DEVNULL,
    stdout=subprocess.DEVNULL,
    stderr=subprocess.DEVNULL,
    start_new_session=True,
  )


def _import_ray():
  try:
    import ray  # pylint: disable=import-outside-toplevel
  except ImportError as e:
    raise ImportError(
      "the 'ray' host backend needs Ray, an optional dependency: pip install chromnas[ray] "
      "(or pip install 'ray[default]>=2.40')"
    ) from e
  return ray


class ActorInfo(NamedTuple):
  """What an actor reports about itself: its environment's sizes, its process id (on its node)
  and the id of the Ray node it runs on."""

  obs_dim: int
  act_dim: int
  pid: int
  node_id: str


def _node_id() -> str:
  import ray  # pylint: disable=import-outside-toplevel

  return ray.get_runtime_context().get_node_id()


class _Actor:
  """The body of a pool actor (wrapped by `ray.remote` in `_actor_class`)."""

  def __init__(self, cfg: WorkerConfig):
    from chromnas.engines import host_worker  # pylint: disable=import-outside-toplevel

    self.state = host_worker.WorkerState(cfg)
    self.node_id = _node_id()

  def info(self) -> ActorInfo:
    """Answering means the constructor succeeded."""
    ready = self.state.ready()
    return ActorInfo(ready.obs_dim, ready.act_dim, os.getpid(), self.node_id)

  def set_center(self, msg: SetCenter) -> str:
    """Stores the iteration's `SetCenter` (it arrives resolved from its object reference);
    answers with the node id."""
    self.state.center = msg
    return self.node_id

  def run_jobs(self, jobs: list[EpisodeJob]) -> list[EpisodeResult]:
    """The episodes of `jobs`, in order (see `host_worker.WorkerState.run_job`)."""
    return [self.state.run_job(job) for job in jobs]


_ACTOR_CLASS = None


def _actor_class(ray):
  """`ray.remote(_Actor)`, made once for the real Ray (a simulated transport gets its own)."""
  global _ACTOR_CLASS  # pylint: disable=global-statement
  if getattr(ray, "SIMULATED", False):
    return ray.remote(_Actor)
  if _ACTOR_CLASS is None:
    _ACTOR_CLASS = ray.remote(_Actor)
  return _ACTOR_CLASS


class _Slot:
  """One place in the pool: an actor handle and what the pool is waiting for from it."""

  def __init__(self, actor, ref, deadline: float):
    self.actor = actor
    self.state = _STARTING
    self.ref = ref  # the pending call: readiness / broadcast acknowledgement, or a batch of jobs
    self.deadline = deadline
    self.fresh = True  # not yet answered anything (a failure now is a failure to start)
    self.overdue = False  # fresh and past its start deadline: left to start when it can
    self.jobs: list[tuple[EpisodeJob, int]] = []  # while busy: the batch, each job with its tries so far
    self.node: str | None = None  # the Ray node it runs on, once it answered


def check_reachable(address: str, timeout_s: float = 10.0) -> None:
  """Raises `ConnectionError` naming `address` unless something accepts a TCP connection at its
  HOST:PORT (also for `ray://HOST:PORT`; 'auto' and 'local' are left to Ray).  Why: `ray.init`
  retries an address nobody answers for minutes before it gives up."""
  import socket

  if address in ("auto", "local"):
    return
  host, _, port = address.removeprefix("ray://").rpartition(":")
  host = host.strip("[]")
  try:
    with socket.create_connection((host, int(port)), timeout=timeout_s):
      pass
  except (OSError, ValueError) as e:
    reason = getattr(e, "strerror", None) or str(e) or type(e).__name__
    raise ConnectionError(
      f"no Ray cluster answers at {address} ({reason}); start one there with `ray start --head` or fix ray_address"
    ) from None


class RayPool:
  """Ray actors running episodes; see the module docstring.

  Args:
    init_cfg: the workers' configuration (as for `HostPool`).
    num_workers: actors; `None` follows the cluster: one actor per `num_cpus_per_worker` CPUs of
      the live nodes, re-counted at every `broadcast` (nodes that join add actors, lost ones
      remove them).
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
    max_batch: most episodes sent to an actor in one call (see the module docstring); 1 sends
      every job on its own (`HostEvaluator` uses `BATCH`).
    ray_module: the Ray API to use (default `import ray`); `experiments.bench_scaling` passes a
      simulated transport with the same calls.
  """

  def __init__(
    self,
    init_cfg: WorkerConfig,
    num_workers: int | None,
    *,
    job_timeout: float = 600.0,
    max_retries: int = 2,
    address: str | None = None,
    start_timeout: float = 120.0,
    num_cpus_per_worker: float = 1.0,
    max_start_failures: int = 3,
    scheduling_strategy: str = "SPREAD",
    max_batch: int = 1,
    ray_module=None,
  ):
    if num_workers is not None and num_workers < 1:
      raise ValueError(f"num_workers must be >= 1 (or None to follow the cluster), got {num_workers}")
    if max_batch < 1:
      raise ValueError(f"max_batch must be >= 1, got {max_batch}")
    ray = ray_module or _import_ray()
    self._ray = ray
    self.init_cfg = init_cfg
    self.elastic = num_workers is None
    self.job_timeout = job_timeout
    self.max_retries = max_retries
    self.start_timeout = start_timeout
    self.max_start_failures = max_start_failures
    self.max_batch = max_batch
    self.num_cpus_per_worker = num_cpus_per_worker
    self.stats: collections.Counter[str] = collections.Counter()
    self.node_episodes: collections.Counter[str] = collections.Counter()  # node id -> episodes since the pool started
    self.last_run_nodes: collections.Counter[str] = collections.Counter()  # node id -> episodes of the last `run`
    self._slots: list[_Slot] = []
    self._broadcast_ref = None
    self._start_failures = 0
    self._closed = False
    self._uses_session = False
    self._solo: set[int] = set()  # jobs whose batch failed: each runs alone until it succeeds

    if not ray.is_initialized():
      address = address or os.environ.get("RAY_ADDRESS") or None
      if address:
        check_reachable(address)
        ray.init(address=address, ignore_reinit_error=True, logging_level=logging.WARNING)
      else:
        # A watchdog stops the local instance if this process dies without closing it (kill -9).
        ray.init(
          num_cpus=max(num_workers or 1, os.cpu_count() or 1),
          include_dashboard=False,
          dashboard_host="127.0.0.1",
          ignore_reinit_error=True,
          log_to_driver=False,
          logging_level=logging.WARNING,
        )
        _start_watchdog()
      _SESSION["owned"] = True
    elif address:
      _log.info("Ray is already initialised in this process; ignoring address=%r", address)
    _SESSION["users"] += 1
    self._uses_session = True

    self._options = dict(
      num_cpus=num_cpus_per_worker, max_restarts=0, max_task_retries=0, scheduling_strategy=scheduling_strategy
    )
    try:
      cpus = ray.cluster_resources().get("CPU", 0.0)
      if num_workers is None:
        num_workers = self._cluster_workers()
      if num_workers * num_cpus_per_worker > cpus:
        _log.warning(
          "RayPool: %d workers x %g CPUs exceed the cluster's %g CPUs; some actors will wait for resources",
          num_workers,
          num_cpus_per_worker,
          cpus,
        )
      now = time.monotonic()
      for _ in range(num_workers):
        actor = self._new_actor()
        self._slots.append(_Slot(actor, actor.info.remote(), now + start_timeout))
      try:
        infos = ray.get([s.ref for s in self._slots], timeout=start_timeout)
      except ray.exceptions.GetTimeoutError as e:
        raise RuntimeError(
          f"Ray actors did not start within {start_timeout:.0f}s (the cluster has {cpus:g} CPUs, "
          f"{num_workers} workers need {num_workers * num_cpus_per_worker:g})"
        ) from e
      except ray.exceptions.RayError as e:
        raise RuntimeError(f"a Ray host worker failed to start:\n{e}") from e
      for s, info in zip(self._slots, infos):
        s.state, s.ref, s.fresh, s.node = _IDLE, None, False, info.node_id
    except BaseException:
      self.close()
      raise
    self.obs_dim, self.act_dim = infos[0].obs_dim, infos[0].act_dim
    _log.info("RayPool: %d workers on %d nodes", len(self._slots), len({s.node for s in self._slots}))

  @property
  def workers(self) -> list:
    """The actor handles, one per place in the pool (replacements take their place)."""
    return [s.actor for s in self._slots]

  @property
  def worker_nodes(self) -> list[str | None]:
    """The Ray node id of each place in the pool (`None` while its actor has not answered yet)."""
    return [s.node for s in self._slots]

  def _cluster_workers(self) -> int:
    """Actors the live nodes have CPUs for (at least one)."""
    cpus = self._ray.cluster_resources().get("CPU", 0.0)
    return max(1, int(cpus // self.num_cpus_per_worker + 1e-9))

  def _new_actor(self):
    return _actor_class(self._ray).options(**self._options).remote(self.init_cfg)

  def _kill(self, actor) -> None:
    try:
      self._ray.kill(actor, no_restart=True)
    except Exception:  # pylint: disable=broad-except
      pass

  def _first_call(self, actor):
    """An actor's first call: its readiness, or the current broadcast (which it must have first)."""
    return actor.info.remote() if self._broadcast_ref is None else actor.set_center.remote(self._broadcast_ref)

  def _replace(self, slot: _Slot, reason: str, detail: str = "") -> None:
    """Kills the slot's actor and starts a fresh one, which gets the current broadcast first."""
    _log.warning("RayPool: replacing a worker (%s)", reason)
    if slot.fresh:
      self._start_failures += 1
      self.stats["start_failures"] += 1
      if self._start_failures > self.max_start_failures:
        raise RuntimeError(
          f"Ray host workers failed to start {self._start_failures} times in a row; last: {detail or reason}"
        )
    self._kill(slot.actor)
    self.stats["workers_replaced"] += 1
    actor = self._new_actor()
    slot.actor, slot.ref, slot.state, slot.fresh, slot.jobs = actor, self._first_call(actor), _STARTING, True, []
    slot.overdue, slot.node = False, None
    slot.deadline = time.monotonic() + self.start_timeout

  def _resize(self) -> None:
    """Elastic pools: as many actors as the live nodes have CPUs for.  New actors are started
    (they get the current broadcast first); surplus ones are stopped, those not yet running first."""
    target = self._cluster_workers()
    now = time.monotonic()
    if target > len(self._slots):
      self.stats["workers_added"] += target - len(self._slots)
      for _ in range(target - len(self._slots)):
        actor = self._new_actor()
        self._slots.append(_Slot(actor, self._first_call(actor), now + self.start_timeout))
      _log.info("RayPool: the cluster grew; %d workers", len(self._slots))
    elif target < len(self._slots):
      # Those that never answered first (waiting for CPUs a lost node had), then the newest.
      order = sorted(range(len(self._slots)), key=lambda i: (not self._slots[i].fresh, -i))
      drop = set(order[: len(self._slots) - target])
      for i in drop:
        self._kill(self._slots[i].actor)
      self._slots = [s for i, s in enumerate(self._slots) if i not in drop]
      self.stats["workers_removed"] += len(drop)
      _log.info("RayPool: the cluster shrank; %d workers", len(self._slots))

  def broadcast(self, msg: SetCenter) -> None:
    """Puts `msg` in the object store once and sends every actor its reference; later
    replacements get it too.  An actor takes jobs once it acknowledged it.  An elastic pool
    first follows the cluster's size."""
    self._broadcast_ref = self._ray.put(msg)
    if self.elastic:
      self._resize()
    now = time.monotonic()
    for slot in self._slots:
      ref = slot.actor.set_center.remote(self._broadcast_ref)
      if slot.state == _IDLE:
        slot.deadline = now + self.start_timeout
      slot.state, slot.ref = _STARTING, ref  # calls on one actor run in order: this one is last

  def _batch_size(self, pending) -> int:
    """Episodes for the next call: half of each actor's share of what is left (guided
    self-scheduling: large batches first, single episodes at the end, so no actor is left with a
    long tail), at most `max_batch`."""
    return max(1, min(self.max_batch, len(pending) // (2 * max(1, len(self._slots)))))

  def _take_batch(self, pending) -> list[tuple[EpisodeJob, int]]:
    size = self._batch_size(pending)
    batch = [pending.popleft()]
    if batch[0][0].index in self._solo:
      return batch
    while len(batch) < size and pending and pending[0][0].index not in self._solo:
      batch.append(pending.popleft())
    return batch

  def run(self, jobs: list[EpisodeJob]) -> dict[int, EpisodeResult]:
    """Runs `jobs` and returns `{job.index: result}`.  Lost jobs are absent from the answer."""
    ray = self._ray
    pending = collections.deque((job, 0) for job in jobs)  # (job, tries so far)
    results: dict[int, EpisodeResult] = {}
    self.last_run_nodes = collections.Counter()
    self._solo = set()
    if pending and not self._slots:
      raise RuntimeError("RayPool.run on a closed pool")
    # Bookkeeping that costs O(1) per answer: the idle actors, the pending calls by reference,
    # and the earliest deadline (deadlines only grow, so a scan is needed only once it passed).
    idle = collections.deque(s for s in self._slots if s.state == _IDLE)
    waiting = {s.ref: s for s in self._slots if s.state != _IDLE and s.ref is not None}
    next_check = min([s.deadline for s in waiting.values() if not s.overdue], default=math.inf)
    busy = 0  # actors running a batch of this call's jobs
    try:
      while pending or busy:
        now = time.monotonic()
        while idle and pending:
          slot = idle.popleft()
          if slot.state != _IDLE:
            continue
          slot.jobs = self._take_batch(pending)
          slot.ref = slot.actor.run_jobs.remote([job for job, _ in slot.jobs])
          slot.state, slot.deadline = _BUSY, now + self.job_timeout * len(slot.jobs)
          waiting[slot.ref] = slot
          busy += 1
          next_check = min(next_check, slot.deadline)
        if not waiting:
          continue
        timeout = min(1.0, max(0.0, next_check - now))
        refs = list(waiting)
        ready, rest = ray.wait(refs, num_returns=1, timeout=timeout)
        if ready and rest:
          more, _ = ray.wait(rest, num_returns=len(rest), timeout=0)
          ready += more
        for ref in ready:
          slot = waiting.pop(ref)
          busy -= slot.state == _BUSY
          self._collect(slot, ref, pending, results)
          if slot.state == _IDLE:
            idle.append(slot)
          else:
            waiting[slot.ref] = slot
            next_check = min(next_check, slot.deadline)
        now = time.monotonic()
        if now < next_check:
          continue
        next_check = math.inf
        for slot in list(waiting.values()):
          if slot.overdue:
            continue
          if now <= slot.deadline:
            next_check = min(next_check, slot.deadline)
            continue
          del waiting[slot.ref]
          if slot.state == _BUSY:
            busy -= 1
            what = ", ".join(str(job.index) for job, _ in slot.jobs)
            self._retry(slot, pending)
            self._replace(slot, f"job {what} ran past job_timeout={self.job_timeout:g}s per job")
          elif not slot.fresh:
            self._replace(slot, f"no answer to the broadcast within start_timeout={self.start_timeout:g}s")
          else:
            # Most likely waiting for free CPUs (a lost node): recreating it would not help, and
            # the other actors go on working.  It joins in when it starts.
            slot.overdue = True
            _log.warning(
              "RayPool: a new worker has not started within start_timeout=%gs (waiting for "
              "resources?); going on with the others",
              self.start_timeout,
            )
          waiting[slot.ref] = slot
          if not slot.overdue:
            next_check = min(next_check, slot.deadline)
        if pending and all(s.state == _STARTING and s.overdue for s in self._slots):
          raise RuntimeError(
            f"no Ray host worker has started within start_timeout={self.start_timeout:g}s "
            f"(cluster CPUs: {self._ray.cluster_resources().get('CPU', 0.0):g}, available: "
            f"{self._ray.available_resources().get('CPU', 0.0):g})"
          )
    finally:
      for slot in self._slots:
        if slot.state == _BUSY:  # interrupted: the batch's answer, when it comes, is discarded
          slot.state, slot.jobs = _STARTING, []
    if self.last_run_nodes:
      _log.info(
        "RayPool: %d episodes on %d nodes: %s",
        sum(self.last_run_nodes.values()),
        len(self.last_run_nodes),
        ", ".join(f"{node[:8]} {n}" for node, n in sorted(self.last_run_nodes.items())),
      )
    return results

  def _collect(self, slot: _Slot, ref, pending, results) -> None:
    ray = self._ray
    try:
      value = ray.get(ref)
    except ray.exceptions.RayError as e:  # the actor died, or a job raised
      busy = slot.state == _BUSY
      what = "starting or receiving the broadcast"
      if busy:
        what = "job " + ", ".join(str(job.index) for job, _ in slot.jobs)
        self._retry(slot, pending)
      lines = [line.strip() for line in str(e).splitlines() if line.strip()] or [""]
      summary = lines[-1] if isinstance(e, ray.exceptions.RayTaskError) else lines[0]
      self._replace(slot, f"{type(e).__name__} on {what}: {summary}", str(e))
      return
    if slot.state == _BUSY:
      assert slot.node is not None, "an actor takes jobs only after it said where it runs"
      for (job, _), result in zip(slot.jobs, value):
        results[job.index] = result
        self._solo.discard(job.index)
      self.last_run_nodes[slot.node] += len(slot.jobs)
      self.node_episodes[slot.node] += len(slot.jobs)
    elif isinstance(value, ActorInfo):
      slot.node = value.node_id
    elif isinstance(value, str):
      slot.node = value
    slot.state, slot.ref, slot.jobs = _IDLE, None, []
    if slot.fresh:
      slot.fresh = slot.overdue = False
      self._start_failures = 0

  def _retry(self, slot: _Slot, pending) -> None:
    """A failed call's jobs go back on `pending`.  A single job is charged one try
    (`host_pool.requeue`); a failed batch cannot tell which of its episodes killed the actor,
    so its jobs return uncharged, at the front, and each runs alone until it succeeds."""
    jobs, slot.jobs = slot.jobs, []
    if len(jobs) == 1:
      job, tries = jobs[0]
      host_pool.requeue(self.stats, pending, job, tries, self.max_retries)
      return
    self.stats["batches_split"] += 1
    for job, tries in reversed(jobs):
      self._solo.add(job.index)
      pending.appendleft((job, tries))

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
