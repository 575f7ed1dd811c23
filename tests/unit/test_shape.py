"""The package boundaries hold: the browser wheel carries what the client imports and no more
(build.py's BROWSER_CALLWIRE), and the client never imports the collector."""

import ast
from pathlib import Path

import build

ROOT = Path(__file__).resolve().parents[2]


def imported(path: Path) -> set[str]:
    """Absolute module names a file imports (relative imports resolved within its package)."""
    package = path.parent.name
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = f"{package}.{node.module}" if node.level else node.module
            base = base or package
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def callwire_modules(names: set[str]) -> set[str]:
    """callwire module files named by these imports ("callwire.figures.streams" -> "figures.py")."""
    found = set()
    for name in names:
        parts = name.split(".")
        if parts[0] == "callwire" and len(parts) > 1 and (ROOT / "callwire" / f"{parts[1]}.py").exists():
            found.add(f"{parts[1]}.py")
    return found


def test_the_browser_wheel_holds_every_shared_module_the_client_imports_and_no_other():
    needed, todo = set(), [p for p in (ROOT / "pyclient").glob("*.py")]
    seen = set()
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for module in callwire_modules(imported(path)):
            needed.add(module)
            todo.append(ROOT / "callwire" / module)
    assert needed | {"__init__.py"} == set(build.BROWSER_CALLWIRE)
    assert "messages.py" not in needed  # the collector's models stay server-side


def test_the_client_never_imports_the_collector():
    for path in (ROOT / "pyclient").glob("*.py"):
        assert not [n for n in imported(path) if n.split(".")[0] == "collector"], path.name
