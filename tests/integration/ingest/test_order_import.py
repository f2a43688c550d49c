"""Order import end to end: fixtures → customers via OneID → orders, idempotent, abort/skip."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from siyu.core.actor import Actor
from siyu.core.db import Database, unit_of_work
from siyu.customers import service as customers
from siyu.events.models import Event
from siyu.identity import bulk as identity_bulk
from siyu.identity import service as identity
from siyu.identity.keys import KeyKind, make_key
from siyu.identity.models import Evidence, Identity
from siyu.ingest import orders as order_import
from siyu.ingest.orders import ImportAborted, OnError, import_orders
from siyu.orders import service as orders
from siyu.orders.models import Order
from tests.factories import auth, bare_tenant, make_world

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "orders"


def counts(actor: Actor) -> tuple[int, int, int]:
    with unit_of_work(actor) as db:
        return (
            db.scalar(select(func.count()).select_from(Order)) or 0,
            db.scalar(select(func.count()).select_from(Event)) or 0,
            customers.count_customers(db, actor),
        )


@pytest.mark.parametrize(
    ("name", "source", "orders_in_file"),
    [
        ("tmall.csv", "tmall", 7),
        ("tmall_gbk.csv", "tmall", 7),
        ("tmall_bom.csv", "tmall", 7),
        ("tmall.xlsx", "tmall", 7),
        ("jd.csv", "jd", 5),
        ("pdd.csv", "pdd", 4),
        ("douyin.csv", "douyin", 4),
        ("pos.csv", "pos", 4),
    ],
)
def test_each_platform_imports_and_reimport_is_a_no_op(
    database: Database, name: str, source: str, orders_in_file: int
) -> None:
    actor = bare_tenant()
    with unit_of_work(actor) as db:
        first = import_orders(db, actor, FIXTURES / name)
    assert first.source == source
    assert first.inserted == orders_in_file
    assert len(first.errors) == 1  # every fixture carries one malformed row
    error = first.errors[0]
    assert error.row
    assert error.column
    assert error.value is not None
    assert error.reason
    assert first.skipped == 1
    before = counts(actor)
    with unit_of_work(actor) as db:
        again = import_orders(db, actor, FIXTURES / name)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, orders_in_file)
    assert (again.customers_created, again.customers_matched) == (0, 0)
    assert counts(actor) == before
    with unit_of_work(actor) as db:
        nets = [o.paid_fen - o.refunded_fen for o in db.scalars(select(Order))]
    assert all(n >= 0 for n in nets)


def test_abort_writes_nothing(database: Database) -> None:
    actor = bare_tenant()
    with pytest.raises(ImportAborted) as info, unit_of_work(actor) as db:
        import_orders(db, actor, FIXTURES / "tmall.csv", on_error=OnError.ABORT)
    summary = info.value.summary
    assert summary.aborted
    assert summary.inserted == 0
    assert summary.rows == 8
    assert summary.errors[0].row == 7
    assert summary.errors[0].column == "买家实际支付金额"
    assert "nothing was imported" in info.value.detail
    assert counts(actor) == (0, 0, 0)


def test_masked_phone_never_becomes_a_key_and_refunds_are_netted(database: Database) -> None:
    actor = bare_tenant()
    with unit_of_work(actor) as db:
        import_orders(db, actor, FIXTURES / "tmall.csv")
        statuses = {o.status for o in db.scalars(select(Order))}
        assert {"paid", "refunded", "partially_refunded"} <= statuses
        kinds = set(db.scalars(select(func.distinct(Identity.kind))))
        assert "phone" in kinds
        assert "buyer" in kinds
        for ident in db.scalars(select(Identity).where(Identity.kind == "phone")):
            assert "*" not in ident.value


def test_tmall_buyer_then_wecom_then_miniprogram_is_one_customer(database: Database) -> None:
    """Acceptance: Tmall phone P, WeCom add with P and unionid U, mini-program order with U."""
    actor = bare_tenant()
    with unit_of_work(actor) as db:
        import_orders(db, actor, FIXTURES / "tmall.csv")
        owners = identity.customers_with_keys(db, actor, [make_key(KeyKind.PHONE, "18600001111")])
        tmall_customer = next(iter(owners.values()))
        wecom = identity.resolve(
            db,
            actor,
            source="wecom",
            keys=[
                make_key(KeyKind.UNIONID, "oU-zhangwei"),
                make_key(KeyKind.PHONE, "18600001111"),
                make_key(KeyKind.EXTERNAL_USERID, "wmZW01"),
            ],
        )
        mini = identity.resolve(
            db,
            actor,
            source="miniprogram",
            keys=[
                make_key(KeyKind.UNIONID, "oU-zhangwei"),
                make_key(KeyKind.OPENID, "oMP-zw", "wxmini"),
            ],
        )
        assert tmall_customer == wecom.customer_id == mini.customer_id
        assert orders.customer_summary(db, actor, tmall_customer).order_count >= 1


def test_upload_through_the_api(client) -> None:
    w = make_world("upload")
    h = auth(w.users["admin"])
    with (FIXTURES / "jd.csv").open("rb") as fh:
        r = client.post("/api/v1/imports/orders", headers=h, files={"file": ("jd.csv", fh)})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["source"], body["inserted"], body["skipped"]) == ("jd", 5, 1)
    assert body["errors"][0]["column"] == "订购数量"
    with (FIXTURES / "pdd.csv").open("rb") as fh:
        aborted = client.post(
            "/api/v1/imports/orders",
            headers=h,
            files={"file": ("pdd.csv", fh)},
            data={"on_error": "abort"},
        )
    assert aborted.status_code == 422
    problem = aborted.json()
    assert problem["errors"][0]["row"] == 5
    assert "nothing was imported" in problem["detail"]
    guide = auth(w.users["guide1"])
    with (FIXTURES / "jd.csv").open("rb") as fh:
        denied = client.post(
            "/api/v1/imports/orders", headers=guide, files={"file": ("jd.csv", fh)}
        )
    assert denied.status_code == 403


@pytest.mark.parametrize("name", ["tmall.csv", "jd.csv", "pdd.csv", "douyin.csv"])
def test_evidence_is_the_same_whatever_the_batch_size(database: Database, name: str) -> None:
    """Batches drop the evidence earlier batches stored (kept by the import, not read back):
    one row per customer and receiver block, as in one batch."""

    def evidence_per_customer(batch_rows: int) -> list[int]:
        actor = bare_tenant()
        with unit_of_work(actor) as db:
            import_orders(db, actor, FIXTURES / name, batch_rows=batch_rows)
        with unit_of_work(actor) as db:
            per_customer = select(Evidence.customer_id, func.count()).group_by(Evidence.customer_id)
            return sorted(n for _, n in db.execute(per_customer))

    whole = evidence_per_customer(10_000)
    assert whole  # the fixture's receiver blocks are evidence
    assert evidence_per_customer(1) == whole


TMALL_HEADER = (
    "订单编号,买家会员名,买家支付宝账号,买家应付货款,买家应付邮费,总金额,买家实际支付金额,订单状态,"
    "买家留言,收货人姓名,收货地址 ,运送方式,联系电话,联系手机,订单创建时间,订单付款时间 ,宝贝标题,"
    "宝贝种类,宝贝总数量,商家编码,订单关闭原因,退款金额"
)


def tmall_file(path: Path, rows: list[tuple[str, str, str, str, str]]) -> Path:
    """A Tmall export of (order id, buyer, receiver, address, mobile) rows, paid, one line each."""
    lines = [TMALL_HEADER]
    for order_id, buyer, receiver, address, mobile in rows:
        lines.append(
            f"{order_id},{buyer},,10.00,0.00,10.00,10.00,交易成功,,{receiver},{address},快递,,"
            f"{mobile},2024-03-01 09:00:00,2024-03-01 09:01:00,面霜,1,1,SKU-1,,0.00"
        )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("kept", [None, 1])
def test_evidence_of_known_customers_keeps_new_blocks_and_skips_stored_ones(
    database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kept: int | None
) -> None:
    """A later import (or a later batch) offers blocks its customers have and blocks they do not:
    the new ones are stored, the stored ones stay single, whether the customer came from an
    earlier import, from this one, or was merged by it; also once the import stops keeping what
    it stored and created (``kept``: its limits)."""
    if kept is not None:
        monkeypatch.setattr(order_import, "_EVIDENCE_KEPT", kept)
        monkeypatch.setattr(identity_bulk, "_FILLED_LIMIT", kept)
        monkeypatch.setattr(identity_bulk, "_OWNERS_LIMIT", kept)
    home, office = "浙江省 杭州市 西湖区 文三路100号", "上海 上海市 浦东新区 张江路1号"
    first = tmall_file(
        tmp_path / "first.csv",
        [
            ("3521000000000000001", "tb_alice", "张伟", home, "13857461290"),
            ("3521000000000000002", "tb_bob", "李娜", office, "139****5678"),
            ("3521000000000000003", "tb_carol", "王芳", home, "13911112222"),
        ],
    )
    later = tmall_file(
        tmp_path / "later.csv",
        [
            ("3521000000000000011", "tb_alice", "张伟", home, "13857461290"),  # stored
            ("3521000000000000012", "tb_alice", "张伟", office, "13857461290"),  # new block
            ("3521000000000000013", "tb_bob", "李娜", office, "139****5678"),  # stored
            ("3521000000000000014", "tb_dan", "赵磊", home, "13700001111"),  # new customer
            ("3521000000000000015", "tb_dan", "赵磊", home, "13700001111"),  # same, next batch
            ("3521000000000000016", "tb_dan", "赵磊", office, "13700001111"),
            # carol's phone under a new buyer id: one customer; her block is stored already
            ("3521000000000000017", "tb_carol2", "王芳", home, "13911112222"),
            # dan's buyer id with alice's phone bridges the two: merged in this batch
            ("3521000000000000018", "tb_dan", "赵磊", office, "13857461290"),
        ],
    )
    for batch_rows in (1, 2, 100):
        again = bare_tenant()
        with unit_of_work(again) as db:
            import_orders(db, again, first, batch_rows=batch_rows)
            import_orders(db, again, later, batch_rows=batch_rows)
            evidence = db.execute(
                select(Evidence.customer_id, Evidence.fingerprint, func.count())
                .group_by(Evidence.customer_id, Evidence.fingerprint)
                .having(func.count() > 1)
            ).all()
            assert evidence == []  # one row per customer and block
            addresses = [tuple(r) for r in db.execute(select(Evidence.name, Evidence.address))]
            assert customers.count_customers(db, again) == 3  # alice and dan merged
        # alice: home and office; bob: office; carol: home; dan: home and office (alice's
        # office block and dan's office block meet in the merge: one of them stays behind)
        assert sorted(set(addresses)) == sorted(
            {("张伟", home), ("张伟", office), ("李娜", office), ("王芳", home),
             ("赵磊", home), ("赵磊", office)}
        ), batch_rows  # fmt: skip
