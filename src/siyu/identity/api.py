"""Identify, identities, merge history, unmerge and junk-key routes."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from siyu.core.actor import Actor
from siyu.core.db import unit_of_work
from siyu.customers import survivorship
from siyu.customers.survivorship import Survivorship
from siyu.identity import proposals, service
from siyu.identity.keys import make_key
from siyu.identity.models import Identity, JunkKey, JunkStatus, ProposalStatus
from siyu.identity.schemas import (
    IdentifyRequest,
    IdentifyResponse,
    IdentityRead,
    JunkKeyRead,
    JunkKeyUpdate,
    MergeRead,
    ProposalRead,
    ProposalRunRead,
    ProposalRunRequest,
)
from siyu.security import masking
from siyu.security.deps import CurrentActor

router = APIRouter(tags=["identity"])


def _shown(actor: Actor, kind: str, value: str) -> str:
    if kind == "phone":
        return masking.phone_for(actor, value) or ""
    if kind == "email":
        return masking.email_for(actor, value) or ""
    return value


def _identity(actor: Actor, i: Identity) -> IdentityRead:
    return IdentityRead(
        id=i.id,
        kind=i.kind,
        namespace=i.namespace,
        value=_shown(actor, i.kind, i.value),
        source=i.source,
        created_at=i.created_at,
        last_seen_at=i.last_seen_at,
    )


def _junk(actor: Actor, j: JunkKey) -> JunkKeyRead:
    return JunkKeyRead(
        id=j.id,
        kind=j.kind,
        namespace=j.namespace,
        value=_shown(actor, j.kind, j.value),
        reason=j.reason,
        status=j.status,
        hit_count=j.hit_count,
        detected_at=j.detected_at,
    )


@router.post("/identify", operation_id="identify")
def identify(data: IdentifyRequest, actor: CurrentActor) -> IdentifyResponse:
    """Resolve keys to one customer: create it, join it, or merge the customers they bridge."""
    with unit_of_work(actor) as db:
        keys = [make_key(k.kind, k.value, k.namespace) for k in data.keys]
        result = service.resolve(db, actor, keys=keys, source=data.source, profile=data.profile)
        return IdentifyResponse(
            customer_id=result.customer_id,
            created=result.created,
            merged_ids=result.merged_ids,
            junk_keys=result.junk_keys,
        )


@router.get("/customers/{customer_id}/identities", operation_id="list_customer_identities")
def list_identities(customer_id: uuid.UUID, actor: CurrentActor) -> list[IdentityRead]:
    with unit_of_work(actor) as db:
        return [_identity(actor, i) for i in service.list_identities(db, actor, customer_id)]


@router.get("/customers/{customer_id}/merges", operation_id="list_customer_merges")
def list_merges(customer_id: uuid.UUID, actor: CurrentActor) -> list[MergeRead]:
    """Merges this customer took part in, with their evidence, newest first."""
    with unit_of_work(actor) as db:
        return [MergeRead.model_validate(m) for m in service.merge_history(db, actor, customer_id)]


@router.get("/merges/{merge_id}", operation_id="get_merge")
def get_merge(merge_id: uuid.UUID, actor: CurrentActor) -> MergeRead:
    with unit_of_work(actor) as db:
        return MergeRead.model_validate(service.get_merge(db, actor, merge_id))


@router.post("/merges/{merge_id}/undo", operation_id="undo_merge")
def undo_merge(merge_id: uuid.UUID, actor: CurrentActor) -> MergeRead:
    """Unmerge: restore the merged customer with its identities, orders and events."""
    with unit_of_work(actor) as db:
        return MergeRead.model_validate(service.unmerge(db, actor, merge_id))


@router.get("/junk-keys", operation_id="list_junk_keys")
def list_junk_keys(actor: CurrentActor, status: str | None = None) -> list[JunkKeyRead]:
    """Keys that never merge customers: placeholders and keys shared by many people."""
    with unit_of_work(actor) as db:
        return [_junk(actor, j) for j in service.list_junk_keys(db, actor, status=status)]


@router.patch("/junk-keys/{junk_key_id}", operation_id="update_junk_key")
def update_junk_key(
    junk_key_id: uuid.UUID, data: JunkKeyUpdate, actor: CurrentActor
) -> JunkKeyRead:
    """Clear a flagged key after review (it may merge again), or flag it again."""
    with unit_of_work(actor) as db:
        junk = service.set_junk_status(db, actor, junk_key_id, status=JunkStatus(data.status))
        return _junk(actor, junk)


@router.post("/merge-proposals/run", operation_id="run_merge_proposals")
def run_proposals(data: ProposalRunRequest, actor: CurrentActor) -> ProposalRunRead:
    """Score weak evidence (names, masked phones, addresses) and queue likely duplicates."""
    with unit_of_work(actor) as db:
        run = proposals.generate_proposals(
            db, actor, threshold_bp=data.threshold_bp, auto_accept_bp=data.auto_accept_bp
        )
        return ProposalRunRead(**vars(run))


@router.get("/merge-proposals", operation_id="list_merge_proposals")
def list_proposals(
    actor: CurrentActor, status: ProposalStatus | None = ProposalStatus.PENDING
) -> list[ProposalRead]:
    """The review queue, most probable first."""
    with unit_of_work(actor) as db:
        found = proposals.list_proposals(db, actor, status=status)
        return [ProposalRead.model_validate(p) for p in found]


@router.post("/merge-proposals/{proposal_id}/accept", operation_id="accept_merge_proposal")
def accept_proposal(proposal_id: uuid.UUID, actor: CurrentActor) -> MergeRead:
    """Merge the pair (the older customer survives); undo it from the merge history."""
    with unit_of_work(actor) as db:
        return MergeRead.model_validate(proposals.accept(db, actor, proposal_id))


@router.post("/merge-proposals/{proposal_id}/reject", operation_id="reject_merge_proposal")
def reject_proposal(proposal_id: uuid.UUID, actor: CurrentActor) -> ProposalRead:
    """Keep the two customers apart; the pair is not proposed again."""
    with unit_of_work(actor) as db:
        return ProposalRead.model_validate(proposals.reject(db, actor, proposal_id))


@router.get("/survivorship", operation_id="get_survivorship")
def get_survivorship(actor: CurrentActor) -> Survivorship:
    """Golden-record rules per profile field (fields not listed keep the first value known)."""
    with unit_of_work(actor) as db:
        return survivorship.rules(db, actor)


@router.put("/survivorship", operation_id="set_survivorship")
def set_survivorship(data: Survivorship, actor: CurrentActor) -> Survivorship:
    """Replace the rules: per field ``keep_first``, ``latest`` or ``source_priority`` (with the
    ranked ``sources``). They apply to later imports, events, identify calls and merges."""
    with unit_of_work(actor) as db:
        return survivorship.set_rules(db, actor, data)
