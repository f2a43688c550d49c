"""``siyu codes`` as a user runs it: a real process, a real database, the fake WeCom on a socket."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import text

from siyu.channels import service as channels
from siyu.channels.schemas import WeComConfig
from siyu.channels.wecom.fake.app import create_fake_app, fake_of
from siyu.channels.wecom.fake.config import (
    DEFAULT_CALLBACK_AES_KEY,
    DEFAULT_CORP_ID,
    DEFAULT_SECRET,
    FakeConfig,
)
from siyu.channels.wecom.fake.state import ContactWay
from siyu.config import Settings
from siyu.core import migrate
from siyu.core.actor import Actor
from siyu.core.clock import SYSTEM_CLOCK
from siyu.core.db import Database, make_engine, set_database, unit_of_work
from tests.conftest import BACKENDS, POSTGRES_URL, require_postgres, worker_id
from tests.factories import make_world
from tests.integration.acquisition.conftest import new_customer, relate
from tests.integration.test_wecom_cli import serving


@dataclass
class Env:
    env: dict[str, str]
    fake_ways: dict[str, ContactWay]
    admin: Actor
    account_id: uuid.UUID

    def siyu(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "siyu", "codes", *args, "--tenant", "cli"],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )


@pytest.fixture(params=[pytest.param(b, marks=getattr(pytest.mark, b)) for b in BACKENDS])
def cli(request: pytest.FixtureRequest, tmp_path: Path, test_settings: Settings) -> Iterator[Env]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIYU_")}
    env["SIYU_HOME"] = str(tmp_path / "home")
    env["COLUMNS"] = "200"  # Rich tables unwrapped
    schema = f"siyu_codes_cli_{worker_id()}"
    if request.param == "postgresql":
        require_postgres()
        admin = make_engine(POSTGRES_URL)
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        admin.dispose()
        url = POSTGRES_URL
        engine = make_engine(url, connect_args={"options": f"-csearch_path={schema}"})
        env["SIYU_DATABASE_URL"] = f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    else:
        url = f"sqlite:///{tmp_path / 'cli.db'}"
        engine = make_engine(url)
        env["SIYU_DATABASE_URL"] = url
    with engine.begin() as conn:
        migrate.upgrade(url, "head", conn)
    set_database(Database(engine))
    fake_app = create_fake_app(FakeConfig(members=["cli_guide1", "cli_guide2", "cli_guide3"]))
    try:
        with serving(fake_app) as port:
            world = make_world("cli")
            config = WeComConfig(
                corp_id=DEFAULT_CORP_ID,
                secret=SecretStr(DEFAULT_SECRET),
                callback_token=SecretStr("callback-token"),
                callback_aes_key=SecretStr(DEFAULT_CALLBACK_AES_KEY),
                base_url=f"http://127.0.0.1:{port}",
            )
            with unit_of_work(world.admin) as db:
                account = channels.create_wecom_account(db, world.admin, name="main", config=config)
            ways = fake_of(fake_app).state.contact_ways
            yield Env(env, ways, world.admin, account.id)
    finally:
        engine.dispose()
        if request.param == "postgresql":
            admin = make_engine(POSTGRES_URL)
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            admin.dispose()


@pytest.mark.timeout(900)  # seven `siyu` processes; each starts in seconds, slower on busy CI
def test_codes_from_create_to_disable(cli: Env, tmp_path: Path) -> None:
    welcome = tmp_path / "welcome.json"
    welcome.write_text(
        json.dumps(
            {
                "text": "您好 {customer_name}",
                "attachments": [{"msgtype": "image", "pic_url": "https://cdn.example.com/a.png"}],
            }
        ),
        encoding="utf-8",
    )
    made = cli.siyu(
        "create", "Store 1 counter", "--owner", "store", "--org-unit", "cli-S1",
        "--staff", "cli_guide1", "--staff", "cli_guide2", "--rotate", "--daily-cap", "20",
        "--state", "store-1", "--welcome-file", str(welcome), "--tag", "et_store", "--json",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    code = json.loads(made.stdout)
    assert code["state"] == "store-1"
    assert code["welcome"]["attachments"][0]["image"]["pic_url"].endswith("a.png")
    way = cli.fake_ways[code["config_id"]]
    assert way.user == ["cli_guide1", "cli_guide2"]

    ghost = cli.siyu("create", "Ghost", "--owner", "agency", "--staff", "ghost")
    assert ghost.returncode == 2
    assert "'ghost'" in ghost.stderr
    assert "hint" in ghost.stderr

    shown = cli.siyu("show", "store-1")
    assert shown.returncode == 0, shown.stderr
    assert code["qr_code"] in shown.stdout

    amy = new_customer(cli.admin, "Amy")
    relate(cli, uuid.UUID(code["id"]), amy, "cli_guide1", SYSTEM_CLOCK.now())

    listed = cli.siyu("list", "--json")
    assert listed.returncode == 0, listed.stderr
    [item] = json.loads(listed.stdout)["items"]
    assert item["stats"]["adds"] == 1

    stats = cli.siyu("stats", "Store 1 counter", "--window", "14")
    assert stats.returncode == 0, stats.stderr
    assert "lost ≤14d" in stats.stdout
    [total] = [line for line in stats.stdout.splitlines() if "total" in line]
    assert [cell.strip() for cell in total.split("│")][3:6] == ["1", "1", "0"]

    changed = cli.siyu("update", "store-1", "--staff", "cli_guide3", "--no-rotate", "--no-cap",
                       "--name", "Store 1 door")  # fmt: skip
    assert changed.returncode == 0, changed.stderr
    assert way.user == ["cli_guide3"]
    assert way.remark == "Store 1 door"

    disabled = cli.siyu("disable", "store-1")
    assert disabled.returncode == 0, disabled.stderr
    assert "disabled channel code 'Store 1 door'" in disabled.stdout
    assert code["config_id"] not in cli.fake_ways
