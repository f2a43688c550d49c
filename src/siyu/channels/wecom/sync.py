"""Full sync and reconciliation of a WeCom account with siyu (issue #6).

One pipeline, five stages, each reported as ``progress(stage, done, total)`` and in
``channel_account.sync_state`` (see ``sync_state``):

1. ``members`` — ``get_follow_user_list``, then each member's customer ids (``list``). Members
   no staff record maps (``Staff.wecom_userid``) are listed in the state for an admin to map;
   no staff is invented. A member WeCom refuses to read (permission, visibility) is skipped.
2. ``tags`` — ``get_corp_tag_list`` into the ``wecom_corp_tag`` mirror; tags gone from WeCom
   stay, flagged deleted.
3. ``contacts`` — ``batch/get_by_user`` for up to 100 members per call, 100 customers per page,
   written through ``contacts.bulk`` 10,000 relations per unit of work on PostgreSQL, 1,000 on
   SQLite (one writer at a time there); same outcome as ``apply_contact`` one by one: OneID
   (noted phones included), staff link, channel code, ``is_new_customer``.
4. ``relations`` — relations siyu holds as active for members that were read but WeCom no
   longer lists end as ``gone`` (who deleted whom is unknown). Relations written after the run
   started (a callback meanwhile) are left alone, and so are relations of members WeCom did
   not list at all (resigned, out of the app's range): those are reported, not ended.
5. ``groups`` — ``groupchat/list`` (by owner when the corp is too big for an unfiltered list),
   ``groupchat/get`` per group, ``GROUP_CHUNK`` groups per unit of work; groups siyu holds as
   active that WeCom no longer lists are dismissed.

A full sync writes every relation (customers re-resolved, profiles refreshed); reconciliation
(``mode=reconcile``) writes only what differs and records each repair. WeCom is called outside
any transaction; a crash loses no committed chunk and running again is safe.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.channels import service as channels
from siyu.channels.models import ChannelKind
from siyu.channels.wecom import errors as e
from siyu.channels.wecom.client import WeComClient
from siyu.channels.wecom.models import WeComCorpTag
from siyu.channels.wecom.schemas import ContactPage, CorpTagGroup, GroupChat
from siyu.channels.wecom.sync_state import Progress, Run, SyncMode, writing
from siyu.contacts import bulk as contacts_bulk
from siyu.core.actor import Actor
from siyu.core.clock import SYSTEM_CLOCK, Clock
from siyu.core.db import get_database, unit_of_work
from siyu.core.errors import NotFound
from siyu.core.ids import new_id
from siyu.groups import service as groups
from siyu.security.rbac import Perm, require

log = structlog.get_logger(__name__)

CONTACT_CHUNK = 10_000  # relations per unit of work on PostgreSQL
SQLITE_CONTACT_CHUNK = 1_000  # SQLite has one writer: short transactions keep others waiting less
GROUP_CHUNK = 50
END_CHUNK = 2_000
USERIDS_PER_CALL = 100  # batch/get_by_user and groupchat/list owner filters take ≤ 100
PAGE_LIMIT = 100
CHAT_PAGE = 1_000
TOO_MANY_MEMBERS = 81017  # groupchat/list without an owner filter in a corp of > 1000 members
NOT_A_GROUP = 90501  # the group is gone (dismissed) or never was a customer group


@dataclass
class SyncReport:
    """What one run did: counts, members to map, and (reconciliation) what it repaired."""

    mode: SyncMode
    run_id: str
    counts: dict[str, int]
    unmapped_members: list[str] = field(default_factory=list)
    skipped_members: list[dict[str, Any]] = field(default_factory=list)
    repairs: list[dict[str, str]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def repaired(self) -> int:
        return sum(self.counts.get(k, 0) for k in REPAIR_COUNTS)


REPAIR_COUNTS = (
    "relations_started",
    "relations_updated",
    "relations_ended",
    "groups_created",
    "groups_updated",
    "groups_dismissed",
    "tags_changed",
)


@dataclass(frozen=True)
class Target:
    """The account being synced, as read before the run (no ORM object crosses units of work)."""

    account_id: uuid.UUID
    name: str
    corp_id: str


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _open(actor: Actor, account_id: uuid.UUID, clock: Clock) -> tuple[Target, WeComClient]:
    with unit_of_work(actor) as db:
        account = channels.get_account(db, actor, account_id)
        if account.kind != ChannelKind.WECOM:
            raise NotFound(
                f"WeCom account {account_id} not found",
                hint="list accounts with GET /api/v1/channel-accounts or `siyu wecom accounts`",
            )
        target = Target(account.id, account.name, channels.wecom_config(account).corp_id)
        return target, channels.client_for(account, clock=clock)


@dataclass(frozen=True)
class TagChanges:
    listed: int
    created: int
    changed: int
    deleted: int

    @property
    def total_changed(self) -> int:
        return self.created + self.changed + self.deleted


def apply_corp_tags(
    db: Session,
    actor: Actor,
    *,
    account_id: uuid.UUID,
    tag_groups: Sequence[CorpTagGroup],
    now: datetime,
) -> TagChanges:
    """Mirror ``get_corp_tag_list`` into ``wecom_corp_tag``; tags not listed are flagged deleted."""
    require(actor, Perm.CUSTOMERS_WRITE)
    rows = {
        t.tag_id: t
        for t in db.scalars(select(WeComCorpTag).where(WeComCorpTag.account_id == account_id))
    }
    created = changed = listed = 0
    seen: set[str] = set()
    for group in tag_groups:
        for tag in group.tag:
            seen.add(tag.id)
            deleted = group.deleted or tag.deleted
            listed += 0 if deleted else 1
            values = {
                "name": tag.name[:100],
                "group_id": group.group_id,
                "group_name": group.group_name[:100],
                "sort_order": tag.order,
                "is_deleted": deleted,
            }
            row = rows.get(tag.id)
            if row is None:
                db.add(WeComCorpTag(id=new_id(), account_id=account_id, tag_id=tag.id,
                                    synced_at=now, **values))  # fmt: skip
                created += 1
                continue
            if any(getattr(row, k) != v for k, v in values.items()):
                for name, value in values.items():
                    setattr(row, name, value)
                changed += 1
            row.synced_at = now
    deleted_now = 0
    for tag_id, row in rows.items():
        if tag_id not in seen and not row.is_deleted:
            row.is_deleted, row.synced_at = True, now
            deleted_now += 1
    db.flush()
    return TagChanges(listed=listed, created=created, changed=changed, deleted=deleted_now)


def sync_corp_tags(actor: Actor, account_id: uuid.UUID, *, clock: Clock = SYSTEM_CLOCK) -> int:
    """Read the corp's tags from WeCom into the mirror; return how many tags WeCom lists.

    For the ``change_external_tag`` callback: WeCom asks to re-read the list after any change.
    """
    require(actor, Perm.CUSTOMERS_WRITE)
    target, client = _open(actor, account_id, clock)
    with client:
        tag_groups = client.get_corp_tag_list()
    with writing(actor) as db:
        changes = apply_corp_tags(
            db, actor, account_id=target.account_id, tag_groups=tag_groups, now=clock.now()
        )
    return changes.listed


def sync_group(
    actor: Actor, account_id: uuid.UUID, chat_id: str, *, clock: Clock = SYSTEM_CLOCK
) -> None:
    """Read one group from WeCom and write it (dismissed when WeCom no longer has it).

    For the ``change_external_chat`` callbacks (create, update): the event names the group only.
    """
    require(actor, Perm.CUSTOMERS_WRITE)
    target, client = _open(actor, account_id, clock)
    with client:
        try:
            chat: GroupChat | None = client.groupchat_get(chat_id)
        except e.WeComApiError as exc:
            if exc.errcode != NOT_A_GROUP:
                raise
            chat = None
    with writing(actor) as db:
        if chat is None:
            groups.dismiss_group(
                db, actor, account_id=target.account_id, chat_id=chat_id, at=clock.now()
            )
        else:
            groups.apply_group(
                db, actor, account_id=target.account_id, chat=chat, now=clock.now(),
                corp_id=target.corp_id,
            )  # fmt: skip


def run_full_sync(
    actor: Actor,
    account_id: uuid.UUID,
    *,
    clock: Clock = SYSTEM_CLOCK,
    progress: Progress | None = None,
    run_id: str | None = None,
) -> SyncReport:
    """Read everything from WeCom and write it to siyu (see the module docstring)."""
    return run_pipeline(
        actor, account_id, SyncMode.FULL, clock=clock, progress=progress, run_id=run_id
    )


def run_pipeline(
    actor: Actor,
    account_id: uuid.UUID,
    mode: SyncMode,
    *,
    clock: Clock = SYSTEM_CLOCK,
    progress: Progress | None = None,
    run_id: str | None = None,
) -> SyncReport:
    """Run the five stages in ``mode``; the run's state is kept up to date, also on failure."""
    require(actor, Perm.CUSTOMERS_WRITE)
    target, client = _open(actor, account_id, clock)
    run = Run(actor, target.account_id, mode, clock=clock, progress=progress)
    try:
        run.start(run_id)
    except BaseException:
        client.close()
        raise
    began = time.perf_counter()
    pipeline = _Pipeline(actor, target, client, run, clock)
    try:
        with client:
            pipeline.run()
    except BaseException as exc:
        run.fail(exc)
        raise
    run.finish()
    return SyncReport(
        mode=mode,
        run_id=run.run_id,
        counts=dict(run.counts),
        unmapped_members=list(run.lists.get("unmapped_members", [])),
        skipped_members=list(run.lists.get("skipped_members", [])),
        repairs=list(run.lists.get("repairs", [])),
        seconds=round(time.perf_counter() - began, 3),
    )


