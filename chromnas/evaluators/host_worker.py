"""Host worker process: owns one environment, regenerates perturbations from the noise table.

Started by `HostEvaluator` as `python -m chromnas.evaluators.host_worker --fd=N` with one end
of a socket pair; never imports JAX.  Messages (tuples over a `multiprocessing` connection):
  ('init', config dict)                      -> ('ready', obs_dim, act_dim) or ('error', text)
  ('broadcast', center, sigma, mean, std)    -> nothing (parameters for this iteration)
  ('job', index, offset, sign, params, structure, seed) -> ('result', index, EpisodeResult fields)
     `params` is None for a perturbation `center + sign * sigma * table[offset:offset+D]`.
  ('close',)
"""
from __future__ import annotations

import argparse
import signal
import traceback
from multiprocessing.connection import Connection

import numpy as np

from chromnas import noise as noise_lib
from chromnas import numpy_policy
from chromnas import tasks
from chromnas.evaluators import host_episode


class WorkerState:
  """What a worker keeps between messages."""

  def __init__(self, cfg: dict):
    self.cfg = cfg
    self.env = tasks.make_host_env(cfg["make"], **cfg.get("env_kwargs", {}))
    self.scale = host_episode.action_scaler(self.env.action_space)
    self.table = noise_lib.make_table(cfg["noise_seed"], cfg["noise_size"])
    self.center = None
    self.sigma = 0.0
    self.mean = self.std = None

  def run_job(self, offset, sign, params, structure, seed) -> host_episode.EpisodeResult:
    cfg = self.cfg
    if params is None:
      params = self.center + (sign * self.sigma) * self.table[offset:offset + self.center.shape[0]]
    policy = numpy_policy.weight_matrices(cfg["family"], cfg["layer_sizes"], cfg["num_colors"], params,
                                          np.asarray(structure))
    return host_episode.run_episode(self.env, policy, (self.mean, self.std, cfg["obs_clip"]), seed=seed,
                                    episode_length=cfg["episode_length"], action_repeat=cfg["action_repeat"],
                                    scale=self.scale)


def serve(conn: Connection) -> None:
  """Answers messages until 'close' or the parent goes away."""
  signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and closes us
  state = None
  while True:
    try:
      msg = conn.recv()
    except (EOFError, OSError):
      return
    kind = msg[0]
    if kind == "close":
      return
    if kind == "init":
      try:
        state = WorkerState(msg[1])
        conn.send(("ready", int(state.env.observation_space.shape[0]), int(state.env.action_space.shape[0])))
      except Exception:  # pylint: disable=broad-except
        conn.send(("error", traceback.format_exc()))
        return
    elif kind == "broadcast":
      _, state.center, state.sigma, state.mean, state.std = msg
    elif kind == "job":
      _, index, offset, sign, params, structure, seed = msg
      try:
        res = state.run_job(offset, sign, params, structure, seed)
        conn.send(("result", index, *res))
      except Exception:  # pylint: disable=broad-except
        conn.send(("error", traceback.format_exc()))
        return


def main() -> None:
  parser = argparse.ArgumentParser()
  parser.add_argument("--fd", type=int, required=True)
  args = parser.parse_args()
  serve(Connection(args.fd))


if __name__ == "__main__":
  main()
