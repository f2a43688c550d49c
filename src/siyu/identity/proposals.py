"""Weak evidence and the merge-proposal review queue.

Orders carry weak evidence about their buyer — receiver name, a masked phone (138****1234), city,
address. It never merges anything by itself. ``generate_proposals`` scores evidence across
customers with the probabilistic linkage model (``identity/linkage.py``) and queues likely pairs
for an operator; pairs above the tenant's auto-accept threshold are merged at once (logged like
any merge, and undoable).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import polars as pl
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from siyu.core import bulk
from siyu.core.actor import Actor
from siyu.core.clock import SYSTEM_CLOCK, Clock
from siyu.core.errors import Conflict, InvalidInput, NotFound
from siyu.core.ids import new_id
from siyu.core.phone import is_masked_phone, mask_phone
from siyu.customers import service as customers
from siyu.customers.models import Customer
from siyu.customers.schemas import CustomerRead
from siyu.identity.models import (
    Evidence,
    MergeMethod,
    MergeProposal,
    MergeRecord,
    ProposalStatus,
)
from siyu.orders.models import Order
from siyu.security.pii import blind_index
from siyu.security.rbac import Perm, has, require
from siyu.security.scope import scope_to

DEFAULT_THRESHOLD_BP = 9000  # queue pairs with a match probability of 90% or more
EVIDENCE_FIELDS = ("name", "phone_masked", "province", "city", "address")


def evidence_row(
    tenant_id: uuid.UUID, customer_id: uuid.UUID, source: str, values: dict[str, Any]
) -> dict[str, Any] | None:
    """Return an ``identity_evidence`` row for an order's receiver block, or None if empty.

    A full phone is kept only in masked form here: evidence is compared, not looked up.
    """
    phone = values.get("phone_masked") or values.get("phone")
    masked = None
    if phone:
        masked = phone if is_masked_phone(phone) else mask_phone(phone)
    row = {
        "name": (values.get("name") or None),
        "phone_masked": masked,
        "province": values.get("province") or None,
        "city": values.get("city") or None,
        "address": values.get("address") or None,
    }
    if sum(v is not None for v in row.values()) < 2:
        return None  # a lone name or city is no evidence of anything
    fingerprint = blind_index(
        tenant_id, "evidence", "|".join(str(row[f] or "") for f in EVIDENCE_FIELDS)
    )
    return {
        "tenant_id": tenant_id,
        "id": new_id(),
        "customer_id": customer_id,
        "source": source,
        "fingerprint": fingerprint,
        **row,
    }


def record_evidence(db: Session, rows: Sequence[dict[str, Any]]) -> int:
    """Store evidence rows (from ``evidence_row``), skipping ones already known."""
    unique = list({(r["customer_id"], r["fingerprint"]): r for r in rows}.values())
    return bulk.insert_ignore(
        db,
        Evidence,
        unique,
        conflict=["tenant_id", "customer_id", "fingerprint"],
    )


@dataclass(frozen=True)
class ProposalRun:
    compared_records: int
    proposed: int
    auto_accepted: int


def _records(db: Session, actor: Actor) -> pl.DataFrame:
    live = customers.visible_customers(actor)
    rows = db.scalars(select(Evidence).where(Evidence.customer_id.in_(live)))
    data = [
        {
            "record_id": str(e.id),
            "customer_id": str(e.customer_id),
            "name": e.name,
            "phone_masked": e.phone_masked,
            "phone_last4": e.phone_masked[-4:] if e.phone_masked else None,
            "province": e.province,
            "city": e.city,
            "address": e.address,
        }
        for e in rows
    ]
    columns = ("record_id", "customer_id", "name", "phone_masked", "phone_last4", "province")
    schema = dict.fromkeys((*columns, "city", "address"), pl.Utf8)
    return pl.DataFrame(data, schema=schema)


def _decided_pairs(db: Session) -> set[frozenset[uuid.UUID]]:
    pairs = {
        frozenset((r.left_customer_id, r.right_customer_id))
        for r in db.execute(select(MergeProposal.left_customer_id, MergeProposal.right_customer_id))
    }
    pairs |= {
        frozenset((r.survivor_id, r.merged_id))
        for r in db.execute(
            select(MergeRecord.survivor_id, MergeRecord.merged_id).where(
                MergeRecord.undone_at.is_not(None)
            )
        )
    }
    return pairs


def generate_proposals(
    db: Session,
    actor: Actor,
    *,
    threshold_bp: int = DEFAULT_THRESHOLD_BP,
    auto_accept_bp: int | None = None,
    clock: Clock = SYSTEM_CLOCK,
) -> ProposalRun:
    """Score weak evidence across customers; queue likely pairs, merge the surest ones.

    ``threshold_bp`` and ``auto_accept_bp`` are probabilities in basis points (9000 = 90%).
    Pairs already proposed, decided, or split by an undone merge are not proposed again.
    """
    require(actor, Perm.CUSTOMERS_WRITE)
    if not 0 < threshold_bp <= 10_000 or (
        auto_accept_bp is not None and not threshold_bp <= auto_accept_bp <= 10_000
    ):
        raise InvalidInput(
            f"thresholds {threshold_bp} / {auto_accept_bp} are out of range",
            hint="use basis points: 1-10000, auto-accept at or above the proposal threshold",
        )
    from siyu.identity.linkage import LinkageConfig, propose_pairs

    records = _records(db, actor)
    if records["customer_id"].n_unique() < 2:
        return ProposalRun(compared_records=records.height, proposed=0, auto_accepted=0)
    found = propose_pairs(records, config=LinkageConfig(threshold=threshold_bp / 10_000))
    skip = _decided_pairs(db)
    proposed = accepted = 0
    for pair in found:
        left, right = sorted((uuid.UUID(pair.left_id), uuid.UUID(pair.right_id)))
        if frozenset((left, right)) in skip:
            continue
        skip.add(frozenset((left, right)))
        probability_bp = round(pair.probability * 10_000)
        proposal = MergeProposal(
            id=new_id(),
            left_customer_id=left,
            right_customer_id=right,
            probability_bp=probability_bp,
            evidence={"fields": dict(pair.evidence), "match_weight": round(pair.match_weight, 3)},
        )
        db.add(proposal)
        db.flush()
        proposed += 1
        if auto_accept_bp is not None and probability_bp >= auto_accept_bp:
            accept(db, actor, proposal.id, decided_by="auto-accept", clock=clock)
            accepted += 1
    return ProposalRun(compared_records=records.height, proposed=proposed, auto_accepted=accepted)


def list_proposals(
    db: Session,
    actor: Actor,
    *,
    status: ProposalStatus | None = ProposalStatus.PENDING,
    limit: int = 100,
) -> list[MergeProposal]:
    require(actor, Perm.CUSTOMERS_READ)
    stmt = select(MergeProposal).order_by(MergeProposal.probability_bp.desc(), MergeProposal.id)
    if status is not None:
        stmt = stmt.where(MergeProposal.status == status)
    return list(db.scalars(stmt.limit(limit)))


def _pending(db: Session, actor: Actor, proposal_id: uuid.UUID) -> MergeProposal:
    proposal = db.get(MergeProposal, (actor.tenant_id, proposal_id))
    if proposal is None:
        raise NotFound(f"merge proposal {proposal_id} not found")
    if proposal.status != ProposalStatus.PENDING:
        raise Conflict(
            f"merge proposal {proposal_id} was already {proposal.status}",
            hint="undo the merge from the customer's merge history instead",
        )
    return proposal


def accept(
    db: Session,
    actor: Actor,
    proposal_id: uuid.UUID,
    *,
    decided_by: str | None = None,
    clock: Clock = SYSTEM_CLOCK,
) -> MergeRecord:
    """Merge a proposed pair (the older customer survives)."""
    from siyu.identity.service import merge

    require(actor, Perm.CUSTOMERS_WRITE)
    proposal = _pending(db, actor, proposal_id)
    pair = customers.get_many(db, actor, [proposal.left_customer_id, proposal.right_customer_id])
    if len(pair) != 2:
        raise Conflict(
            "one of the proposed customers was merged or is out of your scope",
            hint="reject this proposal; the queue is refreshed on the next run",
        )
    record = merge(
        db,
        actor,
        survivor_id=pair[0].id,
        merged_id=pair[1].id,
        method=MergeMethod.PROPOSAL,
        evidence={
            "rule": "probabilistic linkage",
            "probability_bp": proposal.probability_bp,
            "proposal_id": str(proposal.id),
            **proposal.evidence,
        },
        clock=clock,
    )
    proposal.status = ProposalStatus.ACCEPTED
    proposal.decided_at = clock.now()
    proposal.decided_by = decided_by or actor.label
    db.flush()
    return record


def reject(
    db: Session, actor: Actor, proposal_id: uuid.UUID, *, clock: Clock = SYSTEM_CLOCK
) -> MergeProposal:
    """Keep the two customers apart; the pair is not proposed again."""
    require(actor, Perm.CUSTOMERS_WRITE)
    proposal = _pending(db, actor, proposal_id)
    proposal.status = ProposalStatus.REJECTED
    proposal.decided_at = clock.now()
    proposal.decided_by = actor.label
    db.flush()
    return proposal


REVIEW_PAGE_MAX = 200


@dataclass(frozen=True)
class ProposalParty:
    """One customer of a proposed pair, as the reviewing actor may see them.

    ``customer`` is masked by role (``customers.present``). ``merged_into_id`` is set once the
    customer was merged into another (by this proposal or since). ``order_count`` and ``net_fen``
    (paid minus refunded, all time) are ``None`` when the actor may not read orders or the
    customer was merged away (its orders moved to the survivor).
    """

    customer: CustomerRead
    merged_into_id: uuid.UUID | None
    order_count: int | None
    net_fen: int | None

    @property
    def is_active(self) -> bool:
        return self.merged_into_id is None


@dataclass(frozen=True)
class ProposalReview:
    """A merge proposal with both customers, for a reviewer deciding it.

    ``evidence`` maps each compared field to the level the best record pair reached
    (``exact``, ``last4``, ``jaro_winkler>=0.95``, ``else``…); fields neither side had are left
    out. ``match_weight`` is log2 of the posterior odds (``None`` for proposals without it).
    """

    id: uuid.UUID
    status: ProposalStatus
    probability_bp: int
    evidence: dict[str, str]
    match_weight: float | None
    created_at: datetime
    decided_at: datetime | None
    decided_by: str | None
    left: ProposalParty
    right: ProposalParty

    @property
    def is_decidable(self) -> bool:
        """Whether it can still be accepted: pending, and neither customer merged since."""
        return (
            self.status == ProposalStatus.PENDING and self.left.is_active and self.right.is_active
        )


@dataclass(frozen=True)
class ReviewQueue:
    items: list[ProposalReview]
    total: int
    """Proposals matching the filters in the actor's scope (``items`` holds at most ``limit``)."""


