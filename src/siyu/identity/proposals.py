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
from typing import Any

import polars as pl
from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.core import bulk
from siyu.core.actor import Actor
from siyu.core.clock import SYSTEM_CLOCK, Clock
from siyu.core.errors import Conflict, InvalidInput, NotFound
from siyu.core.ids import new_id
from siyu.core.phone import is_masked_phone, mask_phone
from siyu.customers import service as customers
from siyu.identity.models import (
    Evidence,
    MergeMethod,
    MergeProposal,
    MergeRecord,
    ProposalStatus,
)
from siyu.security.pii import blind_index
from siyu.security.rbac import Perm, require

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
