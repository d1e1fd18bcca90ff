"""The ES driver's cost per iteration against the number of workers and directions.

  python -m experiments.bench_scaling                     # the README's table (a few minutes)
  python -m experiments.bench_scaling --workers=16,1024 --directions=64,1024 --iterations=2

Everything the driver does in one iteration of a real row (default HalfCheetah H41 chromatic
K=17 with the ENAS controller) is timed: `ask`, the broadcast and the encoding and sending of
the episode jobs, waiting for and decoding the results, the host evaluator's own work (jobs,
seeds, combining results), `tell`, and reading the metrics; the partition source's share of
`ask` + `tell` is timed alone.  The workers are *logical*: `RayPool` runs unchanged on a
simulated transport (`SimulatedRay`, the calls of Ray's API the pool makes) whose actors are
stand-ins answering at once with results of the real shapes.  Arguments and results are pickled
as Ray pickles them, and the bytes each worker receives and sends are counted (the broadcast
once per worker, as a worker fetches the object from the object store once).  The stand-ins'
own work (decoding arguments, building and encoding results) is timed and taken out of the
driver's figures.  As every answer is ready at once, each `ray.wait` collects all of them: the
figures are the driver's work per episode and per worker, without idle time.

What a real Ray cluster adds per actor call (submitting it, and `ray.wait` over the pending
calls) is measured separately with two real local actors (`--ray_calls`, skipped by default).
The model printed at the end:

  T(N) = T_seq(t) + max(ceil(2t / N) E, T_dispatch(N, t)),  T_dispatch = D(N, t) + c_call (calls + N)

with `T_seq` (ask, tell, metrics: the workers wait), `D` the driver's dispatch work measured in
the table (broadcast, send, wait, receive, pool, evaluator: it overlaps with the episodes), `E`
the time of one episode, `c_call` Ray's own driver time per actor call (the jobs' calls, and one
broadcast acknowledgement per actor).  The driver saturates at the smallest N where
`ceil(2t / N) E <= T_dispatch`: more workers no longer shorten an iteration.
"""

from __future__ import annotations

import math
import os
import pickle
import time

from absl import app, flags

from experiments import fail, parse_flags_or_exit

_CONFIG = flags.DEFINE_string("config", "halfcheetah_h41_chromatic17", "Row (configs/<name>.py) whose driver is timed.")
_WORKERS = flags.DEFINE_list("workers", ["16", "64", "256", "1024", "4096"], "Logical workers.")
_DIRECTIONS = flags.DEFINE_list("directions", ["64", "512", "2048", "8192"], "Antithetic directions t (population 2t).")
_ITERS = flags.DEFINE_integer("iterations", 2, "Timed iterations per cell (after one untimed).")
_EPISODE_S = flags.DEFINE_float("episode_s", 0.0, "Seconds of one episode for the model (0: time one on this CPU).")
_RAY_CALLS = flags.DEFINE_integer("ray_calls", 0, "Also time this many calls on real local Ray actors (0: skip).")


class _Ref:
  """A call's (or `put`'s) encoded answer."""

  __slots__ = ("payload",)

  def __init__(self, payload: bytes):
    self.payload = payload


class _Exceptions:
  class RayError(Exception):
    pass

  class GetTimeoutError(RayError):
    pass

  class RayTaskError(RayError):
    pass

  class RayActorError(RayError):
    pass


class _Method:
  def __init__(self, actor, name):
    self.actor, self.name = actor, name

  def remote(self, *args):
    return self.actor.call(self.name, args)


class _StandIn:
  """A logical actor: answers `info`, `set_center` and `run_jobs` at once with results of the
  real shapes; counts the bytes it receives and sends."""

  def __init__(self, transport, node: str):
    self.transport, self.node = transport, node
    self.bytes_in = self.bytes_out = 0
    self.seen_broadcast = None
    self.info = _Method(self, "info")
    self.set_center = _Method(self, "set_center")
    self.run_jobs = _Method(self, "run_jobs")

  def call(self, name, args):
    tr = self.transport
    phase = "run" if name == "run_jobs" else "bcast"
    t0 = time.perf_counter()
    # The driver encodes the call; an object reference travels as its id only.
    wire = tuple(("ref", id(a)) if isinstance(a, _Ref) else a for a in args)
    data = pickle.dumps(wire, protocol=5)
    t1 = time.perf_counter()
    tr.s["submit_" + phase] += t1 - t0
    tr.calls += name == "run_jobs"
    self.bytes_in += len(data)
    pickle.loads(data)  # from here on: the worker's side, not the driver's
    if name == "info":
      from chromnas.engines.ray_pool import ActorInfo  # pylint: disable=import-outside-toplevel

      answer = ActorInfo(tr.obs_dim, tr.act_dim, 0, self.node)
    elif name == "set_center":
      ref = args[0]
      if self.seen_broadcast is not ref.payload:  # fetched from the object store once
        self.seen_broadcast = ref.payload
        self.bytes_in += len(ref.payload)
      answer = self.node
    else:
      answer = [tr.result(job) for job in args[0]]
    payload = pickle.dumps(answer, protocol=5)
    self.bytes_out += len(payload)
    tr.s["worker_" + phase] += time.perf_counter() - t1
    return _Ref(payload)


