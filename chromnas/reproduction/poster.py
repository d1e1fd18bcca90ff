"""The poster's two tables as data: which config carries each row, and the poster's numbers.

`REWARD_ROWS` (16, the poster's "Rewards when using Chromatic Networks") and
`COMPARISON_CELLS` (20, "Comparisons to other methods") name the config of each row and the
poster's numbers; `ARS_ROWS` hold the published ARS benchmark the ES core is held against.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence


@dataclasses.dataclass(frozen=True)
class Row:
  """One line of a poster table.

  `config` names `configs/<config>.py`; `poster_mean` / `poster_max` are the reward table's
  "Mean Reward" / "Max Reward" (a comparison cell has only `poster_max`, its "Reward", which for
  the chromatic cells equals the reward table's Max Reward of the same row).
  """

  config: str
  table: str  # "rewards", "comparison" or "ars"
  task: str
  label: str
  poster_mean: float | None
  poster_max: float | None
  differs: str = ""  # how our task differs from the poster's, if it does

  @property
  def family(self) -> str:
    """The row's structured family, read from its config name (`..._chromatic17` -> 'chromatic')."""
    return family_of(self.config)


def family_of(config: str) -> str:
  """`'hopper_h41_masked17'` -> `'masked'`: the family a row's config name ends with (its K stripped)."""
  return config.rsplit("_", 1)[-1].rstrip("0123456789")


_REACHER = "Gymnasium Reacher-v5: 10 observations where the poster's (gym v2) had 11."
_ANT = "Gymnasium Ant-v5: 105 observations (27 + 78 contact forces) where the poster's Ant-v2 had 111."
_STRIKER = (
  "gym's Striker-v2 no longer exists; ours is rebuilt on Gymnasium's Pusher arm with its own reward "
  "(chromnas/envs/arm_tasks.py): the scale of the returns need not match the poster's."
)
_THROWER = _STRIKER.replace("Striker-v2", "Thrower-v2")
_MINITAUR = (
  "pybullet_envs' Minitaur no longer imports; ours is rebuilt on pybullet with its layout (28 observations, "
  "8 leg-model actions; the poster lists (7, 13)), reward = forward progress - 0.005 x energy."
)
_PUSHER = "Gymnasium Pusher-v5 (100 steps) where the poster used gym's Pusher-v2 (same rules)."

REWARD_ROWS: tuple[Row, ...] = (
  Row("swimmer_l_chromatic8", "rewards", "swimmer", "Swimmer (8,2) L K=8", 97, 365),
  Row("reacher_l_chromatic11", "rewards", "reacher", "Reacher (11,2) L K=11", -144, -6, _REACHER),
  Row("hopper_l_chromatic11", "rewards", "hopper", "Hopper (11,3) L K=11", 216, 999),
  Row("hopper_h41_chromatic11", "rewards", "hopper", "Hopper (11,3) H41 K=11", 247, 3408),
  Row("halfcheetah_l_chromatic17", "rewards", "halfcheetah", "HalfCheetah (17,6) L K=17", 1812, 3653),
  Row("halfcheetah_l_chromatic50", "rewards", "halfcheetah", "HalfCheetah (17,6) L K=50", 1383, 4318),
  Row("halfcheetah_h41_chromatic17", "rewards", "halfcheetah", "HalfCheetah (17,6) H41 K=17", 2148, 3779),
  Row("halfcheetah_h41h41_chromatic17", "rewards", "halfcheetah", "HalfCheetah (17,6) H41,H41 K=17", 3036, 5285),
  Row("walker2d_h41_chromatic17", "rewards", "walker2d", "Walker2d (17,6) H41 K=17", 1943, 3695),
  Row("pusher_h41_chromatic23", "rewards", "pusher", "Pusher (23,7) H41 K=23", -419, -144, _PUSHER),
  Row("striker_h41_chromatic23", "rewards", "striker", "Striker (23,7) H41 K=23", -1926, -248, _STRIKER),
  Row("thrower_h41_chromatic23", "rewards", "thrower", "Thrower (23,7) H41 K=23", -1651, -61, _THROWER),
  Row("ant_h41h41_chromatic50", "rewards", "ant", "Ant (111,8) H41,H41 K=50", 1047, 1440, _ANT),
  Row("minitaur_l_chromatic13", "rewards", "minitaur", "Minitaur (7,13) L K=13", 4.84, 7.2, _MINITAUR),
  Row("minitaur_l_chromatic50", "rewards", "minitaur", "Minitaur (7,13) L K=50", 6.08, 7.91, _MINITAUR),
  Row("minitaur_h41_chromatic13", "rewards", "minitaur", "Minitaur (7,13) H41 K=13", 7.12, 9.34, _MINITAUR),
)

FAMILIES = ("chromatic", "masked", "toeplitz", "circulant", "unstructured")


def _comparison(
  prefix: str, label: str, note: str, colors: int, kept: int, rewards: tuple[float, ...]
) -> tuple[str, str, str, dict[str, tuple[str, float]]]:
  """One task of the family comparison: its configs are `<prefix>_<suffix>`, the suffixes
  `chromatic<colors>`, `masked<kept>` and the other families' names; `rewards` in `FAMILIES` order."""
  suffixes = (f"chromatic{colors}", f"masked{kept}", "toeplitz", "circulant", "unstructured")
  return prefix, label, note, {family: (s, r) for family, s, r in zip(FAMILIES, suffixes, rewards)}


COMPARISON = {  # task -> (config prefix, label, note, {family: (config suffix, poster reward)})
  "striker": _comparison("striker_h41", "Striker", _STRIKER, 23, 25, (-248, -967, -129, -120, -117)),
  "halfcheetah": _comparison("halfcheetah_h41", "HalfCheetah", "", 17, 40, (3779, 4806, 2525, 1728, 3614)),
  "hopper": _comparison("hopper_h41", "Hopper", "", 11, 17, (3408, 2196, 2749, 2680, 2691)),
  "walker2d": _comparison("walker2d_h41", "Walker2d", "", 17, 19, (3695, 1781, 1, 3, 2230)),
}

COMPARISON_CELLS: tuple[Row, ...] = tuple(
  Row(f"{prefix}_{suffix}", "comparison", task, f"{label} H41 {family}", None, reward, differs)
  for task, (prefix, label, differs, cells) in COMPARISON.items()
  for family, (suffix, reward) in ((f, cells[f]) for f in FAMILIES)
)

# The ES core alone against the published ARS benchmark (Mania et al. 2018, linear policies):
# average return at the same env steps.  `poster_mean` holds ARS's figure.
ARS_ROWS: tuple[Row, ...] = (
  Row(
    "ars_halfcheetah_l_unstructured", "ars", "halfcheetah", "HalfCheetah L unstructured (ARS: 12M steps)", 4815, None
  ),
  Row("ars_hopper_l_unstructured", "ars", "hopper", "Hopper L unstructured (ARS: 7M steps)", 3344, None),
  Row("ars_swimmer_l_unstructured", "ars", "swimmer", "Swimmer L unstructured (ARS: 2M steps)", 355, None),
)

ALL_ROWS = REWARD_ROWS + COMPARISON_CELLS + ARS_ROWS


TABLES = ("rewards", "comparison", "ars", "all")


def rows_for(table: str, names: Sequence[str] = ()) -> list[Row]:
  """The rows of `table` ('rewards', 'comparison', 'ars' or 'all'), restricted to config `names` if given.

  A config shared by both tables (the chromatic comparison cells) is listed once."""
  if table not in TABLES:
    raise ValueError(f"table must be one of {', '.join(TABLES)}, got {table!r}")
  pool = {"rewards": REWARD_ROWS, "comparison": COMPARISON_CELLS, "ars": ARS_ROWS, "all": ALL_ROWS}[table]
  known = {r.config for r in ALL_ROWS}
  unknown = [n for n in names if n not in known]
  if unknown:
    raise ValueError(f"unknown row {unknown[0]!r}; rows are the configs {', '.join(sorted(known))}")
  if names:  # in the order given
    by_name = {r.config: r for r in reversed(pool)}
    return [by_name[n] for n in dict.fromkeys(names) if n in by_name]
  seen, out = set(), []
  for r in pool:
    if r.config not in seen:
      seen.add(r.config)
      out.append(r)
  return out
