"""Each platform's sample export parses to the expected orders, lines and row errors."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from siyu.core.errors import FieldError
from siyu.ingest import LINE_COLUMNS, ORDER_COLUMNS
from tests.fixtures.orders.make_fixtures import GENERIC_MAPPING
from tests.unit.ingest.exports import FIXTURES, parse_all

KEYS = ["row", "external_id", "status", "paid_fen", "refunded_fen", "paid_at", "refunded_at"]


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def rows(frame: pl.DataFrame, columns: list[str]) -> list[dict[str, Any]]:
    return frame.select(columns).rows(named=True)


def order(
    row: int,
    external_id: str,
    status: str,
    paid: int,
    refunded: int,
    paid_at: str,
    refunded_at: str | None = None,
) -> dict[str, Any]:
    return {
        "row": row,
        "external_id": external_id,
        "status": status,
        "paid_fen": paid,
        "refunded_fen": refunded,
        "paid_at": utc(paid_at),
        "refunded_at": utc(refunded_at) if refunded_at else None,
    }


TMALL_ORDERS = [
    order(1, "3521000000000000001", "paid", 25800, 0, "2024-03-01 02:00:00"),
    order(2, "3521000000000000002", "paid", 129900, 0, "2024-03-01 04:00:30"),
    order(3, "3521000000000000003", "partially_refunded", 10700, 3000, "2024-03-02 00:05:00"),
    order(4, "3521000000000000004", "refunded", 15900, 15900, "2024-03-03 12:01:00"),
    # closed and unpaid orders are kept as cancelled, dated by their creation time
    order(5, "3521000000000000005", "cancelled", 0, 0, "2024-03-04 03:00:00"),
    order(6, "3521000000000000006", "cancelled", 0, 0, "2024-03-05 15:30:00"),
    order(8, "3521000000000000008", "paid", 8800, 0, "2024-03-07 01:05:00"),
]


def test_tmall_orders_amounts_times_statuses() -> None:
    orders, _, _ = parse_all(FIXTURES / "tmall.csv")

    assert rows(orders, KEYS) == TMALL_ORDERS
    assert dict(orders.schema) == dict(ORDER_COLUMNS)


def test_tmall_phones_masked_apart_and_address_split() -> None:
    orders, _, _ = parse_all(FIXTURES / "tmall.csv")

    got = rows(orders, ["phone", "phone_masked", "province", "city", "district", "buyer_id"])
    assert got[0] == {
        "phone": "13812345678",
        "phone_masked": None,
        "province": "浙江省",
        "city": "杭州市",
        "district": "西湖区",
        "buyer_id": "tb_alice",
    }
    assert (got[1]["phone"], got[1]["phone_masked"]) == (None, "139****5678")
    assert (got[4]["phone"], got[4]["phone_masked"]) == (None, "135****0005")
    assert got[6]["phone"] == "13800138000"  # "+86 138 0013 8000"
    assert orders["address"][0] == "浙江省 杭州市 西湖区 文三路100号"
    assert orders["receiver_name"].to_list()[:2] == ["张伟", "李娜"]


def test_tmall_lines_from_item_columns() -> None:
    _, lines, _ = parse_all(FIXTURES / "tmall.csv")

    assert dict(lines.schema) == dict(LINE_COLUMNS)
    assert lines.row(0, named=True) == {
        "external_id": "3521000000000000001",
        "sku": "SKU-A1",
        "title": "玻尿酸保湿面霜 50g",
        "quantity": 2,
        "unit_price_fen": 12900,
        "amount_fen": 25800,
    }
    assert lines.height == 7


def test_tmall_malformed_row() -> None:
    _, _, errors = parse_all(FIXTURES / "tmall.csv")

    assert errors == [
        FieldError(
            "not an amount: write yuan like 129.00 or ¥1,234.50",
            row=7,
            column="买家实际支付金额",
            value="12.3.4",
        )
    ]


@pytest.mark.parametrize("name", ["tmall_gbk.csv", "tmall_bom.csv", "tmall.xlsx"])
def test_encodings_and_xlsx_read_the_same(name: str) -> None:
    expected = parse_all(FIXTURES / "tmall.csv")
    got = parse_all(FIXTURES / name)

    assert_frame_equal(got[0], expected[0])
    assert_frame_equal(got[1], expected[1])
    assert got[2] == expected[2]


def test_jd_groups_item_rows_into_orders() -> None:
    orders, lines, errors = parse_all(FIXTURES / "jd.csv")

    assert rows(orders, KEYS) == [
        order(1, "280000000001", "paid", 35700, 0, "2024-04-01 02:00:20"),
        order(3, "280000000002", "paid", 9900, 0, "2024-04-02 01:01:00"),
        order(4, "280000000003", "cancelled", 0, 0, "2024-04-03 01:00:00"),
        # 已取消 after 付款确认时间: the payment went back
        order(8, "280000000005", "refunded", 18900, 18900, "2024-04-05 01:00:40"),
        order(9, "280000000006", "paid", 16800, 0, "2024-04-06 13:00:10"),
    ]
    assert orders["phone"].to_list() == [
        "13812345678",
        None,  # landline 021-62345678: not a mobile, not an error
        "18600001111",
        "13500000005",
        "13600000006",
    ]
    assert lines.filter(pl.col("external_id") == "280000000001").rows() == [
        ("280000000001", "HH-01", "保湿面霜 50g", 1, 19900, 19900),
        ("280000000001", "100012", "洁面乳 120g", 2, 7900, 15800),  # no 货号: 商品ID
    ]
    assert "280000000004" not in lines["external_id"].to_list()  # bad order: no lines either
    assert errors == [
        FieldError(
            "not a quantity: write a whole number of at least 1",
            row=6,
            column="订购数量",
            value="两",
        )
    ]


def test_pdd_refund_statuses() -> None:
    orders, lines, errors = parse_all(FIXTURES / "pdd.csv")

    assert rows(orders, KEYS) == [
        order(1, "240401-123456789012345", "paid", 11900, 0, "2024-04-01 02:00:00"),
        order(2, "240402-123456789012345", "refunded", 9900, 9900, "2024-04-02 03:00:00"),
        # 退款中: the refund has not happened
        order(3, "240403-123456789012345", "paid", 15000, 0, "2024-04-03 04:00:00"),
        # refund only in the order status: 未发货，退款成功
        order(4, "240404-123456789012345", "refunded", 7900, 7900, "2024-04-04 05:00:00"),
    ]
    assert orders["phone"][0] == "13812345678"  # tab guard removed
    assert rows(orders, ["province", "city", "district", "address"])[0] == {
        "province": "浙江省",
        "city": "杭州市",
        "district": "西湖区",
        "address": "文三路100号",
    }
    assert lines.row(2) == ("240403-123456789012345", "PDD-C3", "洁面乳 120g", 2, 7900, 15800)
    assert errors == [
        FieldError(
            "not a date and time: write it like 2024-03-01 14:30:00 (local time)",
            row=5,
            column="支付时间",
            value="2024-13-05 14:00:00",
        )
    ]


def test_douyin_sums_sub_orders() -> None:
    orders, lines, errors = parse_all(FIXTURES / "douyin.csv")

    assert rows(orders, KEYS) == [
        order(1, "6920000000000000001", "paid", 22800, 0, "2024-05-01 12:00:30"),
        # one of two sub-orders refunded
        order(3, "6920000000000000002", "partially_refunded", 49800, 9900, "2024-05-02 13:01:00"),
        order(5, "6920000000000000003", "cancelled", 0, 0, "2024-05-03 00:00:00"),
        order(8, "6920000000000000005", "refunded", 12900, 12900, "2024-05-05 04:00:09"),
    ]
    assert orders["phone_masked"][0] == "138****5678"
    assert lines.filter(pl.col("external_id") == "6920000000000000001").rows() == [
        ("6920000000000000001", "DY-A1", "保湿面霜 50g", 1, 12900, 12900),
        ("6920000000000000001", "DY-B2", "面膜 10片", 2, 4950, 9900),
    ]
    # one header feeds paid and line amount: the bad cell is reported once
    assert errors == [
        FieldError(
            "not an amount: write yuan like 129.00 or ¥1,234.50",
            row=6,
            column="订单应付金额",
            value="¥abc",
        )
    ]
    assert "6920000000000000004" not in orders["external_id"].to_list()


def test_pos_store_staff_member() -> None:
    orders, lines, errors = parse_all(FIXTURES / "pos.csv")

    assert rows(orders, KEYS) == [
        order(1, "P20240601-0001", "paid", 39800, 0, "2024-06-01 06:00:00"),
        order(
            3,
            "P20240601-0002",
            "partially_refunded",
            25900,
            5000,
            "2024-06-01 07:30:00",
            "2024-06-03 02:00:00",
        ),
        order(
            4,
            "P20240601-0003",
            "refunded",
            9900,
            9900,
            "2024-06-01 08:00:00",
            "2024-06-02 01:00:00",
        ),
        order(6, "P20240601-0005", "paid", 12900, 0, "2024-06-02 02:00:00"),
    ]
    assert rows(orders, ["store_code", "staff_code", "member_no", "phone"])[0] == {
        "store_code": "SH001",
        "staff_code": "10086",
        "member_no": "M000123",
        "phone": "13800001111",
    }
    assert lines.height == 5
    assert errors == [
        FieldError(
            "not a date and time: write it like 2024-03-01 14:30:00 (local time)",
            row=5,
            column="交易时间",
            value="昨天下午",
        )
    ]


def test_generic_mapping() -> None:
    orders, lines, errors = parse_all(
        FIXTURES / "generic.csv", source="generic", mapping=GENERIC_MAPPING
    )

    assert rows(orders, [*KEYS, "phone", "receiver_name", "email", "store_code"]) == [
        {
            **order(1, "W-1001", "paid", 12800, 0, "2024-07-01 02:00:00"),
            "phone": "13800001111",
            "receiver_name": "Zhang Wei",
            "email": "zw@example.com",
            "store_code": "SH001",
        },
        {
            **order(2, "W-1002", "paid", 204850, 0, "2024-07-01 03:00:00"),
            "phone": None,
            "receiver_name": "Li Na",
            "email": None,
            "store_code": "SH002",
        },
    ]
    assert lines.is_empty()
    assert errors == [
        FieldError(
            "not an e-mail address: write it like name@example.com, or leave it empty",
            row=3,
            column="Email",
            value="wang.fang-at-example",
        )
    ]


@pytest.mark.parametrize("name", ["jd.csv", "douyin.csv", "pos.csv", "tmall.csv"])
@pytest.mark.parametrize("batch_rows", [1, 2, 3])
def test_small_batches_never_split_an_order(name: str, batch_rows: int) -> None:
    whole = parse_all(FIXTURES / name, batch_rows=10_000)

    got = parse_all(FIXTURES / name, batch_rows=batch_rows)

    assert_frame_equal(got[0], whole[0])
    assert_frame_equal(got[1], whole[1])
    assert got[2] == whole[2]


def test_timezone_parameter() -> None:
    orders, _, _ = parse_all(FIXTURES / "tmall.csv", timezone="UTC")

    assert orders["paid_at"][0] == utc("2024-03-01 10:00:00")
