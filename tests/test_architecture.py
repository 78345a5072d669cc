"""The layers' import rules (docs/architecture.md), checked on the source with ``ast``.

Arrows only point down: each package may import the packages listed for it (and itself),
never one above it. Imports under ``if TYPE_CHECKING:`` count too: a type is a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "sp_sync"

# Layer → the sp_sync layers it may import (besides itself). "errors", "clock" and
# "crashpoints" are the small shared modules at the bottom (the error tree; the system
# clock; the test switch that ends the process at a chosen step, docs/reliability.md).
ALLOWED: dict[str, set[str]] = {
    "domain": {"errors"},
    "ports": {"domain", "errors"},
    "render": {"domain", "ports", "errors"},
    "engine": {"domain", "ports", "errors", "crashpoints"},
    "kinds": {"engine", "domain", "ports", "errors"},
    "adapters": {"domain", "ports", "errors", "clock", "crashpoints"},
    "config": {"kinds", "domain", "errors"},
    "emulator": set(),  # a separate system: knows Graph, not sp-sync
    "testing": {"domain", "ports", "errors", "clock"},
    "app": {"config", "kinds", "engine", "adapters", "render", "emulator", "domain", "ports",
            "errors", "clock", "testing", "crashpoints"},
    "errors": set(),
    "clock": {"ports"},
    "crashpoints": set(),
}


def layer_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "sp_sync"


def imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
            if node.module == "sp_sync":  # from sp_sync import x (a module, or __version__)
                found += [(node.lineno, f"sp_sync.{a.name}") for a in node.names
                          if not a.name.startswith("__")]
    return [(line, name) for line, name in found if name.startswith("sp_sync.")]


def modules() -> list[tuple[str, Path]]:
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out.append((".".join(parts), path))
    return out


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_imports_only_point_down(layer: str) -> None:
    broken = []
    for module, path in modules():
        if layer_of(module) != layer:
            continue
        for line, name in imports(path):
            target = layer_of(name)
            if target != layer and target not in ALLOWED[layer]:
                broken.append(f"{path.relative_to(PACKAGE.parent)}:{line} imports {name}")
    assert not broken, f"{layer} may import {sorted(ALLOWED[layer])} only:\n" + "\n".join(broken)


def test_every_module_belongs_to_a_layer() -> None:
    unknown = {layer_of(m) for m, _ in modules()} - set(ALLOWED) - {"sp_sync", "__main__"}
    assert not unknown, f"add these to ALLOWED (and docs/architecture.md): {unknown}"


def test_production_code_never_imports_the_test_fakes() -> None:
    users = [f"{m}: {name}" for m, p in modules() if layer_of(m) not in ("testing", "app")
             for _, name in imports(p) if layer_of(name) == "testing"]
    assert not users
