"""The core stays pure: stdlib, numpy and msgspec only, no I/O, no asyncio, no clocks."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parent.parent / "monitor" / "core"
FORBIDDEN = {
    "asyncio",
    "socket",
    "selectors",
    "ssl",
    "time",
    "datetime",
    "threading",
    "subprocess",
    "logging",
    "random",
    "urllib",
    "http",
    "os",
    "signal",
}
# msgspec: the event types are msgspec.Structs (built in C, ~5x cheaper than frozen
# dataclasses); a pure data library with no I/O, clock or asyncio (team decision, issue 3).
ALLOWED_THIRD_PARTY = {"numpy", "msgspec"}
ALLOWED_OWN = ("monitor.core", "monitor.errors")


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", sorted(CORE.glob("*.py")), ids=lambda p: p.name)
def test_core_module_imports_only_pure_things(path):
    for name in imported_modules(path):
        top = name.split(".")[0]
        if top == "monitor":
            assert name.startswith(ALLOWED_OWN), f"{path.name} imports {name}"
            continue
        assert top not in FORBIDDEN, f"{path.name} imports {name}: the core must stay pure"
        assert top in sys.stdlib_module_names or top in ALLOWED_THIRD_PARTY, (
            f"{path.name} imports third-party {name}"
        )
