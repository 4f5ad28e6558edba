"""The layering the design promises, checked on the import graph of the source: the conversation
core and the features never reach for Flask, a channel SDK or the handlers; models never import
the bot; and inside bot/ nothing imports a project module late (inside a function) to dodge a cycle."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = {
    "bot": ("flask", "werkzeug", "handlers", "wechatpy", "alipay"),
    "models": ("bot", "handlers", "flask"),
}


def _imports(path: Path) -> list[tuple[str, bool]]:
    """(module imported, at module level?) for every import statement of a file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top = {id(node) for node in tree.body}
    for node in tree.body:  # `if TYPE_CHECKING:` imports are for annotations: module level too
        if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING":
            top |= {id(child) for child in node.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, id(node) in top) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.module, id(node) in top))
    return found


def _sources(package: str) -> list[Path]:
    return sorted(p for p in (ROOT / package).rglob("*.py") if "migrations" not in p.parts)


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_does_not_import_what_lies_above_it(package):
    bad = [
        (p.relative_to(ROOT).as_posix(), name)
        for p in _sources(package)
        for name, _ in _imports(p)
        if name.split(".")[0] in FORBIDDEN[package]
    ]
    assert bad == []


def test_bot_has_no_late_imports_of_project_modules():
    late = [
        (p.relative_to(ROOT).as_posix(), name)
        for p in _sources("bot")
        for name, at_top in _imports(p)
        if not at_top and name.split(".")[0] in ("bot", "models", "handlers")
    ]
    assert late == []


def test_the_scan_sees_imports():
    names = {name for name, _ in _imports(ROOT / "bot" / "router.py")}
    assert {"bot.core.flow", "bot.account.menu"} <= names
