from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from siyu.core.errors import InvalidInput
from siyu.core.money import format_fen, parse_yuan
from siyu.core.phone import is_masked_phone, mask_name, mask_phone, normalise_phone


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("13812341234", "13812341234"),
        ("+86 138-1234-1234", "13812341234"),
        ("0086 13812341234", "13812341234"),
        ("8613812341234", "13812341234"),
        (" (138) 1234 1234 ", "13812341234"),
    ],
)
def test_normalise_phone(raw: str, expected: str) -> None:
    assert normalise_phone(raw) == expected


@pytest.mark.parametrize(
    "raw", ["138****1234", "12812341234", "1381234123", "abc", "", "+1 415 555 0100"]
)
def test_normalise_phone_rejects(raw: str) -> None:
    with pytest.raises(InvalidInput) as info:
        normalise_phone(raw)
    assert info.value.hint


@given(st.from_regex(r"1[3-9]\d{9}", fullmatch=True))
def test_phone_round_trip_and_mask(phone: str) -> None:
    assert normalise_phone(f"+86 {phone[:3]}-{phone[3:7]}-{phone[7:]}") == phone
    masked = mask_phone(phone)
    assert is_masked_phone(masked)
    assert masked[:3] == phone[:3]
    assert masked[-4:] == phone[-4:]


def test_mask_name() -> None:
    assert mask_name("张") == "张"
    assert mask_name("张三") == "张*"
    assert mask_name("欧阳娜娜") == "欧**娜"


@pytest.mark.parametrize(
    ("text", "fen"),
    [("¥1,234.50", 123450), ("1234.5", 123450), ("0.005", 1), ("￥ 12 元", 1200), ("-3.20", -320)],
)
def test_parse_yuan(text: str, fen: int) -> None:
    assert parse_yuan(text) == fen


@pytest.mark.parametrize("text", ["", "abc", "1.2.3", "NaN", "Infinity", "1E100"])
def test_parse_yuan_rejects(text: str) -> None:
    with pytest.raises(InvalidInput):
        parse_yuan(text)


@given(st.integers(min_value=-(10**12), max_value=10**12))
def test_format_parse_round_trip(fen: int) -> None:
    assert parse_yuan(format_fen(fen)) == fen