def _scoped_customer_ids(actor: Actor) -> Select[uuid.UUID]:
    """Ids of customers in the actor's data scope, merged ones included (for decided pairs)."""
    stmt = select(Customer.id).where(Customer.tenant_id == actor.tenant_id)
    return scope_to(
        actor, stmt, org_unit_col=Customer.org_unit_id, owner_col=Customer.owner_staff_id
    )


def _order_totals(
    db: Session, customer_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, tuple[int, int]]:
    """Order count and net fen per customer, in one grouped query.

    ``orders.customer_summary`` answers for one customer at a time (two queries each); a review
    page shows up to ``2 * REVIEW_PAGE_MAX`` customers, so the totals are read in one query here.
    """
    if not customer_ids:
        return {}
    rows = db.execute(
        select(
            Order.customer_id,
            func.count(),
            func.coalesce(func.sum(Order.paid_fen - Order.refunded_fen), 0),
        )
        .where(Order.customer_id.in_(set(customer_ids)))
        .group_by(Order.customer_id)
    )
    return {cid: (int(count), int(net)) for cid, count, net in rows if cid is not None}


def _shown_evidence(evidence: dict[str, Any]) -> tuple[dict[str, str], float | None]:
    fields = evidence.get("fields")
    shown = (
        {str(k): str(v) for k, v in fields.items() if v != "null"}
        if isinstance(fields, dict)
        else {}
    )
    weight = evidence.get("match_weight")
    return shown, float(weight) if isinstance(weight, int | float) else None


