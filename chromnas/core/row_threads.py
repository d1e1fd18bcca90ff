"""Rows of a matvec split over all cores, robust to a busy machine: `run(kernel, rows, *args)`.

    from chromnas.core import row_threads
    row_threads.run(kernel, rows, a, b)       # kernel(a, b, lo, hi) for row ranges covering [0, rows)
    row_threads.set_threads(2)                # or CHROMNAS_THREADS=2; default: the CPUs this process may use

The rows are cut into `CHUNKS_PER_THREAD` chunks per thread; the calling thread and `threads() - 1`
helper threads claim chunks one at a time from a shared counter until none is left, and the call
returns once every claimed chunk is done.  `kernel` should be a numba function compiled with
`nogil=True`: chunks of such a kernel are claimed with atomic adds inside one numba loop, so no
thread needs the GIL during a product.  Any other callable works too, with chunks claimed under
the GIL (correct, but the threads then take turns with it).

Why not a static split (numba `prange`, OpenMP): there every thread must finish its share, so on a
machine whose cores are busy with other work a helper that is not scheduled for a few
milliseconds stalls the whole product (a ~1 ms product then takes several times as long, as a
two-thread BLAS call does).  Here a helper that has not started yet claims nothing, and the caller
does the rest itself, so the product never takes much longer than on one core.

Why the helpers poll: waking a sleeping thread costs 40-100 us on a virtual machine (the idle
virtual CPU must be rescheduled), which is a quarter of a 4096x4096 product, and a thread that
asks for the GIL while another holds it goes to sleep the same way.  A helper therefore takes the
GIL only once the caller has marked that it is inside numba, and at the end of a product it waits
(in numba) for the next caller's mark before it returns to Python.  So after each product
the helpers, and the caller waiting for the last chunks, poll a shared counter for `spin_us()`
microseconds (default 200, `CHROMNAS_SPIN_US`; 0 turns polling off) before they sleep.  The poll
runs in numba without the GIL, with the CPU's `pause` hint between reads, so it does not slow the
Python threads; this is what BLAS libraries' threads do between calls.  Without numba the threads
sleep at once.  Products from several Python threads at once do not wait for each other: a call
that finds the helpers busy runs on its own thread.
"""

from __future__ import annotations

import itertools
import os
import platform
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

CHUNKS_PER_THREAD = 4  # small enough that a stalled helper holds up little, large enough that the
#                        per-chunk call (~2-5 us) stays a small share of a chunk
MIN_CHUNK_ROWS = 64  # fewer rows per chunk than this are not worth a thread handoff
DEFAULT_SPIN_US = 200.0  # covers back-to-back products (the layers of one policy step)

_lock = threading.Lock()
_run_lock = threading.Lock()  # one multi-threaded product at a time; others run on their caller
_state: dict[str, Any] = {"threads": None, "pool": None, "spin": None}


def _forget_pool() -> None:
  # A forked child has none of the parent's threads: start new helpers there on first use, with
  # new locks (a helper may have held one at the fork, and nothing would release it there).
  global _lock, _run_lock
  _state["pool"] = None
  _lock, _run_lock = threading.Lock(), threading.Lock()


if hasattr(os, "register_at_fork"):
  os.register_at_fork(after_in_child=_forget_pool)


def _default_threads() -> int:
  env = os.environ.get("CHROMNAS_THREADS", "")
  if env:
    return max(1, int(env))
  try:
    return max(1, len(os.sched_getaffinity(0)))
  except AttributeError:  # not on Linux
    return max(1, os.cpu_count() or 1)


def threads() -> int:
  """Threads a product uses: `set_threads`, else `CHROMNAS_THREADS`, else the CPUs this process may run on."""
  n = _state["threads"]
  return n if n is not None else _default_threads()


def set_threads(n: int | None) -> None:
  """Sets the threads per product (`None`: back to the default)."""
  if n is not None and int(n) < 1:
    raise ValueError(f"threads must be >= 1, got {n}")
  _state["threads"] = None if n is None else int(n)


def spin_us() -> float:
  """Microseconds a helper (or the caller, for the last chunks) polls before it sleeps: `CHROMNAS_SPIN_US`, else 200."""
  env = os.environ.get("CHROMNAS_SPIN_US", "")
  return max(0.0, float(env)) if env else DEFAULT_SPIN_US


