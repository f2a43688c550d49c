"""The reconciliation schedule: due accounts are reconciled, each on its own; failures stay put."""

from __future__ import annotations

from datetime import timedelta

from pydantic import SecretStr

from siyu.channels import service as channels
from siyu.channels.schemas import WeComConfig
from siyu.channels.wecom import sync_jobs, sync_state
from siyu.channels.wecom.fake.config import DEFAULT_CALLBACK_AES_KEY, DEFAULT_CORP_ID
from siyu.channels.wecom.sync_state import RunStatus, SyncMode
from siyu.core.clock import SYSTEM_CLOCK, FixedClock
from siyu.core.db import unit_of_work
from tests.integration.sync.conftest import FAKE_URL, GUIDE1, Corp


def state(corp: Corp, account_id: object = None) -> dict[str, object]:
    with unit_of_work(corp.admin) as db:
        account = channels.get_account(db, corp.admin, account_id or corp.account_id)  # type: ignore[arg-type]
        return dict(account.sync_state)


def later(minutes: float) -> FixedClock:
    return FixedClock(SYSTEM_CLOCK.now() + timedelta(minutes=minutes))


def test_due_accounts_are_reconciled_once_per_period(corp: Corp) -> None:
    corp.seed(GUIDE1, 2)
    assert sync_jobs.reconcile_due() == 1  # never reconciled: due at once
    first = state(corp)["reconcile"]
    assert isinstance(first, dict)
    assert first["status"] == RunStatus.DONE
    assert first["requested_by"] == "schedule"
    assert len(corp.active()) == 2

    assert sync_jobs.reconcile_due() == 0  # done a moment ago
    assert sync_jobs.reconcile_due(clock=later(59)) == 0
    assert sync_jobs.reconcile_due(clock=later(61)) == 1

    with unit_of_work(corp.admin) as db:
        sync_state.set_reconcile_period(db, corp.admin, corp.account_id, minutes=240)
    assert sync_jobs.reconcile_due(clock=later(180)) == 0
    assert sync_jobs.reconcile_due(clock=later(250)) == 1


def test_a_failing_account_is_recorded_and_the_others_still_run(corp: Corp) -> None:
    corp.seed(GUIDE1, 1)
    with unit_of_work(corp.admin) as db:
        broken = channels.create_wecom_account(
            db,
            corp.admin,
            name="broken",
            config=WeComConfig(
                corp_id=DEFAULT_CORP_ID,
                secret=SecretStr("not-the-secret"),
                callback_token=SecretStr("t"),
                callback_aes_key=SecretStr(DEFAULT_CALLBACK_AES_KEY),
                base_url=FAKE_URL,
            ),
        ).id

    assert sync_jobs.reconcile_due() == 2

    good = state(corp)["reconcile"]
    bad = state(corp, broken)["reconcile"]
    assert isinstance(good, dict)
    assert isinstance(bad, dict)
    assert good["status"] == RunStatus.DONE
    assert bad["status"] == RunStatus.FAILED
    assert bad["error"]["code"] == "wecom_credentials_rejected"
    assert bad["stage"] == "members"
    assert len(corp.active()) == 1
    # a failed account is retried a period later, not every five minutes
    assert sync_jobs.reconcile_due(clock=later(10)) == 0


def test_a_live_run_is_not_queued_twice_and_a_dead_one_is_replaced(corp: Corp) -> None:
    with unit_of_work(corp.admin) as db:
        queued = sync_state.mark_queued(
            db, corp.admin, corp.account_id, mode=SyncMode.FULL, now=SYSTEM_CLOCK.now()
        )
        assert queued is not None
    assert sync_jobs.reconcile_due() == 0
    assert state(corp).get("reconcile") is None


def test_a_run_silent_for_too_long_is_dead(corp: Corp) -> None:
    silent_since = SYSTEM_CLOCK.now() - sync_state.STALE_AFTER - timedelta(minutes=1)
    with unit_of_work(corp.admin) as db:
        queued = sync_state.mark_queued(
            db, corp.admin, corp.account_id, mode=SyncMode.FULL, now=silent_since
        )
        assert queued is not None
    assert sync_jobs.reconcile_due() == 1
    reconciled = state(corp)["reconcile"]
    assert isinstance(reconciled, dict)
    assert reconciled["status"] == RunStatus.DONE
