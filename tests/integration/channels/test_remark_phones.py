"""Phones guides note on a WeCom contact (``remark_mobiles``) join OneID, on every path.

A Tmall buyer imported from a file, a WeCom contact added on the fake (callbacks into siyu's
route), and the guide noting the buyer's phone on the contact: the edit callback, a full sync
and a reconciliation each leave one customer with the orders, the relation and the WeCom
identities, joined by a logged, undoable merge. Placeholders, a phone noted on more contacts
than the fan-out limit, and entries that are no mainland mobile join nobody.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from structlog.testing import capture_logs

from siyu.acquisition.schemas import CodeRead
from siyu.channels import service as channels
from siyu.channels.wecom import reconcile, sync
from siyu.channels.wecom.fake.state import FakeState
from siyu.contacts import service as contacts
from siyu.contacts.models import ContactRelation
from siyu.contacts.remark_phones import MASKED, NOT_MAINLAND
from siyu.core.actor import Actor
from siyu.core.db import unit_of_work
from siyu.customers import service as customers
from siyu.events.models import Event
from siyu.identity import service as identity
from siyu.identity.keys import KeyKind, make_key
from siyu.identity.models import JunkKey, JunkStatus
from siyu.ingest.orders import import_orders
from siyu.orders.models import Order
from tests.integration.channels.conftest import GUIDE1, Inbound
from tests.integration.channels.test_wecom_inbound import make_code
from tests.integration.sync.conftest import GUIDE1 as SYNC_GUIDE
from tests.integration.sync.conftest import Corp, make_corp

PHONE = "15967382014"
OTHER_PHONE = "15967382015"
TMALL_HEADER = (
    "订单编号,买家会员名,买家支付宝账号,买家应付货款,买家应付邮费,总金额,买家实际支付金额,"
    "订单状态,买家留言,收货人姓名,收货地址 ,运送方式,联系电话,联系手机,订单创建时间,"
    "订单付款时间 ,宝贝标题,宝贝种类,宝贝总数量,商家编码,订单关闭原因,退款金额"
)


def tmall_buyer(actor: Actor, tmp_path: Path, phone: str, buyer: str = "tb_zoe") -> uuid.UUID:
    """Import a one-order Tmall export of ``buyer`` with ``phone``; return the buyer's customer."""
    row = (
        f"35299{abs(hash(buyer)) % 10**12:012d},{buyer},,258.00,0.00,258.00,258.00,交易成功,,"
        f"周敏,浙江省 杭州市 西湖区 文三路1号,快递,,{phone},2024-03-01 09:59:00,"
        "2024-03-01 10:00:00,玻尿酸保湿面霜 50g,1,1,SKU-A1,,0.00"
    )
    path = tmp_path / f"{buyer}.csv"
    path.write_text(f"{TMALL_HEADER}\n{row}\n", encoding="utf-8")
    with unit_of_work(actor) as db:
        summary = import_orders(db, actor, path, source="tmall")
        assert summary.inserted == 1, summary.errors
        key = make_key(KeyKind.PHONE, phone)
        return identity.customers_with_keys(db, actor, [key])[key]


def customer_of(actor: Actor, userid: str, external_userid: str) -> uuid.UUID:
    with unit_of_work(actor) as db:
        found = db.scalar(
            select(ContactRelation.customer_id).where(
                ContactRelation.wecom_userid == userid,
                ContactRelation.external_userid == external_userid,
            )
        )
        assert found is not None
        return found


def active_customers(actor: Actor) -> int:
    with unit_of_work(actor) as db:
        return customers.count_customers(db, actor)


def junk_phone(actor: Actor, phone: str) -> JunkKey | None:
    key = make_key(KeyKind.PHONE, phone)
    with unit_of_work(actor) as db:
        found = db.scalar(
            select(JunkKey).where(
                JunkKey.kind == "phone", JunkKey.key_hash == key.hash(actor.tenant_id)
            )
        )
        if found is not None:
            db.expunge(found)
        return found


