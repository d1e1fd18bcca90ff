"""`chromnas.core.row_threads`: every row exactly once, on several threads (Python kernels under the
GIL, numba kernels without it), and never waiting for a helper that has not started."""

import threading
import time

import numpy as np
import pytest

from chromnas.core import row_threads


def _recorder():
  seen, lock = [], threading.Lock()

  def kernel(tag, lo, hi):
    with lock:
      seen.append((tag, lo, hi, threading.get_ident()))

  return kernel, seen


@pytest.mark.parametrize("threads, rows", [(1, 1000), (2, 4096), (3, 1000), (8, 100), (4, 63), (2, 0)])
def test_rows_covered_once(threads, rows):
  row_threads.set_threads(threads)
  try:
    kernel, seen = _recorder()
    row_threads.run(kernel, rows, "t")
  finally:
    row_threads.set_threads(None)
  covered = sorted((lo, hi) for _, lo, hi, _ in seen)
  assert all(tag == "t" for tag, *_ in seen)
  assert covered[0][0] == 0 and covered[-1][1] == rows
  assert all(a[1] == b[0] for a, b in zip(covered, covered[1:]))  # contiguous, disjoint
  chunks = min(threads * row_threads.CHUNKS_PER_THREAD, rows // row_threads.MIN_CHUNK_ROWS)
  assert len(covered) == (chunks if threads > 1 and chunks > 1 else 1)


def test_does_not_wait_for_helpers_that_never_start(monkeypatch):
  """On a machine whose cores are busy, a helper may not run for milliseconds: the caller then
  claims every chunk itself and returns."""

  class Idle:
    generation = np.zeros(1, np.int64)
    entered = np.zeros(1, np.int64)

    def post(self, job):  # the helpers are never scheduled
      del job

  monkeypatch.setattr(row_threads, "_pool", lambda helpers: Idle())
  row_threads.set_threads(4)
  try:
    kernel, seen = _recorder()
    row_threads.run(kernel, 1024, "t")
    ys = np.zeros(1024)
    row_threads.run(_numba_rows(), 1024, ys)  # the GIL-free path: the caller polls, then finishes alone
  finally:
    row_threads.set_threads(None)
  assert len(seen) == 16 and {ident for *_, ident in seen} == {threading.get_ident()}
  np.testing.assert_array_equal(ys, np.arange(1024) + 1.0)


def _numba_rows():
  numba = pytest.importorskip("numba")

  @numba.njit(nogil=True)
  def kernel(ys, lo, hi):
    for i in range(lo, hi):
      ys[i] += i + 1.0

  return kernel


@pytest.mark.parametrize("threads", [2, 3])
def test_numba_kernels_cover_every_row_once(threads):
  """Numba kernels take the GIL-free path (chunks claimed with atomics, helpers that poll); every
  row is added to exactly once, over many back-to-back products and one after the helpers slept."""
  kernel = _numba_rows()
  ys = np.zeros(4096)
  row_threads.set_threads(threads)
  try:
    for _ in range(50):
      row_threads.run(kernel, 4096, ys)
    time.sleep(0.01)  # past the helpers' poll: they sleep, and are woken by the next product
    row_threads.run(kernel, 4096, ys)
  finally:
    row_threads.set_threads(None)
  np.testing.assert_array_equal(ys, 51 * (np.arange(4096) + 1.0))


def test_concurrent_callers_do_not_interfere():
  """Products from two Python threads at once: the second runs on its own thread, both complete."""
  kernel = _numba_rows()
  outs = [np.zeros(2048) for _ in range(2)]
  row_threads.set_threads(2)
  try:
    workers = [threading.Thread(target=lambda y=y: [row_threads.run(kernel, 2048, y) for _ in range(30)]) for y in outs]
    for w in workers:
      w.start()
    for w in workers:
      w.join()
  finally:
    row_threads.set_threads(None)
  for y in outs:
    np.testing.assert_array_equal(y, 30 * (np.arange(2048) + 1.0))


def test_errors_reach_the_caller():
  def kernel(lo, hi):
    if lo > 0:
      raise RuntimeError("boom")

  row_threads.set_threads(2)
  try:
    with pytest.raises(RuntimeError, match="boom"):
      row_threads.run(kernel, 1024)
  finally:
    row_threads.set_threads(None)


def test_thread_count(monkeypatch):
  monkeypatch.setenv("CHROMNAS_THREADS", "3")
  assert row_threads.threads() == 3
  row_threads.set_threads(1)
  assert row_threads.threads() == 1
  row_threads.set_threads(None)
  monkeypatch.delenv("CHROMNAS_THREADS")
  assert row_threads.threads() >= 1
  with pytest.raises(ValueError, match="threads must be >= 1"):
    row_threads.set_threads(0)


_FORK = r"""
import os, threading
from chromnas.core import row_threads
row_threads.set_threads(2)
seen = []
row_threads.run(lambda lo, hi: seen.append(threading.get_ident()), 1024)  # the parent's pool exists now
pid = os.fork()
if pid == 0:  # the child forgets the parent's pool and starts its own
  ok = row_threads._state["pool"] is None
  done = []
  row_threads.run(lambda lo, hi: done.append((lo, hi)), 1024)
  os._exit(0 if ok and sorted(done)[-1][1] == 1024 and len(done) == 8 else 1)
_, status = os.waitpid(pid, 0)
print("ok" if os.WEXITSTATUS(status) == 0 else "child failed")
"""


def test_forked_child_starts_its_own_pool():
  """A process forked after a product (as a worker pool may be) runs its own helpers; run in a
  fresh interpreter, as forking this test process (with JAX's threads) is not safe."""
  import os  # pylint: disable=g-import-not-at-top
  import subprocess  # pylint: disable=g-import-not-at-top
  import sys  # pylint: disable=g-import-not-at-top

  if not hasattr(os, "fork"):
    pytest.skip("no fork on this platform")
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  done = subprocess.run([sys.executable, "-c", _FORK], capture_output=True, text=True, timeout=120, cwd=root)
  assert done.stdout.strip() == "ok", done.stderr[-2000:]
