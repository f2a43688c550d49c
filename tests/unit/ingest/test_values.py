"""The vectorised cell readers agree with siyu.core.money and siyu.core.phone."""

from __future__ import annotations

import csv
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from siyu.core.errors import InvalidInput
from siyu.core.money import format_fen, parse_yuan
from siyu.core.phone import normalise_phone
from siyu.ingest import values
from tests.unit.ingest.exports import parse_all


def apply(expr: pl.Expr, texts: Sequence[str | None]) -> list[object]:
    return (
        pl.DataFrame({"t": list(texts)}, schema={"t": pl.String}).select(expr).to_series().to_list()
    )


def fen_of(texts: Sequence[str | None]) -> list[object]:
    return apply(values.amount_fen(values.clean(pl.col("t"))), texts)


def yuan_spellings(fen: int) -> list[str]:
    """The ways exports and people write an amount."""
    plain = f"{fen // 100}.{fen % 100:02d}"
    commas = format_fen(fen, symbol="")
    return [
        plain,
        format_fen(fen),  # ¥1,234.50
        format_fen(fen, symbol="￥"),
        f"{commas}元",
        f" RMB {plain} ",
        f"{fen / 100:.2f}".rstrip("0").rstrip(".") if fen % 100 else str(fen // 100),
        f"CNY{commas}",
        f"{fen // 100}.{fen % 100:02d}0",
    ]


@given(st.integers(min_value=0, max_value=10**13))
@example(0)
@example(5)
@example(123450)
def test_amount_spellings_read_back(fen: int) -> None:
    spellings = yuan_spellings(fen)

    assert fen_of(spellings) == [fen] * len(spellings)


AMOUNT_TEXT = st.text(alphabet="0123456789.,+- ¥￥元eE_RMBCNY", max_size=14)


@given(AMOUNT_TEXT)
@example("1.005")
@example("-0.005")
@example("+.5")
@example("5.")
@example(".")
@example("1_000")
@example("1e3")
@example("1E100")
def test_amount_expression_agrees_with_parse_yuan(text: str) -> None:
    [fast] = fen_of([text])
    slow = values.slow_fen(text)

    if fast is not None:
        assert fast == parse_yuan(text)
    else:
        try:
            expected: int | None = parse_yuan(text)
        except (InvalidInput, ArithmeticError):  # parse_yuan("1E100") raises InvalidOperation
            expected = None
        if expected is not None and abs(expected) < values.MAX_FEN:
            assert slow == expected  # the rare spelling the slow path reads


@given(st.lists(st.integers(min_value=0, max_value=10**11), min_size=1, max_size=30))
def test_amounts_through_a_file(fens: list[int]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "orders.csv"
        with path.open("w", encoding="utf-8", newline="") as f:
            out = csv.writer(f)
            out.writerow(["id", "paid", "at"])
            for i, fen in enumerate(fens):
                out.writerow([f"A{i}", yuan_spellings(fen)[i % 8], "2024-01-01 00:00:00"])
        mapping = {"external_id": "id", "paid": "paid", "paid_at": "at"}

        orders, _, errors = parse_all(path, source="generic", mapping=mapping)

    assert errors == []
    assert orders["paid_fen"].to_list() == fens


PHONE_TEXT = st.one_of(
    st.from_regex(r"(\+86|0086|86)?[ -]?1[3-9][0-9]{9}", fullmatch=True),
    st.text(alphabet="0123456789 -()（）+*", max_size=16),
)


@given(PHONE_TEXT)
@example("+86 138-1234-1234")
@example(" (138) 1234 1234 ")
@example("8613812341234")
@example("12812341234")
def test_phone_expression_agrees_with_normalise_phone(text: str) -> None:
    mobile, _, _ = values.phone_parts(values.clean(pl.col("t")))
    [got] = apply(mobile, [text])

    try:
        expected: str | None = normalise_phone(text)
    except InvalidInput:
        expected = None
    assert got == expected


@pytest.mark.parametrize(
    ("text", "mobile", "masked", "unreadable"),
    [
        ("13812345678", "13812345678", None, False),
        ("138****1234", None, "138****1234", False),
        ("+86 138****1234", None, "138****1234", False),
        ("1**********", None, "1**********", False),
        ("021-62345678", None, None, False),  # landline: ignored
        ("62345678", None, None, False),
        ("12345", None, None, True),
        ("call me", None, None, True),
        (None, None, None, False),
    ],
)
def test_phone_kinds(
    text: str | None, mobile: str | None, masked: str | None, unreadable: bool
) -> None:
    parts = values.phone_parts(values.clean(pl.col("t")))

    assert [apply(p, [text])[0] for p in parts] == [mobile, masked, unreadable]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('="3521000000000000001"', "3521000000000000001"),
        ("\t3521000000000000001", "3521000000000000001"),
        ("'3521000000000000001", "3521000000000000001"),
        ("  abc  ", "abc"),
        ("-", None),
        ("", None),
        ("   ", None),
        ('5" screen', '5" screen'),
    ],
)
def test_clean_removes_spreadsheet_guards(text: str, expected: str | None) -> None:
    assert apply(values.clean(pl.col("t")), [text]) == [expected]
    if expected != '5" screen':
        assert apply(values.clean_id(pl.col("t")), [text]) == [expected]


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-03-01 14:30:00", "2024-03-01 06:30:00"),
        ("2024/3/1 14:30", "2024-03-01 06:30:00"),
        ("2024.03.01", "2024-02-29 16:00:00"),
        ("2024年3月1日 14:30", "2024-03-01 06:30:00"),
        ("2024-03-01T14:30:00.500", "2024-03-01 06:30:00"),
        ("2024-02-30 00:00:00", None),
        ("2024-13-01 00:00:00", None),
        ("昨天", None),
        ("45292.5", None),
    ],
)
def test_times_in_tenant_zone_to_utc(text: str, expected: str | None) -> None:
    got = apply(values.time_utc(values.clean(pl.col("t")), "Asia/Shanghai"), [text])

    assert got == [utc(expected) if expected else None]


def test_times_across_daylight_saving() -> None:
    zone = "America/New_York"
    gap, repeated = "2024-03-10 02:30:00", "2024-11-03 01:30:00"

    got = apply(values.time_utc(pl.col("t"), zone), [gap, repeated])

    assert got == [None, utc("2024-11-03 05:30:00")]  # gap: no such time; repeat: the earlier


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("浙江省 杭州市 西湖区 文三路100号", ("浙江省", "杭州市", "西湖区")),
        ("上海 上海市 浦东新区 张江路1号 2栋", ("上海", "上海市", "浦东新区")),
        ("内蒙古自治区 呼和浩特市 新城区 x", ("内蒙古自治区", "呼和浩特市", "新城区")),
        ("浙江杭州市西湖区文三路100号", (None, None, None)),
        ("火星 基地 一区 1号", (None, None, None)),
    ],
)
def test_split_address(text: str, expected: tuple[str | None, ...]) -> None:
    frame = pl.DataFrame({"address": [text]})

    got = values.split_address(frame, "address", ["province", "city", "district"])

    assert got.select("province", "city", "district").row(0) == expected


def test_quantity_and_rounded_ids() -> None:
    assert apply(values.quantity(pl.col("t")), ["3", "3.0", "3.5", "两", "-1"]) == [
        3,
        3,
        None,
        None,
        None,
    ]
    assert apply(values.looks_rounded(pl.col("t")), ["3.52100E+18", "352100", "1E5"]) == [
        True,
        False,
        True,
    ]
