"""The lean MuJoCo tasks reproduce Gymnasium v5 step for step."""
import gymnasium
import numpy as np
import pytest

from chromnas import mujoco_tasks

GYM_IDS = {"halfcheetah": "HalfCheetah-v5", "hopper": "Hopper-v5", "walker2d": "Walker2d-v5",
           "swimmer": "Swimmer-v5"}


@pytest.mark.parametrize("name", sorted(GYM_IDS))
def test_matches_gymnasium_v5(name):
  ours = mujoco_tasks.make_host(name, max_episode_steps=60)
  ref = gymnasium.make(GYM_IDS[name], max_episode_steps=60)
  assert ours.observation_space.shape == ref.observation_space.shape
  np.testing.assert_allclose(ours.action_space.low, ref.action_space.low)
  for seed in (0, 7):
    o1, _ = ours.reset(seed=seed)
    o2, _ = ref.reset(seed=seed)
    np.testing.assert_allclose(o1, o2, rtol=1e-12, atol=1e-12)
    rng = np.random.default_rng(seed)
    for _ in range(60):
      a = rng.uniform(-1, 1, ref.action_space.shape)
      o1, r1, t1, tr1, _ = ours.step(a)
      o2, r2, t2, tr2, _ = ref.step(a)
      np.testing.assert_allclose(o1, o2, rtol=1e-9, atol=1e-9)
      assert r1 == pytest.approx(r2, rel=1e-9, abs=1e-9)
      assert (t1, tr1) == (t2, tr2)
      if t1 or tr1:
        break


def test_unknown_task():
  with pytest.raises(ValueError, match="unknown native MuJoCo task"):
    mujoco_tasks.make_host("ant")
