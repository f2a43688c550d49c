"""Vectorised readers for cell text: spreadsheet text guards, amounts, times, phones, counts.

Each reader is a Polars expression that yields the value, or null where the text cannot be read;
the caller turns "text present, value null" into a row error. Most come in two speeds: a cheap
``*_fast`` expression that reads the common spelling straight from the raw cell, and a thorough
one (``clean`` plus a regular expression) that ``rows`` runs only on the cells the fast one left
unread, or on a batch's distinct values. Python runs only for the rare amounts the pattern leaves
unread (``slow_fen``), so every amount ends up exactly as ``siyu.core.money.parse_yuan`` reads it;
``tests/unit/ingest/test_values.py`` holds the expressions to ``parse_yuan`` and
``siyu.core.phone.normalise_phone`` with Hypothesis.
"""

from __future__ import annotations

import polars as pl

from siyu.core.errors import InvalidInput
from siyu.core.money import parse_yuan

PLACEHOLDERS = ("-", "--", "—", "/", "null", "NULL", "None", "N/A", "n/a", "#N/A")
"""Cell texts that mean "empty" in platform exports (Douyin writes ``-`` for none)."""

MAX_FEN = 10**17
"""Largest amount accepted, in fen (a billion billion yuan is an error, not an order)."""

TIME_FORMAT = "%Y-%m-%d %H:%M:%S"

_PROVINCES = [
    *("北京市", "天津市", "上海市", "重庆市", "河北省", "山西省", "辽宁省", "吉林省", "黑龙江省"),
    *("江苏省", "浙江省", "安徽省", "福建省", "江西省", "山东省", "河南省", "湖北省", "湖南省"),
    *("广东省", "海南省", "四川省", "贵州省", "云南省", "陕西省", "甘肃省", "青海省", "台湾省"),
    *("内蒙古自治区", "广西壮族自治区", "西藏自治区", "宁夏回族自治区", "新疆维吾尔自治区"),
    *("香港特别行政区", "澳门特别行政区"),
]
PROVINCES = tuple(
    sorted(
        {
            *_PROVINCES,
            *(p.removesuffix("省").removesuffix("市") for p in _PROVINCES),
            *("内蒙古", "广西", "西藏", "宁夏", "新疆", "香港", "澳门"),
        }
    )
)
"""Province names as addresses start with them, full (浙江省) and short (浙江, 上海)."""

# The same characters siyu.core.money removes before reading a number.
_AMOUNT_JUNK = r"(?i)[¥￥,，\s]|RMB|CNY|元"
_AMOUNT = r"^([+-]?)([0-9]{0,15})(?:\.([0-9]*))?$"
_TIME = (
    r"^([0-9]{4})[-/.年]([0-9]{1,2})[-/.月]([0-9]{1,2})日?"
    r"(?:[ T]+([0-9]{1,2})[:：]([0-9]{1,2})(?:[:：]([0-9]{1,2})(?:\.[0-9]{1,9})?)?)?$"
)
_PHONE_JUNK = r"[\s\-()（）]"
_ID_JUNK = " \t\r\n\u3000\xa0'=\""
_MOBILE = r"^1[3-9][0-9]{9}$"
_MASKED = r"^1[3-9][0-9]\*{4}[0-9]{4}$"


def clean(text: pl.Expr) -> pl.Expr:
    """Return the cell text without spreadsheet guards and padding; empty and ``-`` become null.

    Exports protect long numbers from Excel as ``="123456789012345678"``, with a leading
    apostrophe, or with a leading tab; all three are removed.
    """
    s = text.str.strip_chars()
    guarded = s.str.starts_with('="') & s.str.ends_with('"') & (s.str.len_bytes() >= 3)
    s = pl.when(guarded).then(s.str.slice(2).str.strip_suffix('"')).otherwise(s)
    s = s.str.strip_prefix("'").str.strip_chars()
    return pl.when(s.is_in(PLACEHOLDERS) | (s.str.len_bytes() == 0)).then(None).otherwise(s)


def clean_id(text: pl.Expr) -> pl.Expr:
    """Return an identifier without guards or padding (the cheap ``clean`` for code-like text).

    Strips whitespace, ``'``, ``=`` and ``"`` from both ends in one pass, which removes every
    Excel guard; identifiers (order numbers, codes, openids) never begin or end with those.
    """
    s = text.str.strip_chars(_ID_JUNK)
    return pl.when(s.is_in(PLACEHOLDERS) | (s.str.len_bytes() == 0)).then(None).otherwise(s)


def clean_text(text: pl.Expr) -> pl.Expr:
    """Return free text without padding; empty and ``-`` become null (no guard removal)."""
    s = text.str.strip_chars()
    return pl.when(s.is_in(PLACEHOLDERS) | (s.str.len_bytes() == 0)).then(None).otherwise(s)


def amount_fen(text: pl.Expr) -> pl.Expr:
    """Return integer fen for yuan text such as ``¥1,234.50`` or ``129元``, else null.

    Rounds half away from zero to the fen, like ``parse_yuan``. Handles the plain decimal forms
    exports write; other spellings parse_yuan accepts (``1e3``) come back null for ``slow_fen``.
    """
    s = text.str.replace_all(_AMOUNT_JUNK, "")
    parts = s.str.extract_groups(_AMOUNT)
    sign, whole, frac = (parts.struct.field(n) for n in ("1", "2", "3"))
    frac = frac.fill_null("")
    yuan = pl.concat_str(pl.lit("0"), whole).cast(pl.Int64, strict=False)
    cents = pl.concat_str(frac, pl.lit("00")).str.slice(0, 2).cast(pl.Int64, strict=False)
    half_up = (frac.str.slice(2, 1) >= "5").cast(pl.Int64)
    magnitude = yuan * 100 + cents + half_up
    has_digit = s.str.contains("[0-9]")
    value = pl.when(sign == "-").then(-magnitude).otherwise(magnitude)
    return pl.when(has_digit).then(value).otherwise(None)


