"""Row rules: duplicates, adjacency, refund logic, missing values, reading files."""

from __future__ import annotations

import codecs
import threading
from pathlib import Path

import pytest

from siyu.core.errors import FieldError, InvalidInput
from siyu.ingest import count_rows, read_orders
from tests.unit.ingest.exports import FIXTURES, parse_all, write_csv

TMALL = "订单编号,买家实际支付金额,订单状态,订单付款时间,退款金额,退款状态\n"
JD = "订单号,商品名称,订购数量,京东价,应付金额,订单状态,付款确认时间\n"


def tmall(tmp_path: Path, *rows: str) -> Path:
    return write_csv(tmp_path / "tmall.csv", TMALL + "".join(f"{r}\n" for r in rows))


def jd(tmp_path: Path, *rows: str) -> Path:
    return write_csv(tmp_path / "jd.csv", JD + "".join(f"{r}\n" for r in rows))


@pytest.mark.parametrize("batch_rows", [1, 2, 50])
def test_one_row_layout_repeated_order_is_an_error(tmp_path: Path, batch_rows: int) -> None:
    path = tmall(
        tmp_path,
        "A1,10.00,交易成功,2024-01-01 10:00:00,,",
        "A2,20.00,交易成功,2024-01-01 10:00:00,,",
        "A1,10.00,交易成功,2024-01-01 10:00:00,,",
    )

    orders, _, errors = parse_all(path, batch_rows=batch_rows)

    assert orders["external_id"].to_list() == ["A1", "A2"]  # the first one stays
    assert errors == [
        FieldError(
            "order number appears again (first at row 1): each order must appear once; "
            "remove the duplicate row",
            row=3,
            column="订单编号",
            value="A1",
        )
    ]


@pytest.mark.parametrize("batch_rows", [1, 2, 3, 50])
def test_many_row_layout_needs_adjacent_rows(tmp_path: Path, batch_rows: int) -> None:
    path = jd(
        tmp_path,
        "J1,a,1,10.00,30.00,完成,2024-01-01 10:00:00",
        "J1,b,2,10.00,30.00,完成,2024-01-01 10:00:00",
        "J2,c,1,5.00,5.00,完成,2024-01-01 11:00:00",
        "J1,d,1,1.00,30.00,完成,2024-01-01 10:00:00",
        "J1,e,1,1.00,30.00,完成,2024-01-01 10:00:00",
    )

    orders, lines, errors = parse_all(path, batch_rows=batch_rows)

    assert orders.select("external_id", "row", "paid_fen").rows() == [
        ("J1", 1, 3000),
        ("J2", 3, 500),
    ]
    assert lines["title"].to_list() == ["a", "b", "c"]
    assert errors == [
        FieldError(
            "order number appears again after other orders (its rows start at row 1): keep all "
            "rows of an order together, e.g. sort by 订单号",
            row=4,
            column="订单号",
            value="J1",
        )
    ]


def test_order_level_values_come_from_the_first_row(tmp_path: Path) -> None:
    path = jd(
        tmp_path,
        "J1,a,1,10.00,30.00,完成,2024-01-01 10:00:00",
        "J1,b,2,10.00,,,",
    )

    orders, lines, errors = parse_all(path)

    assert errors == []
    assert orders.select("paid_fen", "status").rows() == [(3000, "paid")]
    assert lines.height == 2


def test_partial_refund_needs_an_amount(tmp_path: Path) -> None:
    path = tmall(
        tmp_path,
        "A1,100.00,交易成功,2024-01-01 10:00:00,,部分退款",
        "A2,100.00,交易成功,2024-01-01 10:00:00,40,部分退款",
        "A3,100.00,交易成功,2024-01-01 10:00:00,,退款成功",
    )

    orders, _, errors = parse_all(path)

    assert orders.select("external_id", "status", "refunded_fen").rows() == [
        ("A2", "partially_refunded", 4000),
        ("A3", "refunded", 10000),  # full refund, no amount: the paid amount
    ]
    assert errors == [
        FieldError(
            "says partially refunded but gives no refund amount: fill in the refunded amount "
            "(退款金额) in yuan",
            row=1,
            column="退款状态",
            value="部分退款",
        )
    ]


def test_refund_cannot_exceed_payment_and_amounts_are_positive(tmp_path: Path) -> None:
    path = tmall(
        tmp_path,
        "A1,100.00,交易成功,2024-01-01 10:00:00,120.00,",
        "A2,-5.00,交易成功,2024-01-01 10:00:00,,",
    )

    orders, _, errors = parse_all(path)

    assert orders.is_empty()
    assert errors == [
        FieldError(
            "refund ¥120.00 is more than the ¥100.00 paid: check the refund amount",
            row=1,
            column="退款金额",
            value="120.00",
        ),
        FieldError(
            "negative amount: write a positive amount (refunds go in the refund column)",
            row=2,
            column="买家实际支付金额",
            value="-5.00",
        ),
    ]