def _compile_sync() -> dict[str, Any] | None:
  """numba functions that need no GIL (`None` without numba):

  * `spin(counter, index, target, iterations) -> counter[index] >= target`: reads the counter with
    acquire loads (never hoisted out of the loop) up to `iterations` times, `pause` between reads on x86;
  * `work(kernel, counters, bounds, entered, generation, caller, iterations, *args)`: claims chunk
    `c = counters[0]++` (atomic) and runs `kernel(*args, bounds[c], bounds[c + 1])` until none is left,
    counting finished chunks in `counters[1]`.  The caller first marks `entered[0] = generation`
    and at the end polls for the helpers' last chunks; a helper at the end polls for the next
    product's caller to mark `entered`.  So a thread takes the GIL back only while the other one
    is in GIL-free code: taking it from a thread that holds it would put this one to sleep."""
  from chromnas.core import mailman  # pylint: disable=g-import-not-at-top

  if mailman.backend() != "numba":
    return None
  import numba  # pylint: disable=g-import-not-at-top
  from llvmlite import ir  # pylint: disable=g-import-not-at-top
  from numba.core import cgutils  # pylint: disable=g-import-not-at-top
  from numba.extending import intrinsic  # pylint: disable=g-import-not-at-top

  x86 = platform.machine().lower() in ("x86_64", "amd64", "i686", "x86")
  int64 = numba.types.int64

  def slot(context, builder, signature, args):
    array = context.make_array(signature.args[0])(context, builder, args[0])
    return builder.gep(array.data, [args[1]])

  def load_acquire_typer(typingctx, counter, index):
    def codegen(context, builder, signature, args):
      return builder.load_atomic(slot(context, builder, signature, args), "acquire", 8)

    return int64(counter, int64), codegen

  load_acquire: Any = intrinsic(load_acquire_typer)

  def store_release_typer(typingctx, counter, index, value):
    def codegen(context, builder, signature, args):
      builder.store_atomic(args[2], slot(context, builder, signature, args), "release", 8)
      return context.get_dummy_value()

    return numba.types.none(counter, int64, int64), codegen

  store_release: Any = intrinsic(store_release_typer)

  def fetch_add_typer(typingctx, counter, index, value):
    def codegen(context, builder, signature, args):
      return builder.atomic_rmw("add", slot(context, builder, signature, args), args[2], "acq_rel")

    return int64(counter, int64, int64), codegen

  fetch_add: Any = intrinsic(fetch_add_typer)

  def pause_typer(typingctx):
    def codegen(context, builder, signature, args):
      if x86:  # a spin-wait hint: frees the core's resources for the other work on it
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.VoidType(), []), "llvm.x86.sse2.pause")
        builder.call(fn, [])
      return context.get_dummy_value()

    return numba.types.none(), codegen

  pause: Any = intrinsic(pause_typer)

  def poll_counter(counter, index, target, iterations):
    for _ in range(iterations):
      if load_acquire(counter, index) >= target:
        return True
      pause()
    return load_acquire(counter, index) >= target

  # Compiled once, eagerly: called from Python (`spin`) and from `work` alike.
  sig = numba.types.boolean(numba.types.Array(numba.int64, 1, "C"), int64, int64, int64)
  poll = numba.njit([sig], nogil=True)(poll_counter)

  @numba.njit(nogil=True)
  def work(kernel, counters, bounds, entered, generation, caller, iterations, *args):
    chunks = len(bounds) - 1
    if caller:
      store_release(entered, 0, generation)
    while True:
      c = fetch_add(counters, 0, 1)
      if c >= chunks:
        break
      kernel(*args, bounds[c], bounds[c + 1])
      fetch_add(counters, 1, 1)
    if caller:
      poll(counters, 1, chunks, iterations)
    else:  # return (and take the GIL) once the next product's caller has let it go
      poll(entered, 0, generation + 1, iterations)

  return {"spin": poll, "work": work}


def _sync() -> tuple[dict[str, Any] | None, float]:
  """The compiled `_compile_sync` functions and the polls per second (measured once per process)."""
  if _state["spin"] is None:
    with _lock:
      if _state["spin"] is None:
        fns = _compile_sync()
        rate = 0.0
        if fns is not None:
          probe = np.zeros(1, np.int64)
          fns["spin"](probe, 0, 1, 10)
          start = time.perf_counter()
          fns["spin"](probe, 0, 1, 20000)
          rate = 20000 / max(time.perf_counter() - start, 1e-9)
        _state["spin"] = (fns, rate)
  return _state["spin"]


def _spin_iterations() -> int:
  """Polls in `spin_us()` microseconds (0 without numba)."""
  fns, rate = _sync()
  return int(spin_us() * 1e-6 * rate) if fns is not None else 0


def _wait_for(counter: np.ndarray, index: int, target: int) -> bool:
  """Polls `counter[index] >= target` for `spin_us()`; whether it got there (else the caller sleeps)."""
  fns, rate = _sync()
  iterations = int(spin_us() * 1e-6 * rate)
  if fns is None or iterations <= 0:
    return bool(counter[index] >= target)
  return bool(fns["spin"](counter, index, target, iterations))