def assert_joined(actor: Actor, buyer_id: uuid.UUID, userid: str, external_userid: str) -> None:
    """One customer holds the Tmall order, the relation and the WeCom and Tmall identities."""
    assert customer_of(actor, userid, external_userid) == buyer_id
    with unit_of_work(actor) as db:
        orders = db.scalars(select(Order.customer_id).where(Order.source == "tmall")).all()
        assert orders == [buyer_id]
        kinds = {(i.kind, i.value) for i in identity.list_identities(db, actor, buyer_id)}
        assert {("external_userid", external_userid), ("phone", PHONE)} <= kinds
        assert "buyer" in {k for k, _ in kinds}
        assert "unionid" in {k for k, _ in kinds}


def note(inbound: Inbound | Corp, userid: str, external_userid: str, phones: list[str]) -> None:
    """The guide edits the contact in the WeCom client, noting ``phones``."""
    inbound.do(
        "follows/edit",
        {"userid": userid, "external_userid": external_userid, "remark_mobiles": phones},
    )


def scan(inbound: Inbound, code: CodeRead, name: str) -> str:
    """A customer scans the code and adds the guide (``add_external_contact``)."""
    assert code.config_id is not None
    added = inbound.do(f"contact_ways/{code.config_id}/scan", {"name": name})
    return str(added["external_userid"])


def without_unionid(state: FakeState, external_userid: str) -> None:
    """WeCom gives no unionid when the corp has no WeChat open platform account bound."""
    with state.lock:
        state.customers[external_userid].unionid = None


def test_edit_callback_noting_a_buyers_phone_joins_the_contact_with_the_buyer(
    inbound: Inbound, tmp_path: Path
) -> None:
    admin = inbound.admin
    buyer_id = tmall_buyer(admin, tmp_path, PHONE)
    code = make_code(inbound, staff_userids=[GUIDE1], is_rotating=False, welcome=None)
    external = scan(inbound, code, "Zoe")
    contact_id = customer_of(admin, GUIDE1, external)
    assert contact_id != buyer_id
    assert active_customers(admin) == 2

    note(inbound, GUIDE1, external, [f"+86 {PHONE[:3]} {PHONE[3:7]} {PHONE[7:]}"])

    assert active_customers(admin) == 1
    assert_joined(admin, buyer_id, GUIDE1, external)
    with unit_of_work(admin) as db:
        (merge,) = identity.merge_history(db, admin, buyer_id)
        assert (merge.survivor_id, merge.merged_id) == (buyer_id, contact_id)
        assert merge.method == "deterministic"
        assert merge.evidence["rule"] == "shared strong key"
        assert merge.evidence["source"] == "wecom"
        assert merge.undone_at is None
        merge_id = merge.id
    shown = inbound.api.get(f"/api/v1/customers/{buyer_id}/identities", headers=inbound.headers)
    assert shown.status_code == 200, shown.text
    sources = {(i["kind"], i["source"]) for i in shown.json()}
    assert {("phone", "tmall"), ("external_userid", "wecom"), ("unionid", "wecom")} <= sources

    # taking the phone off the remark undoes nothing: only an operator's unmerge does
    note(inbound, GUIDE1, external, [])
    assert active_customers(admin) == 1
    assert customer_of(admin, GUIDE1, external) == buyer_id
    with unit_of_work(admin) as db:
        identity.unmerge(db, admin, merge_id)
    assert customer_of(admin, GUIDE1, external) == contact_id
    # noting it again does not redo a merge an operator undid
    note(inbound, GUIDE1, external, [PHONE])
    assert active_customers(admin) == 2
    assert customer_of(admin, GUIDE1, external) == contact_id


