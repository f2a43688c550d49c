"""``siyu wecom sync / reconcile / groups`` as a user runs them: a real process, a fake corp on a
real socket, SQLite and PostgreSQL."""

from __future__ import annotations

import json

import httpx

from siyu.channels.wecom.fake.app import create_fake_app
from siyu.channels.wecom.fake.config import (
    DEFAULT_CALLBACK_AES_KEY,
    DEFAULT_CALLBACK_TOKEN,
    DEFAULT_CORP_ID,
    DEFAULT_SECRET,
    FakeConfig,
)
from tests.integration.test_cli import cli_env, siyu  # noqa: F401 - cli_env is a fixture
from tests.integration.test_wecom_cli import serving


def test_sync_reconcile_and_groups_from_the_command_line(cli_env: dict[str, str]) -> None:  # noqa: F811
    assert siyu(cli_env, "db", "upgrade").returncode == 0
    admin = ["--username", "boss", "--tenant", "acme", "--tenant-name", "Acme"]
    made = siyu(cli_env, "admin", "create", *admin, "--password", "s3cret-pass")
    assert made.returncode == 0, made.stderr
    fake = create_fake_app(FakeConfig(members=["m1", "m2"]), background=True)
    with serving(fake) as port, httpx.Client(base_url=f"http://127.0.0.1:{port}/_fake") as control:
        base = f"http://127.0.0.1:{port}"
        for userid, count in (("m1", 30), ("m2", 12)):
            control.post("/customers/seed", json={"userid": userid, "count": count})
        seeded = control.post("/customers/seed", json={"userid": "m1", "count": 1}).json()
        gone = seeded["external_userids"][0]
        control.post("/groups", json={"owner": "m1", "name": "VIP", "members": [gone]})
        keys = ["--corp-id", DEFAULT_CORP_ID, "--secret", DEFAULT_SECRET]
        keys += ["--callback-token", DEFAULT_CALLBACK_TOKEN]
        keys += ["--callback-aes-key", DEFAULT_CALLBACK_AES_KEY, "--base-url", base]
        added = siyu(cli_env, "wecom", "account", "add", "main", "--tenant", "acme", *keys)
        assert added.returncode == 0, added.stderr

        synced = siyu(cli_env, "wecom", "sync", "--tenant", "acme")
        assert synced.returncode == 0, synced.stderr
        assert "customers and relations" in synced.stderr  # the progress bar, one per stage
        assert "43/43" in synced.stderr
        assert "full sync done" in synced.stdout
        assert "2 WeCom members have no staff record" in synced.stdout

        control.post("/follows/delete", json={"userid": "m1", "external_userid": gone})
        fixed = siyu(cli_env, "wecom", "reconcile", "--tenant", "acme")
        assert fixed.returncode == 0, fixed.stderr
        assert "repaired: 1" in fixed.stdout
        assert f"relation_ended     m1 {gone}" in fixed.stdout

        listed = siyu(cli_env, "wecom", "groups", "--tenant", "acme", "--json")
        assert listed.returncode == 0, listed.stderr
        (group,) = json.loads(listed.stdout)
        assert (group["name"], group["member_count"], group["customer_count"]) == ("VIP", 2, 1)
        members = siyu(cli_env, "wecom", "groups", group["chat_id"], "--tenant", "acme", "--json")
        assert members.returncode == 0, members.stderr
        detail = json.loads(members.stdout)
        assert {m["member_userid"]: m["is_active"] for m in detail["members"]} == {
            "m1": True,
            gone: True,
        }

        status = siyu(cli_env, "wecom", "sync", "--tenant", "acme", "--status")
        assert status.returncode == 0, status.stderr
        assert "reconciliation" in status.stdout
        assert "100%" in status.stdout