class _Helpers:
  """Daemon threads that run the posted job: `post(job)` makes each helper `i` call `job(i)`.
  A helper that is late (or not scheduled at all) may skip a job: the caller finishes it."""

  def __init__(self, count: int):
    self.generation = np.zeros(1, np.int64)  # posts so far; helpers poll it
    self.entered = np.zeros(1, np.int64)  # the last post whose caller is in GIL-free code
    self.job: Callable[[int], None] | None = None
    self.wake = threading.Condition()
    self.count = 0
    self.grow(count)

  def grow(self, count: int) -> None:
    for i in range(self.count, count):
      threading.Thread(target=self._loop, args=(i,), daemon=True, name=f"chromnas-rows-{i}").start()
    self.count = max(self.count, count)

  def post(self, job: Callable[[int], None]) -> int:
    """Posts `job`; its generation."""
    self.job = job
    with self.wake:
      self.generation[0] += 1
      self.wake.notify_all()
    return int(self.generation[0])

  def _loop(self, index: int) -> None:
    seen = int(self.generation[0])
    while True:
      if not _wait_for(self.generation, 0, seen + 1):
        with self.wake:
          while self.generation[0] <= seen:
            self.wake.wait()
      seen = int(self.generation[0])
      # Taking the GIL while the caller still holds it would put this thread to sleep (a slow
      # wake-up): first wait, without it, for the caller to enter the kernels.
      _wait_for(self.entered, 0, seen)
      job = self.job
      if job is not None:
        job(index)


def _pool(helpers: int) -> _Helpers:
  _sync()  # compiled by the caller, before any helper polls
  with _lock:
    pool = _state["pool"]
    if pool is None:
      pool = _state["pool"] = _Helpers(helpers)
    elif pool.count < helpers:
      pool.grow(helpers)
    return pool


def _is_numba(kernel) -> bool:
  try:
    from numba.core.registry import CPUDispatcher  # pylint: disable=g-import-not-at-top
  except ImportError:
    return False
  return isinstance(kernel, CPUDispatcher)


def run(kernel, rows: int, *args, min_chunk: int = MIN_CHUNK_ROWS) -> None:
  """Calls `kernel(*args, lo, hi)` on row ranges `[lo, hi)` that cover `[0, rows)` once each,
  on up to `threads()` threads (the caller among them), in chunks of at least `min_chunk` rows."""
  n = threads()
  chunks = min(n * CHUNKS_PER_THREAD, rows // max(1, min_chunk))
  if n == 1 or chunks <= 1 or not _run_lock.acquire(blocking=False):
    kernel(*args, 0, rows)
    return
  try:
    bounds = [rows * c // chunks for c in range(chunks + 1)]
    fns, _ = _sync() if _is_numba(kernel) else (None, 0.0)
    if fns is not None:
      _run_numba(fns["work"], kernel, np.asarray(bounds, np.int64), n - 1, args)
    else:
      _run_python(kernel, bounds, n - 1, args)
  finally:
    _run_lock.release()


def _run_numba(work, kernel, bounds: np.ndarray, helpers: int, args: tuple) -> None:
  """Chunks claimed and run in numba without the GIL, on the caller and helpers."""
  counters = np.zeros(2, np.int64)  # [chunks claimed, chunks finished]
  chunks = len(bounds) - 1
  finished = threading.Event()
  errors: list[BaseException] = []  # what a helper's chunk raised; re-raised by the caller
  pool = _pool(helpers)
  iterations = _spin_iterations()

  generation = int(pool.generation[0]) + 1

  def job(helper: int) -> None:
    if helper >= helpers:  # a helper beyond `threads()`, left from a larger setting
      return
    try:
      work(kernel, counters, bounds, pool.entered, generation, False, iterations, *args)
    except BaseException as e:  # pylint: disable=broad-except
      errors.append(e)  # its chunk never counts as finished: the caller stops waiting for it here
    if counters[1] >= chunks or errors:
      finished.set()

  pool.post(job)
  work(kernel, counters, bounds, pool.entered, generation, True, iterations, *args)
  while counters[1] < chunks and not errors:  # a helper still in its last chunk after the poll
    finished.wait(0.001)
  if errors:
    raise errors[0]


def _run_python(kernel, bounds: list[int], helpers: int, args: tuple) -> None:
  """Chunks claimed under the GIL: any callable (a Python kernel, or numba without the helpers)."""
  chunks = len(bounds) - 1
  counter = itertools.count()  # next() on it is atomic under the GIL: each chunk is claimed once
  finished = threading.Event()
  done = np.zeros(1, np.int64)  # chunks finished (polled by the caller)
  errors: list[BaseException] = []  # what a chunk raised; re-raised by the caller
  done_lock = threading.Lock()

  def work(helper: int = -1) -> None:
    if helper >= helpers:
      return
    while True:
      c = next(counter)
      if c >= chunks:
        return
      try:
        kernel(*args, bounds[c], bounds[c + 1])
      except BaseException as e:  # pylint: disable=broad-except
        errors.append(e)
      with done_lock:
        done[0] += 1
        if done[0] == chunks:
          finished.set()

  pool = _pool(helpers)
  pool.post(work)
  pool.entered[0] = pool.generation[0]  # the helpers need the GIL here anyway
  work()
  if not _wait_for(done, 0, chunks):
    finished.wait()
  if errors:
    raise errors[0]
