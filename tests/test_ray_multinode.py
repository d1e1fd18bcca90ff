"""The Ray pool on a multi-node cluster (Ray's own test cluster, several raylets on this machine).

Actors spread over the nodes and say where they ran; a node lost mid-iteration costs no
iteration and no episode (its episodes are retried elsewhere); an elastic pool
(`num_workers=None`, the config's `num_workers=0`) takes a node that joins from the next
iteration; and the population's answers do not depend on how many actors share it.
"""

import logging
import os
import threading
import time

import numpy as np
import pytest

ray = pytest.importorskip("ray")
cluster_utils = pytest.importorskip("ray.cluster_utils")

from chromnas.engines import ray_pool  # noqa: E402
from chromnas.engines.host_messages import (
  EpisodeJob,  # noqa: E402
  SetCenter,  # noqa: E402
  WorkerConfig,  # noqa: E402
)
from chromnas.envs import tasks  # noqa: E402

# Each node: one logical CPU, no dashboard; nodes are raylets on this machine.  A worker process
# may take long to register on a loaded machine (it imports MuJoCo and JAX-free chromnas):
# Ray's default 60 s would kill and restart it in a loop.
NODE = dict(num_cpus=1)
HEAD = dict(num_cpus=1, include_dashboard=False, _system_config={"worker_register_timeout_seconds": 600})


@pytest.fixture
def cluster():
  if ray.is_initialized():
    pytest.skip("needs a process without a Ray session (another test module left one open)")
  c = cluster_utils.Cluster(initialize_head=True, connect=False, head_node_args=HEAD)
  try:
    yield c
  finally:
    if ray.is_initialized():
      ray.shutdown()
    c.shutdown()


def _alive_nodes() -> set[str]:
  return {n["NodeID"] for n in ray.nodes() if n["Alive"]}


def _wait_cpus(cpus: float, timeout: float = 60.0) -> None:
  """Waits until the live nodes have `cpus` CPUs in total (a lost node takes a moment to be noticed)."""
  deadline = time.monotonic() + timeout
  while ray.cluster_resources().get("CPU", 0.0) != cpus:
    assert time.monotonic() < deadline, f"the cluster has {ray.cluster_resources().get('CPU')} CPUs, not {cpus}"
    time.sleep(0.1)


def _debug_cfg(episode_length=20):
  et = tasks.engine_task("debug_target", "host")
  return WorkerConfig(
    make=et.make,
    env_kwargs={"max_episode_steps": episode_length},
    family="unstructured",
    layer_sizes=(4, 2),
    num_colors=0,
    noise_seed=0,
    noise_size=10_000,
    episode_length=episode_length,
    action_repeat=1,
    obs_clip=10.0,
  )


def _jobs(n):
  no_structure = np.zeros((0,), np.int32)
  return [EpisodeJob(i, 37 * i % 9_000, 1.0 if i % 2 else -1.0, None, no_structure, 1000 + i) for i in range(n)]


def _same(a, b):
  assert sorted(a) == sorted(b)
  for i in a:
    assert (a[i].ret, a[i].length, a[i].count) == (b[i].ret, b[i].length, b[i].count)
    np.testing.assert_array_equal(a[i].obs_sum, b[i].obs_sum)


def test_elastic_pool_spreads_over_nodes_and_follows_the_cluster(cluster):
  cluster.add_node(**NODE)
  cluster.wait_for_nodes()
  pool = ray_pool.RayPool(_debug_cfg(), None, address=cluster.address, max_batch=4, start_timeout=60.0)
  try:
    msg = SetCenter(np.linspace(-0.3, 0.3, 8).astype(np.float32), 0.1, np.zeros(4, np.float32), np.ones(4, np.float32))
    jobs = _jobs(400)  # enough for every actor to answer its broadcast and take episodes
    pool.broadcast(msg)
    first = pool.run(jobs)
    assert len(pool.workers) == 2 and len(set(pool.worker_nodes)) == 2
    assert set(pool.last_run_nodes) == set(pool.worker_nodes) == _alive_nodes()
    assert sum(pool.last_run_nodes.values()) == 400 and len(first) == 400

    # A node joins between iterations: the next broadcast starts an actor there, which takes
    # episodes as soon as it is up (here the others finish this short iteration first).
    new = cluster.add_node(**NODE)
    cluster.wait_for_nodes()
    pool.broadcast(msg)
    _same(pool.run(jobs), first)
    assert len(pool.workers) == 3 and pool.stats["workers_added"] == 1
    assert len(ray_pool.pid_list(pool)) == 3  # waits until the new actor is up
    pool.broadcast(msg)
    second = pool.run(jobs)
    assert set(pool.worker_nodes) == _alive_nodes() and new.node_id in pool.last_run_nodes
    _same(second, first)  # the same population, shared by more actors
    assert pool.stats["workers_replaced"] == 0 and pool.stats["jobs_retried"] == 0

    # The node leaves: its actor is dropped at the next broadcast (or replaced, if Ray had not
    # noticed yet); no episode is lost and the answers stay the same.
    cluster.remove_node(new, allow_graceful=True)
    _wait_cpus(2.0)
    pool.broadcast(msg)
    third = pool.run(jobs)
    assert len(pool.workers) == 2 and new.node_id not in pool.last_run_nodes
    _same(third, first)
    assert pool.stats["jobs_lost"] == 0
  finally:
    pool.close()


