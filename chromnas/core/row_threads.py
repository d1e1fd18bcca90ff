"""Rows of a matvec split over all cores, robust to a busy machine: `run(kernel, rows, *args)`.

    from chromnas.core import row_threads
    row_threads.run(kernel, rows, a, b)       # kernel(a, b, lo, hi) for row ranges covering [0, rows)
    row_threads.set_threads(2)                # or CHROMNAS_THREADS=2; default: the CPUs this process may use

The rows are cut into `CHUNKS_PER_THREAD` chunks per thread; the calling thread and `threads() - 1`
helper threads claim chunks one at a time from a shared counter until none is left, and the call
returns once every claimed chunk is done.  `kernel` must be a numba function compiled with
`nogil=True` (it then runs in parallel with the others).

Why not a static split (numba `prange`, OpenMP): there every thread must finish its share, so on a
machine whose cores are busy with other work a helper that is not scheduled for a few
milliseconds stalls the whole product (a ~1 ms product then takes several times as long, as a
two-thread BLAS call does).  Here a helper that has not started yet claims nothing, and the caller
does the rest itself, so the product never takes much longer than on one core.

Stdlib only.
"""

from __future__ import annotations

import concurrent.futures
import itertools
import os
import threading
from typing import Any

CHUNKS_PER_THREAD = 4  # small enough that a stalled helper holds up little, large enough that the
#                        per-chunk call (~2-5 us) stays a small share of a chunk
MIN_CHUNK_ROWS = 64  # fewer rows per chunk than this are not worth a thread handoff

_lock = threading.Lock()
_state: dict = {"threads": None, "pool": None, "pool_size": 0}


def _forget_pool() -> None:
  # A forked child has none of the parent's threads: start a new pool there on first use.
  _state.update(pool=None, pool_size=0)


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


def _pool(helpers: int) -> concurrent.futures.ThreadPoolExecutor:
  with _lock:
    if _state["pool"] is None or _state["pool_size"] < helpers:
      old = _state["pool"]
      _state["pool"] = concurrent.futures.ThreadPoolExecutor(helpers, thread_name_prefix="chromnas-rows")
      _state["pool_size"] = helpers
      if old is not None:
        old.shutdown(wait=False)
    return _state["pool"]


def run(kernel, rows: int, *args) -> None:
  """Calls `kernel(*args, lo, hi)` on row ranges `[lo, hi)` that cover `[0, rows)` once each,
  on up to `threads()` threads (the caller among them)."""
  n = threads()
  chunks = min(n * CHUNKS_PER_THREAD, rows // MIN_CHUNK_ROWS)
  if n == 1 or chunks <= 1:
    kernel(*args, 0, rows)
    return
  bounds = [rows * c // chunks for c in range(chunks + 1)]
  counter = itertools.count()  # next() on it is atomic under the GIL: each chunk is claimed once
  finished = threading.Event()
  state: dict[str, Any] = {"done": 0, "error": None}  # chunks finished; the exception a chunk raised
  done_lock = threading.Lock()

  def work():
    while True:
      c = next(counter)
      if c >= chunks:
        return
      try:
        kernel(*args, bounds[c], bounds[c + 1])
      except BaseException as e:  # pylint: disable=broad-except
        state["error"] = e  # re-raised by the caller
      with done_lock:
        state["done"] += 1
        if state["done"] == chunks:
          finished.set()

  pool = _pool(n - 1)
  for _ in range(n - 1):
    pool.submit(work)
  work()
  finished.wait()
  if state["error"] is not None:
    raise state["error"]
