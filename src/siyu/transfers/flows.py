"""Transfers that talk to WeCom: start, send, poll results, list what resigned members left.

WeCom is never called inside a transaction. Each flow reads what it needs in one unit of work,
calls WeCom, and writes what WeCom answered in another (one per call when sending, so a crash
loses at most one answer; a lost answer is found again: the resend gets 40129 and the result
poll settles it). API, CLI, console and jobs all call these.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

import structlog

from siyu.channels import service as channels
from siyu.channels.models import ChannelAccount
from siyu.channels.wecom import errors as wecom_errors
from siyu.channels.wecom.client import WeComClient
from siyu.channels.wecom.schemas import CustomerTransferState, UnassignedCustomer
from siyu.core.actor import Actor
from siyu.core.clock import SYSTEM_CLOCK, Clock
from siyu.core.db import system_unit_of_work, unit_of_work
from siyu.security.rbac import Perm, require
from siyu.tenancy import service as tenancy
from siyu.transfers import outcomes, service
from siyu.transfers.models import TransferKind, TransferSubject
from siyu.transfers.schemas import TransferCreate, TransferRetry, UnassignedMember

log = structlog.get_logger(__name__)

# Failures that say nothing about the items: leave them PENDING for the next attempt.
TRANSIENT = (
    wecom_errors.RateLimited,
    wecom_errors.SystemBusy,
    wecom_errors.NotReady,
    wecom_errors.TokenRejected,
    wecom_errors.CredentialsRejected,
    wecom_errors.WeComTransportError,
)
UNASSIGNED_PAGE = 1000


@dataclass
class SendSummary:
    """What one pass over a batch's PENDING items did."""

    calls: int = 0
    moved: int = 0
    errors: list[str] = field(default_factory=list)


@dataclass
class RefreshSummary:
    sent: SendSummary
    polled_pairs: int = 0
    finished: int = 0


def job_actor(tenant_id: uuid.UUID) -> Actor:
    """Return the actor transfer jobs write as (label ``wecom:transfers``)."""
    with system_unit_of_work(reason="a transfer job acts for its tenant") as db:
        tenant = tenancy.get_tenant(db, tenant_id)
        return channels.channel_actor(tenant.id, tenant.timezone, "transfers")


def fetch_unassigned(client: WeComClient) -> list[UnassignedCustomer]:
    """Return every customer WeCom lists as left behind by resigned members."""
    found: list[UnassignedCustomer] = []
    cursor: str | None = None
    while True:
        page = client.get_unassigned_list(cursor=cursor, page_size=UNASSIGNED_PAGE)
        found += page.info
        if page.is_last or not page.next_cursor:
            return found
        cursor = page.next_cursor


def _account(actor: Actor, name_or_id: str | None) -> ChannelAccount:
    with unit_of_work(actor) as db:
        require(actor, Perm.TRANSFERS_WRITE)
        return channels.find_account(db, actor, name_or_id)


def start_transfer(actor: Actor, *, data: TransferCreate, clock: Clock = SYSTEM_CLOCK) -> uuid.UUID:
    """Create a batch; return its id. The caller sends it (``jobs.send_transfer`` or ``send``).

    A resigned transfer first asks WeCom which customers the member left unassigned: that
    proves the member has left and brings customers siyu has not synced yet.
    """
    unassigned: list[str] = []
    if data.kind is TransferKind.RESIGNED:
        account = _account(actor, data.account)
        with channels.client_for(account, clock=clock) as client:
            left = fetch_unassigned(client)
        handover = data.handover_userid.strip()
        unassigned = [c.external_userid for c in left if c.handover_userid == handover]
        data = data.model_copy(update={"account": str(account.id)})
    with unit_of_work(actor) as db:
        batch = service.create_transfer(db, actor, data=data, unassigned=unassigned, clock=clock)
        return batch.id


def retry_transfer(
    actor: Actor, batch_id: uuid.UUID, *, data: TransferRetry, clock: Clock = SYSTEM_CLOCK
) -> uuid.UUID:
    """Create a batch of a batch's failed items for other receivers; return its id."""
    with unit_of_work(actor) as db:
        return service.retry_transfer(db, actor, batch_id, data=data, clock=clock).id


def _send_chunk(
    client: WeComClient, plan: service.SendPlan, chunk: service.Chunk
) -> dict[str, tuple[int, str]]:
    """Make one WeCom call; return each key's (errcode, errmsg)."""
    if chunk.subject is TransferSubject.GROUP:
        failed = client.groupchat_transfer(
            chunk.keys, chunk.takeover_userid, on_job=plan.kind is TransferKind.IN_SERVICE
        )
        answers = dict.fromkeys(chunk.keys, (0, ""))
        answers.update({f.chat_id: (f.errcode, f.errmsg) for f in failed})
        return answers
    if plan.kind is TransferKind.RESIGNED:
        results = client.resigned_transfer_customer(
            plan.handover_userid, chunk.takeover_userid, chunk.keys
        )
    else:
        results = client.transfer_customer(
            plan.handover_userid,
            chunk.takeover_userid,
            chunk.keys,
            transfer_success_msg=plan.transfer_success_msg,
        )
    answers = {r.external_userid: (r.errcode, "") for r in results}
    for key in chunk.keys:  # never leave a customer without an answer
        answers.setdefault(key, (-2, "WeCom did not answer for this customer"))
    return answers


