"""``siyu wecom account …`` and ``siyu wecom callbacks`` as a user runs them (a real process)."""

from __future__ import annotations

import json

import pytest

from siyu.channels.wecom.fake.config import DEFAULT_CALLBACK_AES_KEY
from tests.integration.test_cli import cli_env, siyu

__all__ = ["cli_env"]  # the fixture, parametrised over SQLite and PostgreSQL


@pytest.mark.timeout(600)  # six `siyu` processes; slow on a busy two-core machine
def test_account_lifecycle(cli_env: dict[str, str]) -> None:
    assert siyu(cli_env, "db", "upgrade").returncode == 0
    made = siyu(cli_env, "admin", "create", "--username", "boss", "--tenant", "acme",
                "--tenant-name", "Acme", "--password", "s3cret-pass")  # fmt: skip
    assert made.returncode == 0, made.stderr
    env = {**cli_env, "SIYU_WECOM_SECRET": "app-secret-value-1234",
           "SIYU_SERVER__PUBLIC_URL": "https://crm.example.com"}  # fmt: skip
    added = siyu(env, "wecom", "account", "add", "main", "--tenant", "acme", "--corp-id", "ww1",
                 "--callback-token", "tok", "--callback-aes-key", DEFAULT_CALLBACK_AES_KEY,
                 "--json")  # fmt: skip
    assert added.returncode == 0, added.stderr
    account = json.loads(added.stdout)
    assert account["config"]["secret"] == "****1234"
    assert "app-secret-value-1234" not in added.stdout
    assert account["callback_url"] == (
        f"https://crm.example.com/api/v1/channels/wecom/{account['id']}/callback"
    )

    changed = siyu(cli_env, "wecom", "account", "update", "main", "--tenant", "acme",
                   "--disable", "--agent-id", "1000002", "--json")  # fmt: skip
    assert changed.returncode == 0, changed.stderr
    body = json.loads(changed.stdout)
    assert body["is_active"] is False
    assert body["config"]["agent_id"] == 1000002
    assert body["config"]["secret"] == "****1234"

    inbox = siyu(cli_env, "wecom", "callbacks", "--tenant", "acme", "--json")
    assert inbox.returncode == 0, inbox.stderr
    assert json.loads(inbox.stdout) == []
    gone = siyu(cli_env, "wecom", "account", "delete", "main", "--tenant", "acme", "--yes")
    assert gone.returncode == 0, gone.stderr
    assert "deleted WeCom account 'main'" in gone.stdout