class _Pipeline:
    def __init__(
        self, actor: Actor, target: Target, client: WeComClient, run: Run, clock: Clock
    ) -> None:
        self.actor = actor
        self.target = target
        self.client = client
        self.run_ = run
        self.clock = clock
        self.reconcile = run.mode is SyncMode.RECONCILE
        self.started = run.started_at or clock.now()
        self.follow_users: list[str] = []
        self.readable: dict[str, list[str]] = {}  # member → customer ids WeCom listed
        self.fetched: set[str] = set()  # members whose contacts were read completely
        sqlite = get_database().engine.dialect.name == "sqlite"
        self.chunk = SQLITE_CONTACT_CHUNK if sqlite else CONTACT_CHUNK

    def run(self) -> None:
        self.members()
        self.tags()
        seen = self.contacts()
        self.relations(seen)
        self.groups()

    def repair(self, kind: str, **ids: str) -> None:
        if self.reconcile:
            self.run_.note("repairs", [{"kind": kind, **ids}])

    def members(self) -> None:
        run = self.run_
        run.step("members", 0, 0)
        self.follow_users = self.client.get_follow_user_list()
        total = len(self.follow_users)
        run.step("members", 0, total)
        with unit_of_work(self.actor) as db:
            staff = groups.staff_ids_by_userid(db, self.follow_users)
        unmapped = [u for u in self.follow_users if u not in staff]
        run.add(members=total, members_unmapped=len(unmapped))
        run.note("unmapped_members", unmapped)
        skipped = []
        for done, userid in enumerate(self.follow_users, 1):
            try:
                self.readable[userid] = self.client.list_external_contacts(userid)
            except e.WeComApiError as exc:
                if isinstance(exc, e.RateLimited | e.TokenRejected | e.CredentialsRejected):
                    raise
                skipped.append({"userid": userid, "errcode": exc.errcode})
            run.step("members", done, total)
        run.add(members_skipped=len(skipped))
        run.note("skipped_members", skipped)

    def tags(self) -> None:
        self.run_.step("tags", 0, 1)
        tag_groups = self.client.get_corp_tag_list()
        with writing(self.actor) as db:
            changes = apply_corp_tags(
                db,
                self.actor,
                account_id=self.target.account_id,
                tag_groups=tag_groups,
                now=self.clock.now(),
            )
            self.run_.add(tags=changes.listed, tags_changed=changes.total_changed)
            self.run_.save(db)
        if changes.total_changed:
            self.repair("tags_changed", count=str(changes.total_changed))
        self.run_.step("tags", 1, 1)

    def _pages(self, userids: Sequence[str]) -> Iterator[ContactPage]:
        """Every page of these members' customers; a batch WeCom refuses is read member by member,
        and a member refused alone is skipped (its relations are then left as they are)."""
        try:
            yield from self.client.iter_contacts_by_user(userids, limit=PAGE_LIMIT)
            self.fetched.update(userids)
            return
        except e.WeComApiError as exc:
            if isinstance(exc, e.RateLimited | e.TokenRejected | e.CredentialsRejected):
                raise
            if len(userids) == 1:
                self.run_.add(members_skipped=1)
                self.run_.note("skipped_members", [{"userid": userids[0], "errcode": exc.errcode}])
                return
        for userid in userids:
            yield from self._pages([userid])

    def contacts(self) -> set[contacts_bulk.Pair]:
        run = self.run_
        with_customers = [u for u, ids in self.readable.items() if ids]
        self.fetched.update(u for u, ids in self.readable.items() if not ids)
        total = sum(len(ids) for ids in self.readable.values())
        seen: set[contacts_bulk.Pair] = set()
        buffer: list[contacts_bulk.ContactItem] = []
        done = 0
        run.step("contacts", 0, total)
        for userids in _chunks(with_customers, USERIDS_PER_CALL):
            for page in self._pages(userids):
                for entry in page.external_contact_list:
                    item = contacts_bulk.ContactItem(entry.external_contact, entry.follow_info)
                    if item.pair not in seen:
                        seen.add(item.pair)
                        buffer.append(item)
                done += len(page.external_contact_list)
                if len(buffer) >= self.chunk:
                    self._write_contacts(buffer)
                    buffer = []
                run.step("contacts", done, total)
        self._write_contacts(buffer)
        run.step("contacts", done, total)
        return seen

    def _write_contacts(self, items: Sequence[contacts_bulk.ContactItem]) -> None:
        if not items:
            return
        with writing(self.actor) as db:
            applied = contacts_bulk.apply_contacts(
                db,
                self.actor,
                account_id=self.target.account_id,
                corp_id=self.target.corp_id,
                items=items,
                now=self.clock.now(),
                changes_only=self.reconcile,
            )
            self.run_.add(
                contacts=len(items),
                customers_created=applied.customers_created,
                relations_started=len(applied.started),
                relations_updated=len(applied.updated),
            )
            if self.reconcile:
                self.run_.note(
                    "repairs",
                    [{"kind": "relation_started", "userid": u, "external_userid": x}
                     for u, x in applied.started]
                    + [{"kind": "relation_updated", "userid": u, "external_userid": x}
                       for u, x in applied.updated],
                )  # fmt: skip
            self.run_.save(db)

    def relations(self, seen: set[contacts_bulk.Pair]) -> None:
        run = self.run_
        with unit_of_work(self.actor) as db:
            held = contacts_bulk.active_pairs(
                db, self.actor, account_id=self.target.account_id, untouched_since=self.started
            )
        listed = set(self.follow_users)
        unlisted = sorted({userid for userid, _ in held if userid not in listed})
        run.add(members_unlisted=len(unlisted))
        run.note("unlisted_members", unlisted)
        gone = sorted(p for p in held if p[0] in self.fetched and p not in seen)
        run.step("relations", 0, len(gone))
        done = 0
        for part in _chunks(gone, END_CHUNK):
            with writing(self.actor) as db:
                ended = contacts_bulk.end_gone(
                    db, self.actor, account_id=self.target.account_id, pairs=part,
                    at=self.clock.now(),
                )  # fmt: skip
                run.add(relations_ended=len(ended))
                if self.reconcile:
                    run.note("repairs", [{"kind": "relation_ended", "userid": u,
                                          "external_userid": x} for u, x in ended])  # fmt: skip
                run.save(db)
            done += len(part)
            run.step("relations", done, len(gone))

    def _chat_ids(self) -> tuple[list[str], set[str] | None]:
        """Every group WeCom lists, and the owners it was asked about (``None``: all owners)."""

        def paged(owners: Sequence[str]) -> list[str]:
            ids: list[str] = []
            cursor: str | None = None
            while True:
                page = self.client.groupchat_list(
                    limit=CHAT_PAGE, owner_userids=owners, cursor=cursor
                )
                ids.extend(ref.chat_id for ref in page.group_chat_list)
                if not page.next_cursor:
                    return ids
                cursor = page.next_cursor

        try:
            return paged(()), None
        except e.WeComApiError as exc:
            if exc.errcode != TOO_MANY_MEMBERS:
                raise
        ids: list[str] = []
        for owners in _chunks(self.follow_users, USERIDS_PER_CALL):
            ids.extend(paged(owners))
        return list(dict.fromkeys(ids)), set(self.follow_users)

    def groups(self) -> None:
        run = self.run_
        run.step("groups", 0, 0)
        chat_ids, owners = self._chat_ids()
        total = len(chat_ids)
        run.step("groups", 0, total)
        buffer: list[GroupChat] = []
        vanished: list[str] = []
        for done, chat_id in enumerate(chat_ids, 1):
            try:
                buffer.append(self.client.groupchat_get(chat_id))
            except e.WeComApiError as exc:
                if exc.errcode != NOT_A_GROUP:
                    raise
                vanished.append(chat_id)
            if len(buffer) >= GROUP_CHUNK:
                self._write_groups(buffer)
                buffer = []
            run.step("groups", done, total)
        self._write_groups(buffer)
        listed = set(chat_ids) - set(vanished)
        with writing(self.actor) as db:
            held = groups.active_groups(
                db, self.actor, account_id=self.target.account_id, untouched_since=self.started
            )
            dismissed = sorted(
                chat_id
                for chat_id, owner in held.items()
                if chat_id not in listed and (owners is None or owner in owners)
            )
            for chat_id in dismissed:
                groups.dismiss_group(
                    db, self.actor, account_id=self.target.account_id, chat_id=chat_id,
                    at=self.clock.now(),
                )  # fmt: skip
                self.repair("group_dismissed", chat_id=chat_id)
            run.add(groups_dismissed=len(dismissed))
            run.save(db)
        run.step("groups", total, total)

    def _write_groups(self, chats: Sequence[GroupChat]) -> None:
        if not chats:
            return
        userids = {c.owner for c in chats} | {
            m.userid for c in chats for m in c.member_list if m.type == 1
        }
        with writing(self.actor) as db:
            staff = groups.staff_ids_by_userid(db, userids)
            created = updated = 0
            for chat in chats:
                applied = groups.apply_group(
                    db, self.actor, account_id=self.target.account_id, chat=chat,
                    now=self.clock.now(), corp_id=self.target.corp_id, staff_ids=staff,
                )  # fmt: skip
                if applied.created:
                    created += 1
                    self.repair("group_created", chat_id=chat.chat_id)
                elif applied.changed:
                    updated += 1
                    self.repair("group_updated", chat_id=chat.chat_id)
            self.run_.add(groups=len(chats), groups_created=created, groups_updated=updated)
            self.run_.save(db)