def test_a_phone_nobody_had_is_a_wecom_identity_and_bad_entries_are_skipped_and_logged(
    inbound: Inbound,
) -> None:
    admin = inbound.admin
    code = make_code(inbound, staff_userids=[GUIDE1], is_rotating=False, welcome=None)
    external = scan(inbound, code, "Yan")
    with capture_logs() as logs:
        note(inbound, GUIDE1, external, ["12345", "138****1234", "+1 4155550100", OTHER_PHONE])
    customer_id = customer_of(admin, GUIDE1, external)
    assert active_customers(admin) == 1
    with unit_of_work(admin) as db:
        phones = [i for i in identity.list_identities(db, admin, customer_id) if i.kind == "phone"]
        assert [(i.value, i.source) for i in phones] == [(OTHER_PHONE, "wecom")]
        relation = contacts.find_relation(
            db, account_id=inbound.account_id, wecom_userid=GUIDE1, external_userid=external
        )
        assert relation is not None
        relation_id = relation.id
    (skipped,) = [e for e in logs if e["event"] == "wecom_remark_phone_skipped"]
    assert skipped["relation_id"] == str(relation_id)
    assert skipped["reasons"] == [NOT_MAINLAND, MASKED, NOT_MAINLAND]
    text = repr(logs)
    assert "4155550100" not in text
    assert OTHER_PHONE not in text
    assert "12345" not in text


def test_a_placeholder_phone_is_flagged_and_joins_nobody(inbound: Inbound, tmp_path: Path) -> None:
    admin = inbound.admin
    code = make_code(inbound, staff_userids=[GUIDE1], is_rotating=False, welcome=None)
    first, second = scan(inbound, code, "A"), scan(inbound, code, "B")
    note(inbound, GUIDE1, first, ["13800138000"])
    note(inbound, GUIDE1, second, ["13800138000"])
    assert active_customers(admin) == 2
    assert customer_of(admin, GUIDE1, first) != customer_of(admin, GUIDE1, second)
    junk = junk_phone(admin, "13800138000")
    assert junk is not None
    assert junk.status == JunkStatus.FLAGGED
    assert junk.hit_count == 2
    with unit_of_work(admin) as db:
        for external in (first, second):
            ids = identity.list_identities(db, admin, customer_of(admin, GUIDE1, external))
            assert "phone" not in {i.kind for i in ids}


def test_a_phone_noted_on_more_contacts_than_the_fanout_limit_is_flagged(
    inbound: Inbound, tmp_path: Path
) -> None:
    """The store's phone typed on contact after contact (without unionids, so only the
    external_userids tell the people apart): from the contact past the limit on, it links
    nobody and waits in the junk-key review."""
    admin = inbound.admin
    store_phone = "15900001234"
    buyer_id = tmall_buyer(admin, tmp_path, store_phone)
    code = make_code(inbound, staff_userids=[GUIDE1], is_rotating=False, welcome=None)
    externals = [scan(inbound, code, f"C{i}") for i in range(5)]
    for external in externals:
        without_unionid(inbound.fake.state, external)
    limit = identity.DEFAULT_FANOUT_LIMIT
    for external in externals[:limit]:
        note(inbound, GUIDE1, external, [store_phone])
        assert junk_phone(admin, store_phone) is None
    assert {customer_of(admin, GUIDE1, x) for x in externals[:limit]} == {buyer_id}

    for external in externals[limit:]:
        note(inbound, GUIDE1, external, [store_phone])
    junk = junk_phone(admin, store_phone)
    assert junk is not None
    assert junk.status == JunkStatus.FLAGGED
    assert "more than 3 distinct people" in junk.reason
    assert junk.hit_count == len(externals) - limit
    rest = {customer_of(admin, GUIDE1, x) for x in externals[limit:]}
    assert buyer_id not in rest
    assert len(rest) == len(externals) - limit
    assert active_customers(admin) == 1 + len(externals) - limit


# --- full sync and reconciliation ---------------------------------------------------------


@pytest.fixture
def quiet_corp(client: TestClient) -> Iterator[Corp]:
    """A fake corp whose callbacks reach siyu's route (a test may tell it to drop some)."""
    yield from make_corp(client)


