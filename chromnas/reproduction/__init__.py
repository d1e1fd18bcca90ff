"""The reproduction of the poster's tables, by concern.

- `poster`: the poster's rows and numbers (`REWARD_ROWS`, `COMPARISON_CELLS`, `ARS_ROWS`, `rows_for`);
- `records`: one csv record per (row, partition source, seed), and `results/reproduction.csv`;
- `report`: `results/REPRODUCTION.md`, rendered from the records;
- `grid`: the settings grid of `experiments.sweep`.

The names callers use are re-exported here (`from chromnas import reproduction; reproduction.X`).
"""

from chromnas.reproduction.grid import parse_grid
from chromnas.reproduction.poster import (
  ALL_ROWS,
  ARS_ROWS,
  COMPARISON,
  COMPARISON_CELLS,
  FAMILIES,
  REWARD_ROWS,
  TABLES,
  Row,
  family_of,
  rows_for,
)
from chromnas.reproduction.records import (
  FIELDS,
  LEGACY_ENAS,
  NO_SOURCE,
  ROW,
  SOURCES,
  agrees,
  first_reaching,
  infer_source,
  judge_policy,
  judge_seed,
  judged_figures,
  key,
  read_csv,
  read_metrics,
  recorded,
  source_used,
  summarize_seed,
  with_source,
  workdir,
  workdir_policy,
  write_csv,
)
from chromnas.reproduction.report import (
  READING,
  SOURCE_COLUMNS,
  aggregate,
  render_report,
  source_summary,
  zoo_record,
)

__all__ = [
  "ALL_ROWS",
  "ARS_ROWS",
  "COMPARISON",
  "COMPARISON_CELLS",
  "FAMILIES",
  "FIELDS",
  "LEGACY_ENAS",
  "judge_seed",
  "judge_policy",
  "judged_figures",
  "NO_SOURCE",
  "READING",
  "REWARD_ROWS",
  "ROW",
  "SOURCES",
  "SOURCE_COLUMNS",
  "TABLES",
  "Row",
  "aggregate",
  "family_of",
  "agrees",
  "first_reaching",
  "infer_source",
  "key",
  "parse_grid",
  "read_csv",
  "read_metrics",
  "recorded",
  "render_report",
  "rows_for",
  "source_summary",
  "source_used",
  "summarize_seed",
  "with_source",
  "workdir",
  "workdir_policy",
  "write_csv",
  "zoo_record",
]