class _ActorClass:
  def __init__(self, transport):
    self.transport = transport

  def options(self, **kwargs):
    del kwargs
    return self

  def remote(self, cfg):
    del cfg
    return self.transport.new_actor()


class SimulatedRay:
  """The calls of Ray's API that `RayPool` makes, over logical actors answering at once."""

  SIMULATED = True
  exceptions = _Exceptions

  def __init__(
    self, num_workers: int, obs_dim: int, act_dim: int, episode_length: int, seed: int = 0, workers_per_node: int = 16
  ):
    import numpy as np  # pylint: disable=import-outside-toplevel

    self.np = np
    self.num_workers, self.obs_dim, self.act_dim = num_workers, obs_dim, act_dim
    self.episode_length, self.workers_per_node = episode_length, workers_per_node
    self.rng = np.random.default_rng(seed)
    self.actors: list[_StandIn] = []
    self.reset_counters()

  def reset_counters(self):
    self.s = dict.fromkeys(("submit_run", "submit_bcast", "worker_run", "worker_bcast", "wait", "get"), 0.0)
    self.calls = 0
    for a in self.actors:
      a.bytes_in = a.bytes_out = 0

  def result(self, job):
    """A stand-in `EpisodeResult` of the real shapes (values that keep `tell` finite)."""
    from chromnas.engines.host_messages import EpisodeResult  # pylint: disable=import-outside-toplevel

    np = self.np
    obs = np.full(self.obs_dim, 0.5)
    return EpisodeResult(
      float(self.rng.normal()),
      self.episode_length,
      float(self.episode_length),
      obs * self.episode_length,
      obs * obs * self.episode_length,
    )

  def new_actor(self):
    a = _StandIn(self, f"node{len(self.actors) // self.workers_per_node:05d}")
    self.actors.append(a)
    return a

  def is_initialized(self) -> bool:
    return True

  def cluster_resources(self) -> dict:
    return {"CPU": float(self.num_workers)}

  available_resources = cluster_resources

  def remote(self, cls):
    del cls
    return _ActorClass(self)

  def put(self, obj):
    t0 = time.perf_counter()
    ref = _Ref(pickle.dumps(obj, protocol=5))
    self.s["submit_bcast"] += time.perf_counter() - t0
    return ref

  def kill(self, actor, no_restart=True):
    del actor, no_restart

  def wait(self, refs, num_returns=1, timeout=None):
    """Every call has answered: the first `num_returns` are ready (Ray's order), the rest too."""
    del timeout
    t0 = time.perf_counter()
    ready, rest = refs[:num_returns], refs[num_returns:]
    self.s["wait"] += time.perf_counter() - t0
    return ready, rest

  def get(self, refs, timeout=None):
    del timeout
    t0 = time.perf_counter()
    out = [pickle.loads(r.payload) for r in refs] if isinstance(refs, list) else pickle.loads(refs.payload)
    self.s["get"] += time.perf_counter() - t0
    return out

  def shutdown(self):
    pass


def _timed(fn, *args):
  t0 = time.perf_counter()
  out = fn(*args)
  return out, time.perf_counter() - t0


