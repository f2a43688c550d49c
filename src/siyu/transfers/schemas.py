"""API shapes of transfer batches, their items and their per-status counts."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from siyu.transfers.models import ItemStatus, TransferKind, TransferSubject

MAX_RECEIVERS = 50
MAX_CUSTOMER_IDS = 10_000
SUCCESS_MSG_MAX = 200  # WeCom: transfer_success_msg ≤ 200 characters (spec §3.7)

UserId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]


class TransferCreate(BaseModel):
    """Hand a member's customers (all, or the listed ones) and optionally groups to receivers."""

    model_config = ConfigDict(extra="forbid")

    kind: TransferKind = Field(
        description="resigned (离职继承: the member has left) or in_service (在职继承)"
    )
    account: str | None = Field(
        default=None,
        max_length=100,
        description="WeCom account name or id; may be left out when the tenant has only one",
    )
    handover_userid: UserId = Field(description="WeCom userid of the member handing over")
    receivers: list[UserId] = Field(
        min_length=1,
        max_length=MAX_RECEIVERS,
        description="WeCom userids of the receiving staff; several share the customers in turn",
    )
    customer_ids: list[uuid.UUID] | None = Field(
        default=None,
        max_length=MAX_CUSTOMER_IDS,
        description="Customers to hand over; left out: every active customer of the member",
    )
    include_groups: bool = Field(
        default=False, description="Also hand over the customer groups the member owns"
    )
    transfer_success_msg: str | None = Field(
        default=None,
        max_length=SUCCESS_MSG_MAX,
        description="In-service only: the message customers see once the receiver takes over",
    )

    @model_validator(mode="after")
    def _message_only_in_service(self) -> TransferCreate:
        if self.transfer_success_msg and self.kind is TransferKind.RESIGNED:
            raise ValueError(
                "transfer_success_msg is for in_service transfers only; WeCom sends none for "
                "resigned ones"
            )
        return self


class RetryStatus(StrEnum):
    REFUSED = ItemStatus.REFUSED.value
    LIMIT_REACHED = ItemStatus.LIMIT_REACHED.value
    FAILED = ItemStatus.FAILED.value


class TransferRetry(BaseModel):
    """Start a new batch with a batch's failed items, to other receivers."""

    model_config = ConfigDict(extra="forbid")

    receivers: list[UserId] = Field(min_length=1, max_length=MAX_RECEIVERS)
    statuses: list[RetryStatus] = Field(
        default_factory=lambda: list(RetryStatus),
        min_length=1,
        description="Which outcomes to retry (default: refused, limit_reached and failed)",
    )
    transfer_success_msg: str | None = Field(default=None, max_length=SUCCESS_MSG_MAX)


class TransferCounts(BaseModel):
    """How many items of a batch are in each status."""

    total: int = 0
    pending: int = 0
    waiting: int = 0
    accepted: int = 0
    refused: int = 0
    limit_reached: int = 0
    failed: int = 0

    @classmethod
    def of(cls, by_status: dict[str, int]) -> TransferCounts:
        counts = {s.value: by_status.get(s.value, 0) for s in ItemStatus}
        return cls(total=sum(counts.values()), **counts)

    @property
    def open(self) -> int:
        return self.pending + self.waiting


class BatchState(StrEnum):
    SENDING = "sending"  # some items are not sent to WeCom yet
    WAITING = "waiting"  # every item is sent; some customers' 24-hour windows are running
    FINISHED = "finished"  # every item is final


class TransferBatchRead(BaseModel):
    id: uuid.UUID
    account_id: uuid.UUID
    kind: TransferKind
    handover_userid: str
    receivers: list[str] = Field(description="Receiving userids, in round-robin order")
    transfer_success_msg: str | None
    created_by: str
    created_at: datetime
    finished_at: datetime | None
    state: BatchState
    counts: TransferCounts
    group_counts: TransferCounts = Field(description="The same counts for groups alone")


class TransferItemRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    subject: TransferSubject
    subject_key: str = Field(description="external_userid of a customer, chat_id of a group")
    customer_id: uuid.UUID | None
    customer_name: str | None = Field(
        default=None, description="None for a customer siyu has not synced or you cannot see"
    )
    handover_userid: str
    takeover_userid: str
    status: ItemStatus
    errcode: int | None = Field(description="WeCom's per-item errcode when it refused the item")
    detail: str
    sent_at: datetime | None
    takeover_at: datetime | None = Field(
        description="When the receiver took over; while waiting, when WeCom will switch"
    )
    finished_at: datetime | None


class TransferDetail(TransferBatchRead):
    items: list[TransferItemRead]
    next_cursor: str | None = Field(
        default=None, description="Pass as `cursor` for the next page of items"
    )


class TransferPage(BaseModel):
    items: list[TransferBatchRead]
    next_cursor: str | None = Field(
        default=None, description="Pass as `cursor` for the next page; absent on the last page"
    )


class HandoverCustomerRead(BaseModel):
    """A customer of the handover member, to choose whom to hand over."""

    customer_id: uuid.UUID
    customer_name: str | None
    external_userid: str
    added_at: datetime
    in_transfer: bool = Field(description="Already in a transfer that has not finished")


class UnassignedMember(BaseModel):
    """A member WeCom lists customers as unassigned for (resigned), or staff marked inactive."""

    userid: str
    staff_id: uuid.UUID | None
    staff_name: str | None
    customer_count: int = Field(description="Customers WeCom lists as not yet reassigned")
    dimission_at: datetime | None
