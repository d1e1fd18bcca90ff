"""The package's layering, read from the source: imports only point down, `core` is JAX-free.

Layers, lowest first (README, "Architecture"):
  core -> model -> es, search -> envs, engines -> train -> application modules (deploy, render, reproduction)
Every import is checked, function-local ones included.
"""

import ast
import pathlib
import subprocess
import sys

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / "chromnas"
JAX_FAMILY = {"jax", "jaxlib", "flax", "optax", "chex", "brax", "orbax"}

# Which chromnas layers each layer may import (its own included).
ALLOWED = {
  "core": {"core"},
  "model": {"core", "model"},
  "es": {"core", "model", "es"},
  "search": {"core", "model", "search"},
  "envs": {"core", "envs"},
  "engines": {"core", "model", "es", "envs", "engines"},
  "train": {"core", "model", "es", "search", "envs", "engines", "train"},
  "app": {"core", "model", "es", "search", "envs", "engines", "train", "app"},
}
# What the host worker process may load: the NumPy core, the environments and the host engine.
HOST_WORKER_MODULES = {
  "chromnas.engines.host_worker",
  "chromnas.engines.host_episode",
  "chromnas.engines.host_messages",
}


def _layer(module: str) -> str:
  if module == "chromnas":
    return "core"  # the package root holds only its version string
  parts = module.split(".")
  if len(parts) >= 2 and parts[1] in ALLOWED and parts[1] != "app":
    return parts[1]
  return "app"


def _modules():
  for path in sorted(PACKAGE.rglob("*.py")):
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    name = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
    yield name, path


def _imports(name: str, path: pathlib.Path, on_import_only: bool = False) -> set[str]:
  """Every module `name` imports (absolute names), from its syntax tree; with `on_import_only`,
  only those that run when the module is imported (not inside functions)."""
  out = set()
  package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
  tree = ast.parse(path.read_text())
  nodes = ast.walk(tree)
  if on_import_only:
    nodes = [
      n
      for top in tree.body
      if not isinstance(top, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
      for n in ast.walk(top)
    ]
  for node in nodes:
    if isinstance(node, ast.Import):
      out.update(a.name for a in node.names)
    elif isinstance(node, ast.ImportFrom):
      base = node.module or ""
      if node.level:
        base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
      out.add(base)
      # `from chromnas.core import families` imports the module chromnas.core.families.
      out.update(f"{base}.{a.name}" for a in node.names)
  return out


MODULES = dict(_modules())
KNOWN = set(MODULES)


def _chromnas_imports(name: str, on_import_only: bool = False) -> set[str]:
  return {m for m in _imports(name, MODULES[name], on_import_only) if m in KNOWN and m != name}


@pytest.mark.parametrize("name", sorted(MODULES))
def test_imports_point_down(name):
  layer = _layer(name)
  upward = sorted(m for m in _chromnas_imports(name) if _layer(m) not in ALLOWED[layer])
  assert not upward, f"{name} (layer {layer}) imports {upward} from layers above it"


@pytest.mark.parametrize("name", sorted(m for m in MODULES if _layer(m) == "core"))
def test_core_imports_no_jax(name):
  jaxy = sorted(m for m in _imports(name, MODULES[name]) if m.split(".")[0] in JAX_FAMILY)
  assert not jaxy, f"{name} is in chromnas.core, which must stay JAX-free, yet imports {jaxy}"


def test_host_worker_loads_only_core_envs_and_host_engine():
  seen, todo = set(), list(HOST_WORKER_MODULES)
  while todo:
    m = todo.pop()
    if m in seen:
      continue
    seen.add(m)
    # What runs when the worker starts: module-level imports, and each package's __init__.
    todo.extend(_chromnas_imports(m, on_import_only=True))
    todo.extend(p for p in (m.rsplit(".", 1)[0],) if p in MODULES)
  allowed = {
    m
    for m in seen
    if _layer(m) in ("core", "envs")
    or m in HOST_WORKER_MODULES
    or m in ("chromnas", "chromnas.core", "chromnas.envs", "chromnas.engines")
  }
  assert seen == allowed, f"the host worker reaches {sorted(seen - allowed)}"


def test_importing_core_loads_no_jax():
  code = (
    "import sys, chromnas.core, pkgutil, importlib\n"
    "for m in pkgutil.iter_modules(chromnas.core.__path__):\n"
    "  importlib.import_module('chromnas.core.' + m.name)\n"
    "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('jax', 'flax', 'optax'))\n"
    "assert not bad, bad\n"
  )
  subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
