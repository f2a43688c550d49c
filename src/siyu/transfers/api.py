"""Transfer routes: start a resigned or in-service transfer, follow it, refresh and retry it."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Query

from siyu.core.db import unit_of_work
from siyu.security.deps import CurrentActor
from siyu.transfers import flows, jobs, service
from siyu.transfers.models import ItemStatus, TransferSubject
from siyu.transfers.schemas import (
    HandoverCustomerRead,
    TransferCreate,
    TransferDetail,
    TransferPage,
    TransferRetry,
    UnassignedMember,
)

router = APIRouter(prefix="/transfers", tags=["transfers"])


def _detail(actor: CurrentActor, batch_id: uuid.UUID) -> TransferDetail:
    with unit_of_work(actor) as db:
        return service.detail(db, actor, batch_id)


@router.get("", operation_id="list_transfers")
def list_transfers(
    actor: CurrentActor,
    account_id: uuid.UUID | None = None,
    handover_userid: str | None = Query(default=None, max_length=64),
    open_only: bool = Query(default=False, description="Only transfers not finished yet"),
    limit: int = Query(default=50, ge=1, le=service.MAX_PAGE),
    cursor: str | None = None,
) -> TransferPage:
    """Transfers, newest first, with per-status counts of their customers and groups."""
    with unit_of_work(actor) as db:
        page = service.list_batches(
            db,
            actor,
            account_id=account_id,
            handover_userid=handover_userid,
            open_only=open_only,
            limit=limit,
            cursor=cursor,
        )
        return TransferPage(
            items=service.present(db, actor, page.items), next_cursor=page.next_cursor
        )


@router.post("", status_code=201, operation_id="create_transfer")
def create_transfer(data: TransferCreate, actor: CurrentActor) -> TransferDetail:
    """Hand a member's customers (all, or ``customer_ids``) and optionally groups to receivers.

    The items are sent to WeCom right after the transfer is created (100 per call, one call per
    receiver). Each customer then has 24 hours to refuse; poll ``GET /transfers/{id}`` or call
    ``POST /transfers/{id}/refresh`` to follow the outcome.
    """
    batch_id = flows.start_transfer(actor, data=data)
    jobs.send_transfer(str(actor.tenant_id), str(batch_id))
    return _detail(actor, batch_id)


@router.get("/unassigned-members", operation_id="list_unassigned_members")
def list_unassigned_members(
    actor: CurrentActor, account: str | None = Query(default=None, max_length=100)
) -> list[UnassignedMember]:
    """Members who left with customers not yet reassigned (WeCom), and inactive staff."""
    return flows.unassigned_members(actor, account=account)


@router.get("/handover-customers", operation_id="list_handover_customers")
def list_handover_customers(
    actor: CurrentActor,
    handover_userid: str = Query(min_length=1, max_length=64),
    account: str | None = Query(default=None, max_length=100),
) -> list[HandoverCustomerRead]:
    """The member's active customers, to pick the ones to hand over."""
    with unit_of_work(actor) as db:
        return service.handover_customers(
            db, actor, account=account, handover_userid=handover_userid
        )


@router.get("/{transfer_id}", operation_id="get_transfer")
def get_transfer(
    transfer_id: uuid.UUID,
    actor: CurrentActor,
    status: ItemStatus | None = None,
    subject: TransferSubject | None = None,
    limit: int = Query(default=100, ge=1, le=service.MAX_PAGE),
    cursor: str | None = None,
) -> TransferDetail:
    """A transfer with its counts and a page of its items (filter by status or subject)."""
    with unit_of_work(actor) as db:
        return service.detail(
            db, actor, transfer_id, status=status, subject=subject, limit=limit, cursor=cursor
        )


@router.post("/{transfer_id}/refresh", operation_id="refresh_transfer")
def refresh_transfer(transfer_id: uuid.UUID, actor: CurrentActor) -> TransferDetail:
    """Send items still pending and ask WeCom how the waiting customers are doing now."""
    flows.refresh(actor, transfer_id)
    return _detail(actor, transfer_id)


@router.post("/{transfer_id}/retry", status_code=201, operation_id="retry_transfer")
def retry_transfer(
    transfer_id: uuid.UUID, data: TransferRetry, actor: CurrentActor
) -> TransferDetail:
    """Hand the transfer's refused, limited or failed items to other receivers (a new transfer)."""
    batch_id = flows.retry_transfer(actor, transfer_id, data=data)
    jobs.send_transfer(str(actor.tenant_id), str(batch_id))
    return _detail(actor, batch_id)