def review_queue(
    db: Session,
    actor: Actor,
    *,
    status: ProposalStatus | None = ProposalStatus.PENDING,
    min_probability_bp: int = 0,
    limit: int = 50,
) -> ReviewQueue:
    """Return proposals with both customers' display data, for the console's review queue.

    Only proposals whose two customers are both in the actor's data scope are listed. Pending
    proposals come most probable first; decided ones (``status`` accepted or rejected) most
    recently decided first. Phones and e-mails are masked unless the role reads PII.
    """
    require(actor, Perm.CUSTOMERS_READ)
    if not 0 <= min_probability_bp <= 10_000:
        raise InvalidInput(
            f"minimum probability {min_probability_bp} is out of range",
            hint="use basis points from 0 to 10000 (9000 = 90%)",
        )
    if not 1 <= limit <= REVIEW_PAGE_MAX:
        raise InvalidInput(
            f"limit {limit} is out of range", hint=f"ask for 1 to {REVIEW_PAGE_MAX} proposals"
        )
    in_scope = _scoped_customer_ids(actor)
    stmt = select(MergeProposal).where(
        MergeProposal.left_customer_id.in_(in_scope),
        MergeProposal.right_customer_id.in_(in_scope),
        MergeProposal.probability_bp >= min_probability_bp,
    )
    if status is not None:
        stmt = stmt.where(MergeProposal.status == status)
    total = db.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    if status in (ProposalStatus.ACCEPTED, ProposalStatus.REJECTED):
        stmt = stmt.order_by(MergeProposal.decided_at.desc(), MergeProposal.id.desc())
    else:
        stmt = stmt.order_by(MergeProposal.probability_bp.desc(), MergeProposal.id)
    found = list(db.scalars(stmt.limit(limit)))
    ids = {cid for p in found for cid in (p.left_customer_id, p.right_customer_id)}
    people = list(db.scalars(select(Customer).where(Customer.id.in_(ids)))) if ids else []
    shown = dict(zip((c.id for c in people), customers.present(db, actor, people), strict=True))
    merged_into = {c.id: c.merged_into_id for c in people}
    reads_orders = has(actor, Perm.ORDERS_READ)
    active = [c.id for c in people if c.merged_into_id is None]
    totals = _order_totals(db, active) if reads_orders else {}

    def party(customer_id: uuid.UUID) -> ProposalParty:
        merged = merged_into[customer_id]
        if not reads_orders or merged is not None:
            return ProposalParty(shown[customer_id], merged, None, None)
        count, net = totals.get(customer_id, (0, 0))
        return ProposalParty(shown[customer_id], merged, count, net)

    items = []
    for p in found:
        evidence, weight = _shown_evidence(p.evidence or {})
        items.append(
            ProposalReview(
                id=p.id,
                status=ProposalStatus(p.status),
                probability_bp=p.probability_bp,
                evidence=evidence,
                match_weight=weight,
                created_at=p.created_at,
                decided_at=p.decided_at,
                decided_by=p.decided_by,
                left=party(p.left_customer_id),
                right=party(p.right_customer_id),
            )
        )
    return ReviewQueue(items=items, total=total)
