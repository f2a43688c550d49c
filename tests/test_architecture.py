"""Structural rules from STYLE.md that a reviewer should not have to check by eye."""

from __future__ import annotations

import ast
from pathlib import Path

from siyu.core.registry import load_models

SRC = Path(__file__).resolve().parent.parent / "src" / "siyu"

# Tables that belong to no tenant: the tenants themselves, agencies, and logins.
GLOBAL_TABLES = {"tenant", "agency", "agency_tenant", "app_user", "auth_session"}
UI_AND_HTTP = ("fastapi", "nicegui", "typer", "starlette")


def test_every_tenant_owned_table_leads_with_tenant_id() -> None:
    metadata = load_models()
    for table in metadata.sorted_tables:
        if table.name in GLOBAL_TABLES:
            continue
        pk = [c.name for c in table.primary_key.columns]
        assert pk[:2] == ["tenant_id", "id"] or pk[0] == "tenant_id", (
            f"table {table.name} must carry tenant_id first in its primary key (got {pk}); "
            "inherit TenantScoped or add it to GLOBAL_TABLES with a reason"
        )
        for index in table.indexes:
            assert index.columns.keys()[0] == "tenant_id", (
                f"index {index.name} on {table.name} must start with tenant_id"
            )
        for fk in table.foreign_key_constraints:
            targets = {e.column.table.name for e in fk.elements}
            if targets & GLOBAL_TABLES:
                continue
            assert "tenant_id" in fk.column_keys, (
                f"foreign key {fk.name} on {table.name} must include tenant_id"
            )


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_services_and_models_do_not_import_entry_point_frameworks() -> None:
    for path in SRC.rglob("*.py"):
        if (
            path.name not in ("service.py", "models.py", "schemas.py")
            and path.parent.name != "core"
        ):
            continue
        if path.name == "http.py":
            continue
        bad = {m for m in _imports(path) if m.split(".")[0] in UI_AND_HTTP}
        assert not bad, f"{path.relative_to(SRC)} imports {bad}; keep frameworks in api/cli/console"


def test_no_domain_imports_another_domains_api() -> None:
    for path in SRC.rglob("*.py"):
        if path.name == "app.py" or "console" in path.parts or "cli" in path.parts:
            continue
        domain = path.relative_to(SRC).parts[0]
        for module in _imports(path):
            parts = module.split(".")
            if len(parts) >= 3 and parts[0] == "siyu" and parts[2] == "api" and parts[1] != domain:
                raise AssertionError(f"{path.relative_to(SRC)} imports {module}")


def test_no_catch_all_modules() -> None:
    for name in ("utils.py", "helpers.py", "common.py", "misc.py"):
        assert not list(SRC.rglob(name)), f"no {name}: name modules for what they hold"