def send(actor: Actor, batch_id: uuid.UUID, *, clock: Clock = SYSTEM_CLOCK) -> SendSummary:
    """Send a batch's PENDING items, one WeCom call per receiver and 100 items.

    A WeCom error about the request (unknown or inactive receiver, say) settles the chunk's
    items with that errcode. A transient one (rate limit, network, rejected credentials)
    leaves the rest PENDING with the reason in their detail; the periodic job sends them again.
    """
    with unit_of_work(actor) as db:
        plan = service.send_plan(db, actor, batch_id)
    summary = SendSummary()
    if not plan.chunks:
        return summary
    if not plan.account.is_active:
        with unit_of_work(actor) as db:
            summary.moved += outcomes.fail_pending(
                db,
                actor,
                batch_id=batch_id,
                errcode=None,
                detail=outcomes.ACCOUNT_DISABLED,
                at=clock.now(),
            )
        return summary
    with channels.client_for(plan.account, clock=clock) as client:
        for chunk in plan.chunks:
            try:
                answers = _send_chunk(client, plan, chunk)
            except TRANSIENT as exc:
                reason = outcomes.NOT_SENT + exc.detail
                summary.errors.append(reason)
                log.warning("transfer_send_deferred", batch_id=str(batch_id), error=exc.code)
                with unit_of_work(actor) as db:
                    outcomes.note_pending(db, actor, batch_id=batch_id, detail=reason)
                break
            except wecom_errors.WeComApiError as exc:
                answers = dict.fromkeys(chunk.keys, (exc.errcode, exc.errmsg))
            summary.calls += 1
            with unit_of_work(actor) as db:
                summary.moved += outcomes.record_sent(
                    db,
                    actor,
                    batch_id=batch_id,
                    subject=chunk.subject,
                    takeover_userid=chunk.takeover_userid,
                    answers=answers,
                    at=clock.now(),
                )
    log.info("transfer_sent", batch_id=str(batch_id), calls=summary.calls, items=summary.moved)
    return summary


def _poll(
    client: WeComClient, kind: TransferKind, handover: str, takeover: str
) -> dict[str, CustomerTransferState]:
    """Return WeCom's latest state of every customer handed from ``handover`` to ``takeover``."""
    states: dict[str, CustomerTransferState] = {}
    cursor: str | None = None
    while True:
        if kind is TransferKind.RESIGNED:
            page = client.resigned_transfer_result(handover, takeover, cursor=cursor)
        else:
            page = client.transfer_result(handover, takeover, cursor=cursor)
        states.update({c.external_userid: c for c in page.customer})
        if not page.next_cursor:
            return states
        cursor = page.next_cursor


def refresh(actor: Actor, batch_id: uuid.UUID, *, clock: Clock = SYSTEM_CLOCK) -> RefreshSummary:
    """Send what is still PENDING, then ask WeCom how the WAITING customers are doing."""
    sent = send(actor, batch_id, clock=clock)
    with unit_of_work(actor) as db:
        batch = service.get_batch(db, actor, batch_id)
        pairs = service.waiting_pairs(db, actor, batch_id)
        account = channels.get_account(db, actor, batch.account_id)
        kind = TransferKind(batch.kind)
    summary = RefreshSummary(sent=sent, polled_pairs=len(pairs))
    if not pairs:
        return summary
    with channels.client_for(account, clock=clock) as client:
        results = {pair: _poll(client, kind, *pair) for pair in pairs}
    with unit_of_work(actor) as db:
        summary.finished = outcomes.apply_results(
            db, actor, batch_id=batch_id, results=results, at=clock.now()
        )
    return summary


def unassigned_members(
    actor: Actor, *, account: str | None = None, clock: Clock = SYSTEM_CLOCK
) -> list[UnassignedMember]:
    """Return members whose customers wait for a resigned transfer, and inactive staff.

    From WeCom's ``get_unassigned_list`` (members deleted in WeCom, customers not yet
    reassigned) plus staff marked inactive in siyu that have a WeCom userid.
    """
    found_account = _account(actor, account)
    with channels.client_for(found_account, clock=clock) as client:
        left = fetch_unassigned(client)
    with unit_of_work(actor) as db:
        staff = {
            s.wecom_userid: s
            for s in tenancy.list_staff(db, actor, include_inactive=True)
            if s.wecom_userid
        }
    counts: dict[str, int] = {}
    left_at: dict[str, int] = {}
    for c in left:
        counts[c.handover_userid] = counts.get(c.handover_userid, 0) + 1
        left_at[c.handover_userid] = max(left_at.get(c.handover_userid, 0), c.dimission_time)
    userids = set(counts) | {u for u, s in staff.items() if not s.is_active}
    members = []
    for userid in sorted(userids):
        person = staff.get(userid)
        members.append(
            UnassignedMember(
                userid=userid,
                staff_id=person.id if person else None,
                staff_name=person.name if person else None,
                customer_count=counts.get(userid, 0),
                dimission_at=(
                    datetime.fromtimestamp(left_at[userid], UTC) if left_at.get(userid) else None
                ),
            )
        )
    return members