@pytest.mark.slow
def test_real_row_through_ray_address_survives_losing_a_node(cluster, tmp_path, caplog):
  """A poster row (HalfCheetah, linear chromatic K=17, ENAS) trained on a 3-node cluster through
  `ray_address`; the node of a busy actor is killed mid-iteration 4, a node joins after
  iteration 5, and its actor (up during iteration 6) runs episodes from iteration 7."""
  import configs.halfcheetah_l_chromatic17 as row
  from chromnas.train import build as build_lib
  from chromnas.train import loop

  victim = cluster.add_node(**NODE)
  cluster.add_node(**NODE)
  cluster.wait_for_nodes()
  cfg = row.get_config()
  cfg.host_backend, cfg.ray_address, cfg.num_workers = "ray", cluster.address, 0  # 0: one actor per cluster CPU
  cfg.num_directions, cfg.num_iterations, cfg.eval_every, cfg.eval_episodes = 6, 8, 100, 2
  cfg.max_env_steps = 0
  history = []  # per iteration: (iteration, {node: episodes}, workers)
  events = {}

  with build_lib.build(cfg) as run:
    pool = run.evaluator.pool
    assert len(pool.workers) == 3 and set(pool.worker_nodes) == _alive_nodes()

    def kill_when_busy():
      # Waits for an actor on the victim node to be in the middle of a batch, then kills the node.
      deadline = time.monotonic() + 120
      while time.monotonic() < deadline:
        # pylint: disable-next=protected-access
        slots = [s for s in pool._slots if s.node == victim.node_id and s.state == "busy"]
        if slots:
          events["killed_during"] = [job.index for job, _ in slots[0].jobs]
          cluster.remove_node(victim, allow_graceful=False)
          return
        time.sleep(0.005)

    def progress(row_, sched):
      del sched
      it = row_["iteration"]
      history.append((it, dict(pool.last_run_nodes), len(pool.workers), row_["episodes_lost"]))
      if it == 3:
        events["thread"] = threading.Thread(target=kill_when_busy, daemon=True)
        events["thread"].start()
      if it == 5:
        events["thread"].join()
        events["new"] = cluster.add_node(**NODE)
        cluster.wait_for_nodes()
        _wait_cpus(3.0)
      if it == 6:
        # The pool has an actor for the new node by now (a waiting replacement, or one the
        # elastic pool added at this iteration's broadcast); wait until it is up.
        assert len(ray_pool.pid_list(pool, timeout=120)) == 3

    with caplog.at_level(logging.INFO, logger="chromnas.engines.ray_pool"):
      state = loop.train_run(run, str(tmp_path), progress_fn=progress)
    stats = dict(pool.stats)
    nodes_total = dict(pool.node_episodes)

  print("\nnode per iteration (iteration, {node: episodes}, workers, episodes lost):")
  for it, nodes, workers, lost in history:
    print(f"  {it}: {', '.join(f'{n[:8]}: {k}' for n, k in sorted(nodes.items()))}; {workers} workers; lost {lost}")
  print("pool stats:", stats, "killed during jobs", events.get("killed_during"))
  assert int(state.iteration) == 8 and [h[0] for h in history] == list(range(1, 9))
  assert all(lost == 0 for *_, lost in history) and stats.get("jobs_lost", 0) == 0
  assert "killed_during" in events and stats["workers_replaced"] + stats.get("workers_removed", 0) >= 1
  assert stats.get("jobs_retried", 0) + stats.get("batches_split", 0) >= 1  # its episodes ran elsewhere
  assert len(history[0][1]) == 3  # the first iterations ran on three nodes
  assert all(victim.node_id not in nodes for _, nodes, *_ in history[4:])
  assert events["new"].node_id in history[6][1] and history[-1][2] == 3  # the new node's actor works once up
  assert victim.node_id in nodes_total and events["new"].node_id in nodes_total
  assert "episodes on 3 nodes" in caplog.text
  with open(os.path.join(tmp_path, "metrics.csv")) as f:
    assert len(f.read().strip().splitlines()) == 9  # header and eight iterations


def test_driver_bench_on_the_simulated_transport():
  """`experiments.bench_scaling` runs the real pool and evaluator over logical workers: every
  episode is answered, batches cut the calls only when workers have several episodes each, and
  the bytes per worker cover each job's partition."""
  from chromnas.train import config as config_lib
  from experiments import bench_scaling

  cfg = config_lib.default_config()
  cfg.task, cfg.architecture, cfg.family, cfg.num_colors = "debug_target", "L", "chromatic", 3
  cfg.partition_source, cfg.episode_length, cfg.noise_size = "fixed", 20, 10_000
  driver = bench_scaling._Driver(cfg, 64)  # pylint: disable=protected-access
  few = driver.cell(4, 1)  # 128 episodes on 4 workers: batches
  many = driver.cell(256, 1)  # more workers than episodes: one call each
  assert many["calls"] == 128 and 128 // ray_pool.BATCH <= few["calls"] < 128
  edges = driver.spec.structure_size
  assert few["bytes_in"] > 32 * 4 * edges and few["bytes_out"] > 0
  assert all(few[k] >= 0 for k in ("ask", "send", "receive", "tell", "total"))