def channel_actor(corp: Corp) -> Actor:
    return channels.channel_actor(corp.world.tenant_id, "Asia/Shanghai", "main")


def test_full_sync_joins_a_contact_whose_remark_notes_a_buyers_phone(
    quiet_corp: Corp, tmp_path: Path
) -> None:
    corp, admin = quiet_corp, quiet_corp.admin
    buyer_id = tmall_buyer(admin, tmp_path, PHONE)
    kept, noted_on = corp.seed(SYNC_GUIDE, 2)
    sync.run_full_sync(channel_actor(corp), corp.account_id)
    contact_id = customer_of(admin, SYNC_GUIDE, noted_on)
    assert active_customers(admin) == 3

    corp.do("callbacks/drop", {"count": 1})
    note(corp, SYNC_GUIDE, noted_on, [PHONE, "not a phone"])
    assert customer_of(admin, SYNC_GUIDE, noted_on) == contact_id  # the callback was lost
    sync.run_full_sync(channel_actor(corp), corp.account_id)

    assert active_customers(admin) == 2
    assert_joined(admin, buyer_id, SYNC_GUIDE, noted_on)
    assert customer_of(admin, SYNC_GUIDE, kept) not in (buyer_id, contact_id)
    with unit_of_work(admin) as db:
        (merge,) = identity.merge_history(db, admin, buyer_id)
        assert (merge.survivor_id, merge.merged_id) == (buyer_id, contact_id)
        assert merge.undone_at is None
        assert merge.evidence["source"] == "wecom"


def test_full_sync_does_not_join_contacts_crowding_one_phone(
    quiet_corp: Corp, tmp_path: Path
) -> None:
    corp, admin = quiet_corp, quiet_corp.admin
    store_phone = "15900004321"
    buyer_id = tmall_buyer(admin, tmp_path, store_phone)
    externals = corp.seed(SYNC_GUIDE, identity.DEFAULT_FANOUT_LIMIT + 1)
    corp.do("callbacks/drop", {"count": len(externals)})
    for external in externals:
        without_unionid(corp.fake.state, external)
        note(corp, SYNC_GUIDE, external, [store_phone])
    sync.run_full_sync(channel_actor(corp), corp.account_id)

    found = {customer_of(admin, SYNC_GUIDE, x) for x in externals}
    assert len(found) == len(externals)
    assert buyer_id not in found
    junk = junk_phone(admin, store_phone)
    assert junk is not None
    assert junk.status == JunkStatus.FLAGGED
    assert junk.hit_count == len(externals)


def test_reconciliation_repairs_a_lost_edit_that_noted_a_buyers_phone(
    quiet_corp: Corp, tmp_path: Path
) -> None:
    corp, admin = quiet_corp, quiet_corp.admin
    actor = channel_actor(corp)
    buyer_id = tmall_buyer(admin, tmp_path, PHONE)
    (external,) = corp.seed(SYNC_GUIDE, 1)
    sync.run_full_sync(actor, corp.account_id)
    contact_id = customer_of(admin, SYNC_GUIDE, external)

    corp.do("callbacks/drop", {"count": 1})
    note(corp, SYNC_GUIDE, external, [PHONE])
    report = reconcile.reconcile_account(actor, corp.account_id)

    assert report.counts["relations_updated"] == 1
    assert {"kind": "relation_updated", "userid": SYNC_GUIDE, "external_userid": external} in (
        report.repairs
    )
    assert active_customers(admin) == 1
    assert_joined(admin, buyer_id, SYNC_GUIDE, external)
    with unit_of_work(admin) as db:
        (merge,) = identity.merge_history(db, admin, buyer_id)
        assert merge.merged_id == contact_id
        edited = db.scalar(select(func.count()).where(Event.type == "wecom.contact_edited"))
        assert edited == 1

    # nothing left to repair: the phone is the customer's now
    again = reconcile.reconcile_account(actor, corp.account_id)
    assert again.counts.get("relations_updated", 0) == 0
    assert again.repaired == 0
