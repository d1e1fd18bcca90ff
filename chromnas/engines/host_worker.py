"""Host worker process: owns one environment, regenerates perturbations from the noise table.

Started by `HostPool` as `python -m chromnas.engines.host_worker --fd=N` with one end of a
socket pair; never imports JAX.  It speaks the messages of `chromnas.engines.host_messages`
over a `multiprocessing` connection: a `WorkerConfig` first, then `SetCenter`s and
`EpisodeJob`s, until `Shutdown` or the parent goes away.
"""

from __future__ import annotations

import argparse
import signal
import traceback
from multiprocessing.connection import Connection

import numpy as np

from chromnas.core import episode, families
from chromnas.core import noise as noise_lib
from chromnas.engines import host_episode
from chromnas.engines.host_messages import EpisodeJob, EpisodeResult, Failed, Ready, SetCenter, Shutdown, WorkerConfig
from chromnas.envs import host_envs


class WorkerState:
  """What a worker keeps between messages: its environment, the noise table, the last `SetCenter`."""

  def __init__(self, cfg: WorkerConfig):
    self.cfg = cfg
    self.env = host_envs.make_host_env(cfg.make, **cfg.env_kwargs)
    self.scale = episode.action_scaler(self.env.action_space)
    self.table = noise_lib.make_table(cfg.noise_seed, cfg.noise_size)
    self.center: SetCenter | None = None

  def ready(self) -> Ready:
    """The environment's sizes."""
    obs_shape, act_shape = self.env.observation_space.shape, self.env.action_space.shape
    assert obs_shape is not None and act_shape is not None, "host environments have Box spaces"
    return Ready(int(obs_shape[0]), int(act_shape[0]))

  def run_job(self, job: EpisodeJob) -> EpisodeResult:
    """One episode of the job's policy (see `EpisodeJob`), normalised by the last `SetCenter`."""
    cfg, c = self.cfg, self.center
    if c is None:
      raise RuntimeError("an EpisodeJob came before any SetCenter")
    params = job.params
    if params is None:
      if c.center is None:
        raise RuntimeError("an EpisodeJob without params came after a SetCenter without a center")
      params = c.center + (job.sign * c.sigma) * self.table[job.offset : job.offset + c.center.shape[0]]
    policy = families.weight_matrices(cfg.family, cfg.layer_sizes, cfg.num_colors, params, np.asarray(job.structure))
    return host_episode.run_episode(
      self.env,
      policy,
      (c.obs_mean, c.obs_std, cfg.obs_clip),
      seed=job.seed,
      episode_length=cfg.episode_length,
      action_repeat=cfg.action_repeat,
      scale=self.scale,
    )


def serve(conn: Connection) -> None:
  """Answers messages until `Shutdown` or the parent goes away; exits after sending `Failed`."""
  signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and closes us
  state: WorkerState | None = None
  while True:
    try:
      msg = conn.recv()
    except (EOFError, OSError):
      return
    if isinstance(msg, Shutdown):
      return
    if isinstance(msg, WorkerConfig):
      try:
        state = WorkerState(msg)
        conn.send(state.ready())
      except Exception:  # pylint: disable=broad-except
        conn.send(Failed(traceback.format_exc()))
        return
    elif state is None:
      conn.send(Failed(f"{type(msg).__name__} before the WorkerConfig"))
      return
    elif isinstance(msg, SetCenter):
      state.center = msg
    elif isinstance(msg, EpisodeJob):
      try:
        conn.send(state.run_job(msg))
      except Exception:  # pylint: disable=broad-except
        conn.send(Failed(traceback.format_exc()))
        return
    else:
      conn.send(Failed(f"unexpected message {type(msg).__name__}"))
      return


def main() -> None:
  parser = argparse.ArgumentParser()
  parser.add_argument("--fd", type=int, required=True)
  args = parser.parse_args()
  serve(Connection(args.fd))


if __name__ == "__main__":
  main()
