"""Recognising a file's platform by its headers; missing and unknown columns."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from siyu.core.errors import FieldError, InvalidInput
from siyu.ingest import FORMATS, UnknownFormat, detect_source, read_orders
from siyu.ingest.formats import FIELDS, fold, resolve
from siyu.orders.models import OrderSource
from tests.unit.ingest.exports import FIXTURES, parse_all, write_csv


def headers(name: str) -> list[str]:
    return pl.read_csv(FIXTURES / name, infer_schema=False, n_rows=0).columns


@pytest.mark.parametrize(
    ("name", "source"),
    [
        ("tmall.csv", "tmall"),
        ("tmall_bom.csv", "tmall"),
        ("jd.csv", None),  # GBK: read through read_orders below
        ("pdd.csv", "pdd"),
        ("douyin.csv", "douyin"),
        ("pos.csv", "pos"),
        ("generic.csv", None),
    ],
)
def test_detect_source_from_headers(name: str, source: str | None) -> None:
    if name == "jd.csv":
        columns = pl.read_csv(FIXTURES / name, infer_schema=False, n_rows=0, encoding="gbk").columns
        assert detect_source(columns) == "jd"
        return
    assert detect_source(headers(name)) == source


def test_sources_are_order_sources() -> None:
    assert set(FORMATS) - {"generic"} <= {s.value for s in OrderSource}


def test_detected_file_reads_without_a_source() -> None:
    orders, _, _ = parse_all(FIXTURES / "jd.csv")

    assert orders.height == 5


def test_headers_match_despite_width_spaces_and_case() -> None:
    assert fold("商品总价（元）") == fold("商品总价(元)")
    assert fold(" 收货地址 ") == fold("收货地址")
    assert fold("Order_No") == fold("order_no")
    pdd = [h.replace("(元)", "（元）") for h in headers("pdd.csv")]

    assert detect_source(pdd) == "pdd"


def test_synonym_headers_from_other_years(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "old.csv",
        "订单编号,买家昵称,买家实付金额,订单状态,付款时间\n"
        "1001,tb_a,12.00,交易成功,2024-01-01 08:00:00\n",
    )

    orders, _, errors = parse_all(path, source="tmall")

    assert errors == []
    assert orders.select("external_id", "buyer_id", "paid_fen").row(0) == ("1001", "tb_a", 1200)


def test_unknown_format_lists_headers_and_expectations(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "x.csv", "name,amount,when\na,1,2024-01-01\n")

    with pytest.raises(UnknownFormat) as info:
        read_orders(path)

    error = info.value
    assert isinstance(error, InvalidInput)
    assert "name, amount, when" in error.detail
    assert error.hint is not None
    assert "tmall: 订单编号, 买家实际支付金额, 订单状态, 订单付款时间 or 订单创建时间" in error.hint
    assert "generic" in error.hint


def test_missing_required_columns_named(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "x.csv", "订单编号,买家会员名\n1,a\n")

    with pytest.raises(InvalidInput) as info:
        read_orders(path, source="tmall")

    error = info.value
    assert error.detail == (
        "Tmall/Taobao 订单报表 file is missing required columns: "
        "买家实际支付金额; 订单状态; 订单付款时间 or 订单创建时间"
    )
    assert error.errors[0] == FieldError("required column missing", column="买家实际支付金额")
    assert "订单编号, 买家会员名" in (error.hint or "")


def test_unknown_source_and_generic_without_mapping() -> None:
    with pytest.raises(InvalidInput, match="unknown order source 'taobao'"):
        read_orders(FIXTURES / "tmall.csv", source="taobao")
    with pytest.raises(InvalidInput, match="needs a column mapping"):
        read_orders(FIXTURES / "generic.csv", source="generic")


def test_mapping_errors() -> None:
    with pytest.raises(InvalidInput, match="unknown fields in the column mapping: total"):
        read_orders(FIXTURES / "generic.csv", source="generic", mapping={"total": "Paid (CNY)"})
    with pytest.raises(InvalidInput, match="headers this file does not have: Amount"):
        read_orders(
            FIXTURES / "generic.csv",
            source="generic",
            mapping={"external_id": "Order ID", "paid": "Amount", "paid_at": "Paid time"},
        )
    with pytest.raises(InvalidInput, match="missing required columns: paid") as info:
        read_orders(
            FIXTURES / "generic.csv",
            source="generic",
            mapping={"external_id": "Order ID", "paid_at": "Paid time"},
        )
    assert "map these fields" in (info.value.hint or "")


def test_mapping_overrides_a_platform_header(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "x.csv",
        "订单编号,实收,订单状态,订单付款时间\n1001,12.00,交易成功,2024-01-01 08:00:00\n",
    )

    orders, _, _ = parse_all(path, source="tmall", mapping={"paid": "实收"})

    assert orders["paid_fen"].to_list() == [1200]


def test_every_format_names_known_fields() -> None:
    for fmt in FORMATS.values():
        assert set(fmt.columns) <= set(FIELDS)
        assert {n for group in fmt.required for n in group} <= set(FIELDS)


def test_resolve_reports_present_headers_in_file_spelling() -> None:
    resolved = resolve(FORMATS["tmall"], headers("tmall.csv"))

    assert resolved.header("address") == "收货地址 "
    assert resolved.header("paid_at") == "订单付款时间 "
    assert resolved.header("email") is None
