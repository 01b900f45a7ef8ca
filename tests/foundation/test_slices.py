"""The slices' imports (STYLE.md "Vertical slices", issue 10): no import cycle between
slices, no slice imports the job registry (jobs are enqueued by name), the kernel
imports nothing else of nuages, and terms is pure.

Every ``import`` is read with ``ast``, at module level or inside a function: a deferred
import is still a dependency. The edges that assemble the slices (``api/``, ``jobs/``,
``app.py``, ``cli.py``, ``server.py``) may import any slice; migrations are history."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "nuages"
EDGES = {"api", "jobs", "migrations"}


def _graph() -> dict[str, dict[str, set[str]]]:
    """slice → slice it imports → the files that do."""
    edges: dict[str, dict[str, set[str]]] = {}
    packages = {p.name for p in SRC.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    for path in SRC.rglob("*.py"):
        parts = path.relative_to(SRC).parts
        if len(parts) == 1 or parts[0] in EDGES:
            continue
        here = parts[0]
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                bits = name.split(".")
                if bits[0] == "nuages" and len(bits) > 1 and bits[1] in packages:
                    if bits[1] != here:
                        edges.setdefault(here, {}).setdefault(bits[1], set()).add(
                            str(path.relative_to(SRC))
                        )
    return edges


def _reaches(edges: dict[str, dict[str, set[str]]], start: str) -> set[str]:
    seen: set[str] = set()
    stack = [start]
    while stack:
        for nxt in edges.get(stack.pop(), {}):
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return seen


def test_no_import_cycle_between_slices() -> None:
    edges = _graph()
    cycles = [
        f"{a} → {b} ({', '.join(sorted(files))}) and back"
        for a, targets in sorted(edges.items())
        for b, files in sorted(targets.items())
        if a in _reaches(edges, b)
    ]
    assert cycles == []


def test_no_slice_imports_the_job_registry() -> None:
    """Jobs are enqueued by name (``kernel.jobs.enqueue``); only edges import ``jobs``."""
    offenders = {a: sorted(t["jobs"]) for a, t in _graph().items() if "jobs" in t}
    assert offenders == {}


def test_kernel_and_terms_import_no_slice() -> None:
    edges = _graph()
    assert edges.get("kernel", {}) == {}
    assert set(edges.get("terms", {})) <= {"kernel"}


def _imports_of(slice_name: str) -> dict[str, set[str]]:
    """module imported → the files of ``slice_name`` that import it (deferred ones too)."""
    found: dict[str, set[str]] = {}
    for path in (SRC / slice_name).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            for name in names:
                found.setdefault(name, set()).add(str(path.relative_to(SRC)))
    return found


def test_billing_and_invoicing_hold_no_runtime_nor_compute_tables() -> None:
    """Issue 10 item 5: billing and invoicing ask compute through its services and read
    functions (``compute.services.exported``, ``compute.services.reads``); they never
    import ``compute.models`` (its tables) nor ``compute.runtime`` (its drivers)."""
    banned = ("nuages.compute.models", "nuages.compute.runtime")
    offenders = {
        f"{slice_name}: {name}": sorted(files)
        for slice_name in ("billing", "invoicing")
        for name, files in _imports_of(slice_name).items()
        if any(name == b or name.startswith(b + ".") for b in banned)
    }
    assert offenders == {}
