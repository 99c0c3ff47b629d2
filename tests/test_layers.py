"""The package's claims about its own shape: one door to storage, no arrow back up."""

from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "digest"
STORAGE = ("digest/store/", "digest/migrations/", "digest/tables.py")
# the scheduler keeps its jobs in the same database through APScheduler's own job store
ALLOWED = {("digest/schedule.py", "apscheduler.jobstores.sqlalchemy")}


def _modules() -> list[tuple[str, ast.Module]]:
    root = PACKAGE.parent
    return [
        (path.relative_to(root).as_posix(), ast.parse(path.read_text(encoding="utf-8")))
        for path in sorted(PACKAGE.rglob("*.py"))
    ]


def _imports(tree: ast.Module) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.append(node.module)
            found += [f"{node.module}.{a.name}" for a in node.names]
    return found


def test_only_the_store_touches_the_database() -> None:
    trespass = []
    for name, tree in _modules():
        if name.startswith(STORAGE):
            continue
        for module in _imports(tree):
            if any(name == n and module.startswith(m) for n, m in ALLOWED):
                continue
            if "sqlalchemy" in module.split(".") or module.startswith("digest.tables"):
                trespass.append(f"{name} imports {module}")
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and node.attr == "engine"
                # the day.engine setting (where shards run) is no database engine
                and not (isinstance(node.value, ast.Attribute) and node.value.attr == "day")
            ):
                trespass.append(f"{name}:{node.lineno} reaches for the store's engine")
    assert trespass == []


def test_lower_layers_never_import_upper_ones() -> None:
    upper = {
        "digest.store": ("digest.day", "digest.web", "digest.cli", "digest.score"),
        "digest.score": ("digest.day", "digest.web", "digest.cli", "digest.store"),
        "digest.day": ("digest.web", "digest.cli"),
        "digest.web": ("digest.cli",),
    }
    wrong = []
    for name, tree in _modules():
        dotted = name.removesuffix(".py").replace("/", ".")
        for layer, above in upper.items():
            if dotted == layer or dotted.startswith(layer + "."):
                wrong += [f"{name} imports {m}" for m in _imports(tree) if m.startswith(above)]
    assert wrong == []


def test_modules_stay_small() -> None:
    root = PACKAGE.parent
    large = [
        f"{path.relative_to(root)}: {n} lines"
        for path in PACKAGE.rglob("*.py")
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > 420
    ]
    assert large == []


def test_the_readme_layout_names_every_module_and_no_other() -> None:
    readme = (PACKAGE.parent / "README.md").read_text(encoding="utf-8")
    start = readme.index("```\ndigest/\n")
    tree = readme[start : readme.index("```\n", start + 4)]
    named = set(re.findall(r"([a-z_]+\.py)", tree))
    folders = set(re.findall(r"^\s*([a-z_]+)/", tree, re.M)) - {"digest"}
    modules = {
        p.name
        for p in PACKAGE.rglob("*.py")
        if p.name != "__init__.py" and "migrations" not in p.parts
    }
    packages = {p.parent.name for p in PACKAGE.rglob("__init__.py")} - {"digest", "migrations"}
    assert modules - named == set(), "modules the README's layout leaves out"
    assert named - modules == set(), "modules the README's layout names that do not exist"
    assert folders == packages