class _Driver:
  """The pieces of `build.build` for one row at `directions` directions, compiled once; the
  evaluator (and its simulated pool) is made per worker count."""

  def __init__(self, cfg, directions: int):
    from chromnas.train import build as build_lib  # pylint: disable=import-outside-toplevel
    from chromnas.train import config as config_lib  # pylint: disable=import-outside-toplevel

    cfg = cfg.copy_and_resolve_references()
    cfg.num_directions = directions
    self.cfg = cfg
    self.spec = spec = config_lib.validate(cfg)
    self.source = build_lib.source_from_config(cfg, spec)
    self.optimizer = build_lib.make_optimizer(cfg.optimizer, cfg.learning_rate)
    self.state = build_lib.init_state(cfg.seed, spec, self.source, self.optimizer, cfg.init_scale)
    self.step_cfg = build_lib.step_config(cfg)
    self.iteration = None
    self.source_s = _source_seconds(self.source, spec, self.step_cfg)

  def cell(self, num_workers: int, iterations: int) -> dict:
    """Driver seconds per iteration by phase, calls and bytes per worker, at `num_workers`."""
    import jax  # pylint: disable=import-outside-toplevel

    from chromnas.engines.host_evaluator import HostEvaluator  # pylint: disable=import-outside-toplevel
    from chromnas.es.ask_tell import Request  # pylint: disable=import-outside-toplevel
    from chromnas.train.iteration import Iteration  # pylint: disable=import-outside-toplevel

    cfg, spec = self.cfg, self.spec
    transport = SimulatedRay(num_workers, spec.obs_dim, spec.act_dim, cfg.episode_length)
    ev = HostEvaluator(
      cfg.task,
      spec,
      num_workers=num_workers,
      episode_length=cfg.episode_length,
      noise_seed=cfg.seed,
      noise_size=cfg.noise_size,
      backend="ray",
      ray_module=transport,
    )
    if self.iteration is None:
      self.iteration = Iteration(spec, ev, self.source, self.optimizer, self.step_cfg)
    it, pool, phases = self.iteration, ev.pool, {}

    def wrap(name, fn):
      def inner(*a):
        out, dt = _timed(fn, *a)
        phases[name] = phases.get(name, 0.0) + dt
        return out

      return inner

    pool.broadcast = wrap("broadcast", pool.broadcast)
    pool.run = wrap("run", pool.run)
    rows = []
    state = self.state
    # pylint: disable=protected-access
    for i in range(iterations + 1):
      phases.clear()
      transport.reset_counters()
      t_start = time.perf_counter()
      st = jax.device_put(state, it._replicated)
      (st, req), t_ask = _timed(lambda s: jax.block_until_ready(it._ask(s)), st)
      req, t_get = _timed(lambda r: Request(*jax.device_get(r)), req)
      res, t_eval = _timed(
        ev.evaluate_perturbations, st.params, req.offsets, it.sigma, req.structures, st.obs_stats, req.episode_key
      )
      (st, metrics), t_tell = _timed(lambda *a: jax.block_until_ready(it._tell(*a)), st, req, res, it.table)
      _, t_metrics = _timed(lambda m: {k: float(v) for k, v in jax.device_get(m).items()}, metrics)
      c = transport.s
      total = time.perf_counter() - t_start - c["worker_run"] - c["worker_bcast"]
      state = st
      if i == 0:
        continue  # the first iteration at a new size compiles
      rows.append(
        dict(
          ask=t_ask + t_get,
          broadcast=phases["broadcast"] - c["worker_bcast"],
          send=c["submit_run"],
          wait=c["wait"],
          receive=c["get"],
          pool=phases["run"] - c["worker_run"] - c["submit_run"] - c["wait"] - c["get"],
          evaluator=t_eval - phases["broadcast"] - phases["run"],
          tell=t_tell,
          metrics=t_metrics,
          total=total,
          calls=transport.calls,
          bytes_in=sum(a.bytes_in for a in transport.actors) / len(transport.actors),
          bytes_out=sum(a.bytes_out for a in transport.actors) / len(transport.actors),
        )
      )
    ev.close()
    out = {k: sorted(r[k] for r in rows)[(len(rows) - 1) // 2] for k in rows[0]}
    out["source"] = self.source_s
    return out


def _source_seconds(source, spec, step_cfg) -> float:
  """The partition source's `ask` + `tell` alone for one iteration's partitions (jitted)."""
  import jax  # pylint: disable=import-outside-toplevel
  import jax.numpy as jnp  # pylint: disable=import-outside-toplevel

  if spec.structure_size == 0:
    return 0.0
  k = step_cfg.pairs_per_partition
  n = step_cfg.num_directions // k if k else 2 * step_cfg.num_directions
  st = source.init(jax.random.PRNGKey(0))
  ask = jax.jit(source.ask, static_argnums=2)
  tell = jax.jit(source.tell)
  s = jax.block_until_ready(ask(st, jax.random.PRNGKey(1), n))
  jax.block_until_ready(tell(st, s, jnp.zeros((n,), jnp.float32)))
  times = []
  for i in range(3):
    t0 = time.perf_counter()
    s = ask(st, jax.random.PRNGKey(i), n)
    jax.block_until_ready(tell(st, s, jnp.linspace(0.0, 1.0, n)))
    times.append(time.perf_counter() - t0)
  return sorted(times)[1]


def episode_seconds(cfg) -> float:
  """Seconds of one episode of the row's task at its episode length, in one worker on this CPU."""
  import numpy as np  # pylint: disable=import-outside-toplevel

  from chromnas.engines import host_worker  # pylint: disable=import-outside-toplevel
  from chromnas.engines.host_messages import (
    EpisodeJob,  # pylint: disable=import-outside-toplevel
    SetCenter,  # pylint: disable=import-outside-toplevel
    WorkerConfig,  # pylint: disable=import-outside-toplevel
  )
  from chromnas.envs import tasks  # pylint: disable=import-outside-toplevel
  from chromnas.train import config as config_lib  # pylint: disable=import-outside-toplevel

  spec = config_lib.validate(cfg)
  et = tasks.engine_task(cfg.task, "host")
  kwargs = {"max_episode_steps": cfg.episode_length} if et.make.startswith(tasks.TAKES_MAX_STEPS) else {}
  w = host_worker.WorkerState(
    WorkerConfig(
      et.make,
      kwargs,
      spec.family,
      spec.layer_sizes,
      spec.num_colors,
      0,
      10_000,
      cfg.episode_length,
      cfg.action_repeat,
      cfg.obs_clip,
    )
  )
  w.center = SetCenter(
    np.zeros(spec.num_params, np.float32), 0.0, np.zeros(spec.obs_dim, np.float32), np.ones(spec.obs_dim, np.float32)
  )
  job = EpisodeJob(0, 0, 1.0, None, np.zeros(spec.structure_size, np.int32), 0)
  w.run_job(job)
  times = []
  for s in range(3):
    t0 = time.perf_counter()
    r = w.run_job(job._replace(seed=s))
    times.append((time.perf_counter() - t0) * cfg.episode_length / max(r.length, 1))
  return sorted(times)[1]


def ray_call_seconds(calls: int) -> tuple[float, float]:
  """Driver seconds per actor call (submit, wait, get) and per pending reference of one
  `ray.wait`, on two real local Ray actors answering at once."""
  import logging  # pylint: disable=import-outside-toplevel

  import ray  # pylint: disable=import-outside-toplevel

  ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
  try:

    @ray.remote(num_cpus=1)
    class Echo:
      def f(self, x):
        return x

    @ray.remote(num_cpus=0)
    def sleeper():
      time.sleep(600)

    actors = [Echo.remote() for _ in range(2)]
    ray.get([a.f.remote(0) for a in actors])
    t0 = time.perf_counter()
    ray.get([actors[i % 2].f.remote(i) for i in range(calls)])
    per_call = (time.perf_counter() - t0) / calls
    refs = [sleeper.remote() for _ in range(1000)]
    time.sleep(1.0)
    t0 = time.perf_counter()
    for _ in range(20):
      ray.wait(refs, num_returns=1, timeout=0)
    per_ref = (time.perf_counter() - t0) / 20 / len(refs)
    for r in refs:
      ray.cancel(r, force=True)
    return per_call, per_ref
  finally:
    ray.shutdown()


def main(argv):
  if len(argv) > 1:
    fail(f"unexpected arguments {argv[1:]}")
  os.environ.setdefault("JAX_PLATFORMS", "cpu")
  try:
    workers = [int(w) for w in _WORKERS.value]
    directions = [int(d) for d in _DIRECTIONS.value]
  except ValueError:
    fail("--workers and --directions take comma-separated positive integers")
  if not workers or not directions or min(workers + directions) < 1 or _ITERS.value < 1:
    fail("--workers, --directions and --iterations must be positive integers")
  from chromnas.train import build  # pylint: disable=import-outside-toplevel

  try:
    cfg = build.load_config(f"configs.{_CONFIG.value}", {"host_backend": "ray"})
  except ValueError as e:
    fail(f"--config={_CONFIG.value}: {e}")
  episode_s = _EPISODE_S.value or episode_seconds(cfg)
  print(
    f"driver per iteration: {_CONFIG.value}, {cfg.episode_length}-step episodes; logical workers on a simulated "
    f"Ray transport (stand-ins answer at once); median of {_ITERS.value} iterations; ms"
  )
  head = (
    "workers",
    "t",
    "ask",
    "bcast",
    "send",
    "wait",
    "recv",
    "pool",
    "evalr",
    "tell",
    "metric",
    "total",
    "source",
    "calls",
    "KB in/w",
    "KB out/w",
  )
  print("| " + " | ".join(head) + " |")
  print("|" + "---|" * len(head))
  cells = {}
  for t in directions:
    driver = _Driver(cfg, t)
    for n in workers:
      r = cells[(n, t)] = driver.cell(n, _ITERS.value)
      ms = lambda x: f"{1e3 * x:.1f}"  # noqa: E731
      print(
        "| "
        + " | ".join(
          [
            str(n),
            str(t),
            ms(r["ask"]),
            ms(r["broadcast"]),
            ms(r["send"]),
            ms(r["wait"]),
            ms(r["receive"]),
            ms(r["pool"]),
            ms(r["evaluator"]),
            ms(r["tell"]),
            ms(r["metrics"]),
            ms(r["total"]),
            ms(r["source"]),
            str(r["calls"]),
            f"{r['bytes_in'] / 1e3:.1f}",
            f"{r['bytes_out'] / 1e3:.1f}",
          ]
        )
        + " |",
        flush=True,
      )
  per_call, per_ref = (None, None)
  if _RAY_CALLS.value:
    per_call, per_ref = ray_call_seconds(_RAY_CALLS.value)
    print(
      f"real Ray, 2 local actors: {1e6 * per_call:.0f} us of driver time per actor call (submit, wait, get); "
      f"ray.wait: {1e9 * per_ref:.0f} ns per pending reference"
    )
  _model(cells, workers, directions, episode_s, per_call or 0.0)


def model_time(r: dict, n: int, t: int, episode_s: float, per_call: float, calls: int | None = None) -> tuple:
  """`(T(N), T_seq, T_dispatch)` in seconds for one cell `r` of the table (see the module
  docstring); `calls` replaces the measured actor calls (e.g. `2t`, one call per episode)."""
  t_seq = r["ask"] + r["tell"] + r["metrics"]
  calls = r["calls"] if calls is None else calls
  t_disp = r["total"] - t_seq + per_call * (calls + n)
  return t_seq + max(math.ceil(2 * t / n) * episode_s, t_disp), t_seq, t_disp


def saturation(cells, workers, t, episode_s, per_call, calls=None):
  """The N where `ceil(2t/N) E = T_dispatch(N, t)`, interpolated in log N between the table's
  worker counts; `None` if the episodes outlast the driver at every N of the table."""
  gap = []
  for n in workers:
    _, _, t_disp = model_time(cells[(n, t)], n, t, episode_s, per_call, None if calls is None else calls(t))
    gap.append(math.ceil(2 * t / n) * episode_s - t_disp)
    if gap[-1] <= 0:
      if len(gap) == 1:
        return float(n)
      lo, hi = math.log(workers[len(gap) - 2]), math.log(n)
      return math.exp(lo + (hi - lo) * gap[-2] / (gap[-2] - gap[-1]))
  return None


def fit_dispatch(cells) -> tuple[float, float]:
  """Least-squares `(a, b)` of the simulated dispatch work `D(N, t) = a 2t + b N` over the table."""
  import numpy as np  # pylint: disable=import-outside-toplevel

  rows, rhs = [], []
  for (n, t), r in cells.items():
    rows.append([2 * t, n])
    rhs.append(r["total"] - r["ask"] - r["tell"] - r["metrics"])
  (a, b), *_ = np.linalg.lstsq(np.asarray(rows, float), np.asarray(rhs), rcond=None)
  return float(a), float(b)


def _model(cells, workers, directions, episode_s, per_call):
  """Prints T(N) and the saturation point from the table's figures."""
  a, b = fit_dispatch(cells)
  print(
    f"\nmodel: T(N) = T_seq(t) + max(ceil(2t/N) E, T_dispatch(N, t)),  T_dispatch = D(N, t) + c_call (calls + N)"
    f"\n  D(N, t) ~ {1e6 * a:.0f} us x 2t + {1e6 * b:.1f} us x N (fit to the table); "
    f"E = {1e3 * episode_s:.1f} ms (one episode here); c_call = {1e6 * per_call:.0f} us (real Ray, "
    f"{'measured' if per_call else 'not measured: --ray_calls'})"
  )
  for t in directions:
    row = [f"N={n}: {model_time(cells[(n, t)], n, t, episode_s, per_call)[0]:.2f}s" for n in workers]
    sat = saturation(cells, workers, t, episode_s, per_call)
    one = saturation(cells, workers, t, episode_s, per_call, calls=lambda tt: 2 * tt)
    fmt = lambda x: f"N ~ {x:.0f}" if x else f"N > {workers[-1]}"  # noqa: E731
    print(f"  t={t}: T(N) " + ", ".join(row))
    print(f"    the driver saturates at {fmt(sat)} (batched calls; one call per episode: {fmt(one)})")


if __name__ == "__main__":
  app.run(main, flags_parser=parse_flags_or_exit)
