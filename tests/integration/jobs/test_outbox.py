"""The outbox: delivered after commit, once, retried with backoff, dropped when expired."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from siyu.core.actor import Actor, Role
from siyu.core.clock import FixedClock
from siyu.core.db import Database, unit_of_work
from siyu.jobs import outbox
from siyu.jobs.models import OutboxMessage, OutboxStatus
from siyu.tenancy import service as tenancy

calls: list[outbox.OutboxCall] = []
behaviour: dict[str, Any] = {}


@outbox.handler("test.echo")
def _echo(call: outbox.OutboxCall) -> dict[str, Any]:
    calls.append(call)
    action = behaviour.get(call.idempotency_key)
    if action == "retry":
        raise outbox.Retry("upstream busy")
    if action == "drop":
        raise outbox.Drop("not wanted")
    if action == "boom":
        raise RuntimeError("handler bug")
    return {"echo": call.payload}


@pytest.fixture
def actor(database: Database) -> Actor:
    from siyu.core.db import system_unit_of_work

    with system_unit_of_work(reason="test tenant") as db:
        tenant = tenancy.create_tenant(db, name="Outbox", slug=f"outbox-{uuid.uuid4().hex[:8]}")
        tenant_id = tenant.id
    calls.clear()
    behaviour.clear()
    return Actor(tenant_id=tenant_id, user_id=None, role=Role.ADMIN, label="test")


def _message(actor: Actor, key: str) -> OutboxMessage:
    with unit_of_work(actor) as db:
        message = db.scalar(select(OutboxMessage).where(OutboxMessage.idempotency_key == key))
        assert message is not None
        db.expunge(message)
        return message


def test_delivered_once_after_commit(actor: Actor) -> None:
    with unit_of_work(actor) as db:
        first = outbox.enqueue(db, actor, kind="test.echo", key="k1", payload={"n": 1})
        again = outbox.enqueue(db, actor, kind="test.echo", key="k1", payload={"n": 2})
        assert first is not None
        assert again is None
        assert calls == []  # nothing leaves before the commit
    assert [c.payload for c in calls] == [{"n": 1}]
    message = _message(actor, "k1")
    assert message.status == OutboxStatus.SENT
    assert message.result == {"echo": {"n": 1}}
    assert message.attempts == 1
    assert outbox.deliver_now(actor.tenant_id, message.id) is None  # sent: not again
    assert len(calls) == 1


def test_rolled_back_unit_of_work_sends_nothing(actor: Actor) -> None:
    def enqueue_then_fail() -> None:
        with unit_of_work(actor) as db:
            outbox.enqueue(db, actor, kind="test.echo", key="k2", payload={})
            raise RuntimeError("abort")

    with pytest.raises(RuntimeError, match="abort"):
        enqueue_then_fail()
    assert calls == []


def test_retry_with_backoff_then_failure_after_last_attempt(actor: Actor) -> None:
    behaviour["k3"] = "retry"
    with unit_of_work(actor) as db:
        message_id = outbox.enqueue(db, actor, kind="test.echo", key="k3", payload={})
    assert message_id is not None
    # the immediate delivery ran on the real clock; drive the rest on a fixed one
    message = _message(actor, "k3")
    assert message.status == OutboxStatus.PENDING
    assert message.last_error == "Retry: upstream busy"
    clock = FixedClock(message.due_at - timedelta(seconds=1))
    delays = []
    for _ in range(outbox.MAX_ATTEMPTS):
        message = _message(actor, "k3")
        if message.status != OutboxStatus.PENDING:
            break
        assert outbox.deliver_now(actor.tenant_id, message_id, clock=clock) is None  # not due
        clock.advance(message.due_at - clock.now())
        before = clock.now()
        outbox.deliver_now(actor.tenant_id, message_id, clock=clock)
        delays.append(_message(actor, "k3").due_at - before)
        clock.advance(timedelta(seconds=-1))
    final = _message(actor, "k3")
    assert final.status == OutboxStatus.FAILED
    assert final.attempts == outbox.MAX_ATTEMPTS
    assert delays[0] < delays[1] < delays[2]  # backoff grows


def test_drop_and_unexpected_error(actor: Actor) -> None:
    behaviour["k4"] = "drop"
    behaviour["k5"] = "boom"
    with unit_of_work(actor) as db:
        outbox.enqueue(db, actor, kind="test.echo", key="k4", payload={})
        outbox.enqueue(db, actor, kind="test.echo", key="k5", payload={})
    assert _message(actor, "k4").status == OutboxStatus.DROPPED
    assert _message(actor, "k4").last_error == "not wanted"
    boom = _message(actor, "k5")
    assert boom.status == OutboxStatus.PENDING
    assert boom.last_error == "RuntimeError: handler bug"


def test_expired_message_is_dropped_unsent(actor: Actor) -> None:
    past = datetime.now(UTC) - timedelta(seconds=1)
    with unit_of_work(actor) as db:
        outbox.enqueue(db, actor, kind="test.echo", key="k6", payload={}, expires_at=past)
    assert calls == []
    message = _message(actor, "k6")
    assert message.status == OutboxStatus.DROPPED
    assert message.attempts == 0


def test_sweep_delivers_messages_whose_job_was_lost(actor: Actor) -> None:
    later = datetime.now(UTC) + timedelta(minutes=5)
    with unit_of_work(actor) as db:
        outbox.enqueue(db, actor, kind="test.echo", key="k7", payload={"late": True}, due_at=later)
    assert calls == []  # not due yet
    clock = FixedClock(later + timedelta(seconds=1))
    assert outbox.sweep(clock=clock) >= 1
    assert [c.payload for c in calls] == [{"late": True}]
    assert _message(actor, "k7").status == OutboxStatus.SENT
