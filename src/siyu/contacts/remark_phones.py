"""Phones a guide notes on a WeCom contact (``remark_mobiles``) as OneID keys.

Guides note a known shopper's phone in the contact's remark so that OneID joins the WeCom
contact with the customer the brand knows from orders or membership. Every entry that
normalises to a mainland mobile becomes a strong ``phone`` key resolved with the contact's
external_userid and unionid; other entries are skipped and logged (without the number: phones
are PII). Placeholders (13800138000…) are flagged by OneID like any junk key.

A guide may also type the store's own phone on many contacts. OneID's fan-out rule counts the
distinct people a key would join by their exclusive ids; a WeCom contact often comes without a
unionid, so ``crowded`` applies the same rule to external_userids: a noted phone that would
give one customer more than the fan-out limit of distinct WeCom contacts of an account is
flagged for review and links nobody.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.channels.wecom.schemas import FollowInfo, FollowUser
from siyu.contacts.models import ContactRelation
from siyu.core.actor import Actor
from siyu.core.append import one_of
from siyu.core.clock import Clock
from siyu.core.errors import InvalidInput
from siyu.core.phone import is_masked_phone
from siyu.identity import service as identity
from siyu.identity.keys import IdentityKey, KeyKind, junk_reason, make_key

log = structlog.get_logger(__name__)

Pair = tuple[str, str]
"""(member userid, external_userid): one relation of an account."""

MASKED = "masked number"
NOT_MAINLAND = "not a mainland mobile number"
_CHUNK = 1_000
LOGGED_CONTACTS = 20  # external_userids named in one log line; the count is complete


@dataclass(frozen=True)
class NotedPhones:
    """The phone keys of one follow's ``remark_mobiles`` and why other entries were skipped.

    ``keys`` holds every valid mainland mobile once, placeholders included (OneID flags them);
    ``skipped`` and ``junk`` hold reasons only, never the numbers.
    """

    keys: list[IdentityKey] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    junk: list[str] = field(default_factory=list)


def noted_phones(follow: FollowUser | FollowInfo) -> NotedPhones:
    """Return the phone keys a member noted on this contact."""
    keys: list[IdentityKey] = []
    skipped: list[str] = []
    junk: list[str] = []
    for raw in follow.remark_mobiles:
        text = raw.strip()
        if not text:
            continue
        if is_masked_phone(text):
            skipped.append(MASKED)
            continue
        try:
            key = make_key(KeyKind.PHONE, text)
        except InvalidInput:
            skipped.append(NOT_MAINLAND)
            continue
        if key in keys:
            continue
        keys.append(key)
        reason = junk_reason(key)
        if reason is not None:
            junk.append(reason)
    return NotedPhones(keys=keys, skipped=skipped, junk=junk)


def log_skipped(
    noted: NotedPhones,
    *,
    relation_id: uuid.UUID,
    account_id: uuid.UUID,
    wecom_userid: str,
    external_userid: str,
) -> None:
    """Log the entries of a relation's remark phones that will not join customers."""
    for event_name, reasons in (
        ("wecom_remark_phone_skipped", noted.skipped),
        ("wecom_remark_phone_junk", noted.junk),
    ):
        if reasons:
            log.warning(
                event_name,
                relation_id=str(relation_id),
                account_id=str(account_id),
                wecom_userid=wecom_userid,
                external_userid=external_userid,
                reasons=reasons,
            )


@dataclass(frozen=True)
class Noting:
    """One contact noting phones: its external_userid, its customer (when known), the keys."""

    external_userid: str
    customer_id: uuid.UUID | None
    keys: Sequence[IdentityKey]


def _contacts_of(
    db: Session, account_id: uuid.UUID, customer_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, set[str]]:
    """Return the distinct external_userids each customer has relations with in an account."""
    wanted = sorted(set(customer_ids))
    found: dict[uuid.UUID, set[str]] = defaultdict(set)
    for start in range(0, len(wanted), _CHUNK):
        rows = db.execute(
            select(ContactRelation.customer_id, ContactRelation.external_userid)
            .where(
                ContactRelation.account_id == account_id,
                one_of(db, ContactRelation.customer_id, wanted[start : start + _CHUNK]),
            )
            .distinct()
        )
        for customer_id, external_userid in rows:
            found[customer_id].add(external_userid)
    return found