def test_missing_values(tmp_path: Path) -> None:
    path = tmall(
        tmp_path,
        ",10.00,交易成功,2024-01-01 10:00:00,,",
        "A2,,交易成功,2024-01-01 10:00:00,,",
        "A3,10.00,交易成功,,,",
        "3.52100E+18,10.00,交易成功,2024-01-01 10:00:00,,",
        ",,,,,",
        "A4,,等待买家付款,2024-01-01 10:00:00,,",
    )

    orders, _, errors = parse_all(path)

    assert orders.select("external_id", "status", "paid_fen").rows() == [("A4", "cancelled", 0)]
    empty_amount = "amount is empty: fill in what the buyer paid, in yuan, like 129.00"
    no_time = "no payment or order time: fill in 订单付款时间 like 2024-03-01 14:30:00"
    rounded = (
        "order number was turned into a number by Excel and lost digits: "
        "export again and keep the column as text"
    )
    # row 5 is empty and skipped
    assert [(e.row, e.column, e.value, e.reason) for e in errors] == [
        (1, "订单编号", "", "order number is empty: every row needs its order number"),
        (2, "买家实际支付金额", "", empty_amount),
        (3, "订单付款时间", "", no_time),
        (4, "订单编号", "3.52100E+18", rounded),
    ]


def test_placeholders_mean_empty(tmp_path: Path) -> None:
    path = tmall(tmp_path, "A1,10.00,交易成功,2024-01-01 10:00:00,-,-")

    orders, _, errors = parse_all(path)

    assert errors == []
    assert orders.select("status", "refunded_fen").rows() == [("paid", 0)]


def test_empty_and_unreadable_files(tmp_path: Path) -> None:
    empty = write_csv(tmp_path / "empty.csv", "")
    utf16 = tmp_path / "u16.csv"
    utf16.write_bytes(codecs.BOM_UTF16_LE + "订单编号\n1\n".encode("utf-16-le"))
    junk = tmp_path / "junk.csv"
    junk.write_bytes("订单编号\n".encode() + b"\x81\x20\xff\n")

    with pytest.raises(InvalidInput, match=r"empty\.csv is empty"):
        read_orders(empty)
    with pytest.raises(InvalidInput, match="UTF-16"):
        read_orders(utf16)
    with pytest.raises(InvalidInput, match="neither UTF-8 nor GBK/GB18030"):
        read_orders(junk)
    with pytest.raises(InvalidInput, match="no such file"):
        read_orders(tmp_path / "missing.csv")


def test_header_only_file_has_no_orders(tmp_path: Path) -> None:
    orders, lines, errors = parse_all(tmall(tmp_path))

    assert (orders.height, lines.height, errors) == (0, 0, [])


def test_bad_timezone_and_batch_size() -> None:
    with pytest.raises(InvalidInput, match="unknown timezone"):
        read_orders(FIXTURES / "tmall.csv", timezone="Mars/Olympus")
    with pytest.raises(InvalidInput, match="batch_rows"):
        read_orders(FIXTURES / "tmall.csv", batch_rows=0)


@pytest.mark.parametrize(
    ("name", "rows"),
    [("tmall.csv", 8), ("tmall_gbk.csv", 8), ("tmall.xlsx", 8), ("jd.csv", 10), ("pos.csv", 6)],
)
def test_count_rows(name: str, rows: int) -> None:
    assert count_rows(FIXTURES / name) == rows


def reader_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "siyu-ingest-reader"]


def test_closing_the_stream_releases_the_file() -> None:
    stream = read_orders(FIXTURES / "jd.csv", batch_rows=1)
    next(stream)

    stream.close()  # type: ignore[attr-defined]

    assert reader_threads() == []
    with pytest.raises(StopIteration):
        next(stream)


def test_exhausted_stream_releases_the_file() -> None:
    list(read_orders(FIXTURES / "tmall_gbk.csv"))

    assert reader_threads() == []


def test_generic_is_one_row_per_order_unless_it_maps_lines(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "g.csv",
        "no,amount,at,item\nG1,10.00,2024-01-01 10:00:00,a\nG1,10.00,2024-01-01 10:00:00,b\n",
    )
    mapping = {"external_id": "no", "paid": "amount", "paid_at": "at"}

    orders, _, errors = parse_all(path, source="generic", mapping=mapping)
    assert orders.height == 1
    assert [(e.row, e.column) for e in errors] == [(2, "no")]  # a repeated order

    orders, lines, errors = parse_all(path, source="generic", mapping={**mapping, "title": "item"})
    assert errors == []
    assert orders.select("external_id", "paid_fen").rows() == [("G1", 1000)]
    assert lines["title"].to_list() == ["a", "b"]
