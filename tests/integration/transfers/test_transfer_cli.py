"""``siyu transfer`` as a user runs it: a real process, a fake WeCom on a real port."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import text

from siyu.channels import service as channels
from siyu.channels.schemas import WeComConfig
from siyu.channels.wecom.fake.app import create_fake_app
from siyu.channels.wecom.fake.config import (
    DEFAULT_CALLBACK_AES_KEY,
    DEFAULT_CALLBACK_TOKEN,
    DEFAULT_CORP_ID,
    DEFAULT_SECRET,
    FakeConfig,
)
from siyu.config import Settings
from siyu.contacts import service as contacts
from siyu.core import migrate
from siyu.core.actor import Actor, Role
from siyu.core.clock import SYSTEM_CLOCK
from siyu.core.db import Database, make_engine, system_unit_of_work, unit_of_work
from siyu.tenancy import service as tenancy
from tests.conftest import BACKENDS, POSTGRES_URL, require_postgres, worker_id
from tests.integration.test_wecom_cli import serving

DAY = 86_400


@dataclass
class Installation:
    """A migrated database the CLI and this test share, with a tenant ``acme``."""

    env: dict[str, str]
    database: Database
    admin: Actor


@pytest.fixture(params=[pytest.param(b, marks=getattr(pytest.mark, b)) for b in BACKENDS])
def installation(
    request: pytest.FixtureRequest, tmp_path: Path, test_settings: Settings
) -> Iterator[Installation]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIYU_")}
    env["SIYU_HOME"] = str(tmp_path / "home")
    if request.param == "postgresql":
        require_postgres()
        schema = f"siyu_transfer_cli_{worker_id()}"
        admin_engine = make_engine(POSTGRES_URL)
        with admin_engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        admin_engine.dispose()
        url = POSTGRES_URL
        env["SIYU_DATABASE_URL"] = f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
        engine = make_engine(url, connect_args={"options": f"-csearch_path={schema}"})
    else:
        url = f"sqlite:///{tmp_path / 'siyu.db'}"
        env["SIYU_DATABASE_URL"] = url
        engine = make_engine(url)
    with engine.begin() as conn:
        migrate.upgrade(url, "head", conn)
    database = Database(engine)
    with system_unit_of_work(reason="test tenant", database=database) as db:
        tenant = tenancy.create_tenant(db, name="Acme", slug="acme")
        admin = Actor(tenant_id=tenant.id, user_id=None, role=Role.ADMIN, label="test")
    try:
        yield Installation(env, database, admin)
    finally:
        engine.dispose()


def siyu(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "siyu", *args], env=env, capture_output=True, text=True, timeout=120
    )


def as_json(result: subprocess.CompletedProcess[str]) -> Any:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def prepare(site: Installation, base_url: str) -> uuid.UUID:
    """Staff zhangsan and lisi, a WeCom account on the fake and zhangsan's customers synced."""
    admin, database = site.admin, site.database
    config = WeComConfig(
        corp_id=DEFAULT_CORP_ID,
        secret=SecretStr(DEFAULT_SECRET),
        callback_token=SecretStr(DEFAULT_CALLBACK_TOKEN),
        callback_aes_key=SecretStr(DEFAULT_CALLBACK_AES_KEY),
        base_url=base_url,
    )
    with unit_of_work(admin, database=database) as db:
        root = tenancy.root_unit(db)
        for userid in ("zhangsan", "lisi"):
            tenancy.create_staff(
                db, admin, name=userid, org_unit_id=root.id, role=Role.GUIDE, wecom_userid=userid
            )
        account = channels.create_wecom_account(db, admin, name="main", config=config)
    with channels.client_for(account) as client:
        pages = list(client.iter_contacts_by_user(["zhangsan"]))
    with unit_of_work(admin, database=database) as db:
        for page in pages:
            for item in page.external_contact_list:
                contacts.apply_contact(
                    db,
                    admin,
                    account_id=account.id,
                    corp_id=DEFAULT_CORP_ID,
                    contact=item.external_contact,
                    follow=item.follow_info,
                    now=SYSTEM_CLOCK.now(),
                )
    return account.id


def test_transfer_customers_from_the_command_line(
    installation: Installation, tmp_path: Path
) -> None:
    env = installation.env
    with serving(create_fake_app(FakeConfig(), background=True)) as port:
        base = f"http://127.0.0.1:{port}"
        control = httpx.Client(base_url=base)
        seeded = control.post("/_fake/customers/seed", json={"userid": "zhangsan", "count": 3})
        customers = seeded.json()["external_userids"]
        prepare(installation, base)

        same = siyu(env, "transfer", "customers", "--tenant", "acme", "--from", "zhangsan",
                    "--to", "zhangsan")  # fmt: skip
        assert same.returncode == 2
        assert "handover member" in same.stderr
        bad_file = tmp_path / "ids.txt"
        bad_file.write_text("# chosen by the store\nnot-an-id\n", encoding="utf-8")
        bad = siyu(env, "transfer", "customers", "--tenant", "acme", "--from", "zhangsan",
                   "--to", "lisi", "--customers", str(bad_file))  # fmt: skip
        assert bad.returncode == 2
        assert "line 2" in bad.stderr

        made = as_json(
            siyu(
                env,
                "transfer",
                "customers",
                "--tenant",
                "acme",
                "--from",
                "zhangsan",
                "--to",
                "lisi",
                "--message",
                "你好，我是新的顾问",
                "--json",
            )
        )
        assert (made["kind"], made["state"]) == ("in_service", "waiting")
        assert made["counts"]["waiting"] == 3
        assert {i["subject_key"] for i in made["items"]} == set(customers)
        listed = as_json(siyu(env, "transfer", "list", "--tenant", "acme", "--open", "--json"))
        assert [b["id"] for b in listed] == [made["id"]]

        control.post("/_fake/transfers/refuse", json={"external_userid": customers[0]})
        control.post("/_fake/time/advance", json={"seconds": DAY + 1})
        done = as_json(siyu(env, "transfer", "refresh", made["id"], "--tenant", "acme", "--json"))
        assert (done["state"], done["counts"]["accepted"], done["counts"]["refused"]) == (
            "finished",
            2,
            1,
        )
        shown = siyu(env, "transfer", "show", made["id"], "--tenant", "acme", "--status",
                     "refused")  # fmt: skip
        assert shown.returncode == 0, shown.stderr
        assert "refused" in shown.stdout
        assert "1 refused" in shown.stdout
        control.close()