def slow_fen(text: str) -> int | None:
    """Return fen for ``text`` via ``parse_yuan`` (the rare spellings), or None if unreadable."""
    try:
        fen = parse_yuan(text)
    except (InvalidInput, ArithmeticError):  # parse_yuan("1E100") overflows Decimal's quantize
        return None
    return fen if abs(fen) < MAX_FEN else None


def time_fast(raw: pl.Expr, timezone: str) -> pl.Expr:
    """Return aware UTC for raw ``2024-03-01 14:30:00`` local text, else null (see ``time_utc``)."""
    return _to_utc(raw.str.strptime(pl.Datetime("us"), TIME_FORMAT, strict=False), timezone)


def time_utc(text: pl.Expr, timezone: str) -> pl.Expr:
    """Return aware UTC for local wall-clock text in ``timezone``, else null.

    Accepts ``2024-03-01 14:30:00``, ``2024/3/1 14:30``, ``2024.03.01``, ``2024年3月1日 14:30``,
    ISO ``T`` and fractional seconds (dropped). Times that do not exist in the zone (a DST gap)
    are null; repeated ones (DST end) take the earlier instant.
    """
    parts = text.str.extract_groups(_TIME)
    y, mo, d, h, mi, s = (parts.struct.field(str(i)) for i in range(1, 7))
    stamp = pl.format(
        "{}-{}-{} {}:{}:{}",
        y,
        mo.str.zfill(2),
        d.str.zfill(2),
        h.fill_null("0").str.zfill(2),
        mi.fill_null("0").str.zfill(2),
        s.fill_null("0").str.zfill(2),
    )
    return _to_utc(stamp.str.strptime(pl.Datetime("us"), TIME_FORMAT, strict=False), timezone)


def phone_fast(raw: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """Return (mobile, masked) for raw cells already written as ``13812345678``/``138****1234``."""
    return pl.when(raw.str.contains(_MOBILE)).then(raw), pl.when(raw.str.contains(_MASKED)).then(
        raw
    )


def phone_parts(text: pl.Expr) -> tuple[pl.Expr, pl.Expr, pl.Expr]:
    """Return (mobile, masked, unreadable) for cleaned phone text.

    ``mobile`` is the 11-digit number exactly as ``siyu.core.phone.normalise_phone`` returns it;
    ``masked`` keeps masked text such as ``138****1234`` (never a phone); landlines such as
    ``021-12345678`` are neither and not an error; anything else is ``unreadable``.
    """
    s = text.str.replace_all(_PHONE_JUNK, "")
    s = s.str.replace(r"^(?:\+86|0086|86)([0-9*]{11})$", "${1}")
    mobile = pl.when(s.str.contains(_MOBILE)).then(s)
    is_masked = s.str.contains(r"^[0-9*]*\*[0-9*]*$") & s.str.contains("[0-9]")
    masked = pl.when(mobile.is_null() & is_masked).then(s)
    landline = s.str.contains(r"^(?:0[1-9][0-9]{1,2})?[2-9][0-9]{6,7}(?:(?:转|ext|#)[0-9]+)?$")
    unreadable = text.is_not_null() & mobile.is_null() & masked.is_null() & ~landline
    return mobile, masked, unreadable


def quantity(text: pl.Expr) -> pl.Expr:
    """Return a whole count (``3`` or Excel's ``3.0``), else null."""
    whole = text.str.extract(r"^([0-9]{1,9})(?:\.0*)?$", 1)
    return whole.cast(pl.Int64, strict=False)


def is_email(text: pl.Expr) -> pl.Expr:
    """Return whether text looks like an e-mail address (one @, a dot in the domain)."""
    return text.str.contains(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def looks_rounded(text: pl.Expr) -> pl.Expr:
    """Return whether an id was turned into a number by Excel (``1.23457E+17``): digits lost."""
    return text.str.contains(r"^[0-9](?:\.[0-9]+)?[eE]\+?[0-9]+$")


def split_address(df: pl.DataFrame, column: str, wanted: list[str]) -> pl.DataFrame:
    """Add ``wanted`` of province/city/district from ``浙江省 杭州市 西湖区 文三路 1 号``.

    Only when the address starts with a province name and has four space-separated parts;
    otherwise null. (Built in steps: Polars would otherwise split the text once per use.)
    """
    if not wanted:
        return df
    df = df.with_columns(pl.col(column).str.splitn(" ", 4).alias("__parts"))
    part = [pl.col("__parts").struct.field(f"field_{i}") for i in range(4)]
    ok = (
        part[0].is_in(PROVINCES)
        & (part[1].str.len_bytes() > 0)
        & (part[2].str.len_bytes() > 0)
        & part[3].is_not_null()
    )
    df = df.with_columns(ok.alias("__ok"))
    names = ("province", "city", "district")
    return df.with_columns(
        pl.when(pl.col("__ok")).then(part[i]).alias(n) for i, n in enumerate(names) if n in wanted
    ).drop("__parts", "__ok")


def _to_utc(local: pl.Expr, timezone: str) -> pl.Expr:
    aware = local.dt.replace_time_zone(timezone, ambiguous="earliest", non_existent="null")
    return aware.dt.convert_time_zone("UTC")
