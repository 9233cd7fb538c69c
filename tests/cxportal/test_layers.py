"""Lower layers never import higher ones (DESIGN.md, "Apps and layers")."""

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
LAYERS = ["customers", "cases", "feedback", "campaigns"]  # each may import those before it
# Core modules of cxportal sit below every app; the rest of cxportal is wiring on top.
CORE = {
    "models.py",
    "services.py",
    "selectors.py",
    "querysets.py",
    "roles.py",
    "apps.py",
    "errors.py",
    "validation.py",
    "health.py",
    "pagination.py",
    "broker.py",
    "admin_base.py",
    "bulk.py",
    "outbound_webhooks.py",
    "sql.py",
    "web.py",
    "dashboards.py",
    "cache.py",
    "api",
}


def imported_apps(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names & {*LAYERS, "cxportal"}


def python_files(folder: Path):
    return [p for p in folder.rglob("*.py") if "migrations" not in p.parts]


def test_apps_import_only_lower_layers():
    problems = []
    for i, app in enumerate(LAYERS):
        higher = set(LAYERS[i + 1 :])
        for path in python_files(REPO / app):
            bad = imported_apps(path) & higher
            if bad:
                problems.append(f"{path.relative_to(REPO)} imports {sorted(bad)}")
    assert not problems, problems


def test_core_imports_no_app():
    problems = []
    for path in python_files(REPO / "cxportal"):
        if path.relative_to(REPO / "cxportal").parts[0] in CORE:
            bad = imported_apps(path) & set(LAYERS)
            if bad:
                problems.append(f"{path.relative_to(REPO)} imports {sorted(bad)}")
    assert not problems, problems


def cxportal_modules(path: Path) -> set[str]:
    """The cxportal modules a file imports: ``"errors"`` for ``from cxportal.errors import``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "cxportal":
                names |= {f"cxportal.{alias.name}" for alias in node.names}
            names.add(node.module)
    return {n.split(".")[1] for n in names if n.startswith("cxportal.")}


def test_apps_import_only_the_core_of_cxportal():
    """The wiring on top (celery app, urls, settings, dashboards) is imported by nobody below
    it: an app needing e.g. the transient errors imports ``cxportal.errors``."""
    core = {name.removesuffix(".py") for name in CORE}
    problems = []
    for app in LAYERS:
        for path in python_files(REPO / app):
            bad = cxportal_modules(path) - core
            if bad:
                problems.append(f"{path.relative_to(REPO)} imports cxportal.{sorted(bad)}")
    assert not problems, problems


def test_the_checker_sees_a_violation(tmp_path):
    bad = tmp_path / "x.py"
    bad.write_text("from campaigns.models import Campaign\nimport cases.services\n")
    assert imported_apps(bad) == {"campaigns", "cases"}
    wiring = tmp_path / "y.py"
    wiring.write_text("from cxportal.celery import app\nfrom cxportal import settings\n")
    assert cxportal_modules(wiring) == {"celery", "settings"}
