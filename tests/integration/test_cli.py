"""The CLI as a user runs it: a real `siyu` process against SQLite and PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from siyu.config import DEV_PII_KEY, DEV_SECRET_KEY
from siyu.core.db import make_engine
from tests.conftest import BACKENDS, POSTGRES_URL, require_postgres, worker_id


@pytest.fixture(params=[pytest.param(b, marks=getattr(pytest.mark, b)) for b in BACKENDS])
def cli_env(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIYU_")}
    env["SIYU_HOME"] = str(tmp_path / "home")
    if request.param == "postgresql":
        require_postgres()
        schema = f"siyu_cli_{worker_id()}"
        admin = make_engine(POSTGRES_URL)
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        admin.dispose()
        env["SIYU_DATABASE_URL"] = f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    return env


def siyu(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "siyu", *args], env=env, capture_output=True, text=True, timeout=120
    )


def test_bootstrap_with_the_cli(cli_env: dict[str, str]) -> None:
    up = siyu(cli_env, "db", "upgrade")
    assert up.returncode == 0, up.stderr
    current = siyu(cli_env, "db", "current")
    head = current.stdout.split("head:")[1].split()[0]
    assert f"current: {head}" in current.stdout
    made = siyu(
        cli_env,
        "admin",
        "create",
        "--username",
        "boss",
        "--tenant",
        "acme",
        "--tenant-name",
        "Acme 咖啡",
        "--password",
        "s3cret-pass",
    )
    assert made.returncode == 0, made.stderr
    assert "created tenant Acme 咖啡" in made.stdout
    listed = siyu(cli_env, "tenant", "list")
    assert "acme" in listed.stdout
    again = siyu(
        cli_env,
        "admin",
        "create",
        "--username",
        "boss",
        "--tenant",
        "acme",
        "--password",
        "s3cret-pass",
    )
    assert again.returncode == 2
    assert "user 'boss' exists" in again.stderr
    assert "hint" in again.stderr
    short = siyu(
        cli_env, "admin", "create", "--username", "x", "--tenant", "acme", "--password", "short"
    )
    assert short.returncode == 2
    assert "at least 8" in short.stderr
    assert siyu(cli_env, "agency", "create", "星河").returncode == 0
    assert siyu(cli_env, "agency", "link", "星河", "acme").returncode == 0
    missing = siyu(cli_env, "agency", "link", "星河", "nope")
    assert missing.returncode == 2
    assert "siyu tenant list" in missing.stderr
    down = siyu(cli_env, "db", "downgrade", "base")
    assert down.returncode == 0, down.stderr
    assert "none (empty database)" in siyu(cli_env, "db", "current").stdout


def test_config_show_masks_secrets(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIYU_")}
    env["SIYU_HOME"] = str(tmp_path)
    env["SIYU_DATABASE_URL"] = "postgresql://app:hunter2-secret@db.internal/siyu"
    shown = siyu(env, "config", "show")
    assert shown.returncode == 0, shown.stderr
    for secret in (DEV_SECRET_KEY, DEV_PII_KEY, "hunter2-secret"):
        assert secret not in shown.stdout
    assert "********" in shown.stdout
    assert "db.internal" in shown.stdout


def test_import_and_show_with_the_cli(cli_env: dict[str, str], tmp_path: Path) -> None:
    import json

    fixtures = Path(__file__).resolve().parents[1] / "fixtures" / "orders"
    assert siyu(cli_env, "db", "upgrade").returncode == 0
    assert siyu(cli_env, "tenant", "create", "brand", "--name", "Brand").returncode == 0
    first = siyu(
        cli_env, "import", "orders", str(fixtures / "tmall.csv"), "--tenant", "brand", "--json"
    )
    assert first.returncode == 0, first.stderr
    summary = json.loads(first.stdout)
    assert set(summary) >= {
        "rows",
        "inserted",
        "updated",
        "unchanged",
        "skipped",
        "customers_created",
        "customers_matched",
        "errors",
    }
    assert (summary["rows"], summary["inserted"], summary["skipped"]) == (8, 7, 1)
    assert summary["errors"][0] == {
        "row": 7,
        "column": "买家实际支付金额",
        "value": "12.3.4",
        "reason": "not an amount: write yuan like 129.00 or ¥1,234.50",
    }
    again = json.loads(
        siyu(
            cli_env, "import", "orders", str(fixtures / "tmall.csv"), "--tenant", "brand", "--json"
        ).stdout
    )
    assert (again["inserted"], again["unchanged"]) == (0, 7)
    report = tmp_path / "errors.csv"
    aborted = siyu(
        cli_env,
        "import",
        "orders",
        str(fixtures / "jd.csv"),
        "--tenant",
        "brand",
        "--on-error",
        "abort",
        "--errors-csv",
        str(report),
    )
    assert aborted.returncode == 2
    assert "订购数量" in report.read_text(encoding="utf-8-sig")
    shown = siyu(cli_env, "customers", "show", "18600001111", "--tenant", "brand")
    assert shown.returncode == 0, shown.stderr
    assert "王芳" in shown.stdout
    assert "order.paid" in shown.stdout


def test_order_webhooks_with_the_cli(cli_env: dict[str, str]) -> None:
    import json

    assert siyu(cli_env, "db", "upgrade").returncode == 0
    assert siyu(cli_env, "tenant", "create", "shop", "--name", "Shop").returncode == 0
    made = siyu(cli_env, "webhook", "create", "POS 收银", "--source", "pos", "--tenant", "shop")
    assert made.returncode == 0, made.stderr
    assert "created order webhook 'POS 收银' (pos)" in made.stdout
    assert "not shown again" in made.stdout
    assert "POST /api/v1/hooks/orders/" in made.stdout
    shown = json.loads(
        siyu(
            cli_env, "webhook", "create", "ERP", "--source", "generic", "--tenant", "shop", "--json"
        ).stdout
    )
    assert shown["source"] == "other"
    assert shown["secret"].startswith("whsec_")
    assert shown["url"] == f"/api/v1/hooks/orders/{shown['id']}"
    listed = siyu(cli_env, "webhook", "list", "--tenant", "shop")
    assert "POS 收银" in listed.stdout
    assert shown["secret"] not in listed.stdout
    rotated = json.loads(
        siyu(
            cli_env,
            "webhook",
            "rotate",
            "ERP",
            "--tenant",
            "shop",
            "--keep-previous-hours",
            "24",
            "--json",
        ).stdout
    )
    assert rotated["id"] == shown["id"]
    assert rotated["secret"] != shown["secret"]
    assert rotated["previous_secret_expires_at"] is not None
    assert siyu(cli_env, "webhook", "disable", shown["id"], "--tenant", "shop").returncode == 0
    after = json.loads(siyu(cli_env, "webhook", "list", "--tenant", "shop", "--json").stdout)
    assert {(w["name"], w["is_active"]) for w in after} == {("POS 收银", True), ("ERP", False)}
    assert {w["secret_prefix"] for w in after if w["name"] == "ERP"} == {rotated["secret"][:10]}
    missing = siyu(cli_env, "webhook", "rotate", "nope", "--tenant", "shop")
    assert missing.returncode == 2
    assert "siyu webhook list" in missing.stderr
    bad = siyu(cli_env, "webhook", "create", "X", "--source", "ebay", "--tenant", "shop")
    assert bad.returncode == 2
    assert "--source" in bad.stderr