def _owners(db: Session, actor: Actor, keys: Sequence[IdentityKey]) -> dict[IdentityKey, uuid.UUID]:
    owners: dict[IdentityKey, uuid.UUID] = {}
    for start in range(0, len(keys), _CHUNK):
        owners.update(identity.customers_with_keys(db, actor, keys[start : start + _CHUNK]))
    return owners


def crowded(
    db: Session,
    actor: Actor,
    *,
    account_id: uuid.UUID,
    notings: Sequence[Noting],
    clock: Clock,
    limit: int = identity.DEFAULT_FANOUT_LIMIT,
) -> set[IdentityKey]:
    """Return noted phones that would join more than ``limit`` distinct WeCom contacts.

    The contacts counted for a phone: those noting it here, and every contact of the account
    already joined with the phone's customer or with the customers of the noting contacts.
    Each such phone is flagged as a junk key (once, its hits the contacts noting it now) and
    must not be resolved; placeholders are left to OneID.
    """
    by_key: dict[IdentityKey, list[Noting]] = defaultdict(list)
    for noting in notings:
        for key in noting.keys:
            if junk_reason(key) is None:
                by_key[key].append(noting)
    if not by_key:
        return set()
    owners = _owners(db, actor, list(by_key))
    customers = set(owners.values()) | {
        n.customer_id for found in by_key.values() for n in found if n.customer_id is not None
    }
    joined = _contacts_of(db, account_id, customers)
    bad: set[IdentityKey] = set()
    for key, found in by_key.items():
        people = {n.external_userid for n in found}
        holders = {n.customer_id for n in found if n.customer_id is not None}
        if key in owners:
            holders.add(owners[key])
        for holder in holders:
            people |= joined.get(holder, set())
        if len(people) <= limit:
            continue
        identity.flag_junk(
            db,
            actor,
            key,
            f"noted on WeCom contacts of more than {limit} distinct people",
            clock=clock,
            hits=len({n.external_userid for n in found}),
        )
        log.warning(
            "wecom_remark_phone_crowded",
            account_id=str(account_id),
            external_userids=sorted({n.external_userid for n in found})[:LOGGED_CONTACTS],
            contacts=len(people),
            limit=limit,
        )
        bad.add(key)
    return bad


def unlinked(
    db: Session, actor: Actor, wanted: Mapping[Pair, tuple[uuid.UUID, Sequence[IdentityKey]]]
) -> set[Pair]:
    """Return the relations some of whose noted phones OneID has not linked to their customer.

    ``wanted`` maps a relation to its customer and the phones noted on it. A phone counts when
    it is not a placeholder, has no junk-key row (flagged, or cleared by an operator: those
    link through the next edit callback or full sync), and either nobody owns it or another
    customer does that an operator has not split from this one (an undone merge is not redone).
    """
    tenant_id = actor.tenant_id
    keys = {k for _, ks in wanted.values() for k in ks if junk_reason(k) is None}
    if not keys:
        return set()
    reviewed = {(j.kind, j.namespace, j.key_hash) for j in identity.list_junk_keys(db, actor)}
    usable = {k for k in keys if (k.kind.value, k.namespace, k.hash(tenant_id)) not in reviewed}
    owners = _owners(db, actor, sorted(usable, key=lambda k: k.value))
    pending: set[Pair] = set()
    splits: dict[uuid.UUID, set[uuid.UUID]] = {}
    for pair, (customer_id, noted) in wanted.items():
        mine = [k for k in noted if k in usable]
        if any(k not in owners for k in mine):
            pending.add(pair)
            continue
        others = {owners[k] for k in mine} - {customer_id}
        if not others:
            continue
        if customer_id not in splits:
            splits[customer_id] = _split_from(db, actor, customer_id)
        if others - splits[customer_id]:
            pending.add(pair)
    return pending


def _split_from(db: Session, actor: Actor, customer_id: uuid.UUID) -> set[uuid.UUID]:
    """Customers an operator separated from this one by undoing a merge."""
    split: set[uuid.UUID] = set()
    for record in identity.merge_history(db, actor, customer_id):
        if record.undone_at is not None:
            split.update({record.survivor_id, record.merged_id} - {customer_id})
    return split
