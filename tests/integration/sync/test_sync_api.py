"""``/api/v1/channel-accounts/{id}/sync``: start a run, follow it, set the schedule."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from siyu.channels.wecom import sync_state
from siyu.channels.wecom.sync_state import SyncMode
from siyu.core.clock import SYSTEM_CLOCK
from siyu.core.db import unit_of_work
from siyu.security.models import AuditEntry
from tests.factories import auth
from tests.integration.sync.conftest import GUIDE1, UNMAPPED, Corp


def url(corp: Corp) -> str:
    return f"/api/v1/channel-accounts/{corp.account_id}/sync"


def test_an_admin_starts_a_full_sync_and_follows_it(api_corp: Corp, client: TestClient) -> None:
    corp = api_corp
    corp.seed(GUIDE1, 4)
    corp.seed(UNMAPPED, 1)
    headers = auth(corp.world.users["admin"])  # type: ignore[union-attr]

    before = client.get(url(corp), headers=headers)
    assert before.status_code == 200
    assert before.json()["full"] is None
    assert before.json()["reconcile_every_minutes"] == 60

    started = client.post(url(corp), headers=headers, json={})
    assert started.status_code == 202, started.text
    # jobs run at once in tests: the run is over by the time the answer is built
    full = started.json()["full"]
    assert full["status"] == "done"
    assert full["percent"] == 100
    assert full["counts"]["contacts"] == 5
    assert full["unmapped_members"] == [UNMAPPED]
    assert full["requested_by"]
    assert set(full["stages"]) == {"members", "tags", "contacts", "relations", "groups"}
    assert full["stages"]["contacts"] == {"done": 5, "total": 5}

    status = client.get(url(corp), headers=headers).json()
    assert status["last_synced_at"] is not None
    assert status["next_reconcile_at"] is not None

    reconciled = client.post(url(corp), headers=headers, json={"mode": "reconcile"})
    assert reconciled.status_code == 202
    assert reconciled.json()["reconcile"]["status"] == "done"
    assert reconciled.json()["reconcile"]["repairs"] == []
    assert len(corp.active()) == 5


def test_a_live_run_answers_409(api_corp: Corp, client: TestClient) -> None:
    corp = api_corp
    with unit_of_work(corp.admin) as db:
        sync_state.mark_queued(
            db, corp.admin, corp.account_id, mode=SyncMode.RECONCILE, now=SYSTEM_CLOCK.now()
        )
    answer = client.post(url(corp), headers=auth(corp.world.users["admin"]), json={})  # type: ignore[union-attr]
    assert answer.status_code == 409
    body = answer.json()
    assert "already queued" in body["detail"]
    assert body["hint"]


def test_the_schedule_is_set_and_checked(api_corp: Corp, client: TestClient) -> None:
    corp = api_corp
    headers = auth(corp.world.users["admin"])  # type: ignore[union-attr]
    changed = client.patch(url(corp), headers=headers, json={"reconcile_every_minutes": 30})
    assert changed.status_code == 200
    assert changed.json()["reconcile_every_minutes"] == 30
    too_often = client.patch(url(corp), headers=headers, json={"reconcile_every_minutes": 1})
    assert too_often.status_code == 422
    with unit_of_work(corp.admin) as db:
        actions = list(db.scalars(select(AuditEntry.action)))
    assert "channel_account.reconcile_period" in actions


def test_roles_without_channel_management_may_not_start_or_schedule(
    api_corp: Corp, client: TestClient
) -> None:
    corp = api_corp
    users = corp.world.users  # type: ignore[union-attr]
    manager = auth(users["manager1"])
    assert client.get(url(corp), headers=manager).status_code == 200
    assert client.post(url(corp), headers=manager, json={}).status_code == 403
    patched = client.patch(url(corp), headers=manager, json={"reconcile_every_minutes": 30})
    assert patched.status_code == 403
    assert client.get(url(corp), headers=auth(users["guide1"])).status_code == 403
