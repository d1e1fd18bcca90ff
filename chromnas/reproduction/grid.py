"""The settings grid of `experiments.sweep`: which config fields it varies, one at a time."""

from __future__ import annotations


def parse_grid(text: str) -> list[tuple[str, str]]:
  """A sweep's settings, one field at a time: `'a=1,2;b=3'` -> `[('a', '1'), ('a', '2'), ('b', '3')]`;
  one `ValueError` naming a malformed item."""
  settings = []
  for item in filter(None, (part.strip() for part in text.split(";"))):
    if "=" not in item:
      raise ValueError(f"--grid expects field=v1,v2,... items separated by ';', got {item!r}")
    field, values = item.split("=", 1)
    settings += [(field.strip(), v.strip()) for v in values.split(",") if v.strip()]
  return settings
