"""Probabilistic record linkage: merge proposals for customers that share only weak evidence.

Deterministic OneID resolution unions records that share a strong key (unionid, phone, buyer id…).
What is left are customers whose records agree only on weak evidence: a masked phone such as
``138****1234``, a receiver name, an address. :func:`propose_pairs` scores them with a
Fellegi-Sunter model (Splink on an in-memory DuckDB) and returns customer pairs that are probably
the same person, each with a match probability and per-field evidence, for the human review queue.
Whether a proposal is auto-accepted is the caller's decision.

The model is trained on the records it is given: the prior from the profile's deterministic rules,
u probabilities by seeded random sampling, m probabilities by expectation maximisation over the
training rules. Comparisons, blocking and field preparation form a :class:`LinkageProfile`:
:data:`SIYU_PROFILE` (Chinese customer data) is the default; :data:`FEBRL_PROFILE` serves the FEBRL
benchmark (``bench/linkage_febrl.py``).

Pure: no siyu database, no network. The same records and config give the same proposals.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

import duckdb
import polars as pl
import splink.comparison_level_library as cll
import splink.comparison_library as cl
import structlog
from splink import DuckDBAPI, Linker, SettingsCreator, block_on
from splink.blocking_rule_library import And, CustomRule

from siyu.core.errors import InvalidInput

if TYPE_CHECKING:  # Splink's level base class is internal; only annotations need it
    from splink.internals.comparison_level_creator import ComparisonLevelCreator

log = structlog.get_logger(__name__)

# Splink reports through the standard logging tree (and so through structlog); INFO is chatter.
logging.getLogger("splink").setLevel(logging.WARNING)

LinkType = Literal["dedupe_only", "link_only", "link_and_dedupe"]
LevelKind = Literal["exact", "jaro_winkler", "levenshtein", "one_char_edit", "swapped", "sql"]

_ONE_CHAR_EDIT_SQL = "siyu_one_char_edit"  # DuckDB function backed by within_one_char_edit()


# --- Model specification ------------------------------------------------------------------------


@dataclass(frozen=True)
class Level:
    """One comparison level above the implicit ``else``; ``label`` is what a reviewer sees.

    DuckDB's string distances count UTF-8 bytes, so ``jaro_winkler`` and ``levenshtein`` suit Latin
    text and digits; ``one_char_edit`` (one character substituted, inserted, deleted or swapped
    with its neighbour, the longer string having at least ``min_length`` characters) is the
    character-aware level for Chinese names. ``edit_distance`` is plain Levenshtein (a
    transposition costs 2): DuckDB's Damerau variant is about 7x slower. ``sql`` is a Splink
    condition over ``<column>_l`` / ``<column>_r``.
    """

    kind: LevelKind
    threshold: float = 0.0
    column: str | None = None  # default: the comparison's column
    other: str | None = None  # swapped: the column the value may have landed in
    name: str | None = None  # overrides the derived label
    sql: str | None = None

    @classmethod
    def exact(cls, *, column: str | None = None, name: str | None = None) -> Level:
        return cls("exact", column=column, name=name)

    @classmethod
    def jaro_winkler(cls, at_least: float) -> Level:
        return cls("jaro_winkler", threshold=at_least)

    @classmethod
    def edit_distance(cls, at_most: int) -> Level:
        return cls("levenshtein", threshold=at_most)

    @classmethod
    def one_char_edit(cls, *, min_length: int = 0) -> Level:
        return cls("one_char_edit", threshold=min_length)

    @classmethod
    def condition(cls, sql: str, *, name: str) -> Level:
        return cls("sql", sql=sql, name=name)

    @classmethod
    def swapped(cls, other: str) -> Level:
        return cls("swapped", other=other)

    @property
    def label(self) -> str:
        if self.name:
            return self.name
        if self.kind == "jaro_winkler":
            return f"jaro_winkler>={self.threshold:g}"
        if self.kind == "levenshtein":
            return f"levenshtein<={self.threshold:g}"
        if self.kind == "swapped":
            return f"swapped_with_{self.other}"
        return self.kind


@dataclass(frozen=True)
class FieldComparison:
    """How one field is compared: ``null``, then ``levels`` strongest first, then ``else``.

    ``field`` names the comparison in :attr:`Proposal.evidence`; ``column`` is the prepared column
    read (default: ``field``); a pair is ``null`` when ``null_column`` (default: ``column``) is
    missing on either side. ``term_frequency`` scales the exact level by how common the value is
    (two records agreeing on 张伟 say less than two agreeing on 欧阳娜娜).
    """

    field: str
    levels: tuple[Level, ...]
    column: str | None = None
    null_column: str | None = None
    term_frequency: bool = False

    @property
    def source(self) -> str:
        return self.column or self.field

    def evidence_labels(self) -> dict[int, str]:
        """Splink's comparison vector value (``gamma_<field>``) → level label."""
        top = len(self.levels)
        labels = {-1: "null", 0: "else"}
        labels.update({top - i: level.label for i, level in enumerate(self.levels)})
        return labels


@dataclass(frozen=True)
class Veto:
    """Never propose a record pair whose ``field`` reached ``label``, unless it also reached one
    of the ``(field, label)`` levels in ``unless`` (evidence about the person, not the household).
    """

    field: str
    label: str
    unless: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class LinkageProfile:
    """Comparisons, blocking and field preparation for one kind of data.

    ``prepare`` maps the input frame (every ``input_columns`` present, possibly all null) to the
    prepared columns the comparisons and rules read, and only those. A rule is a tuple of prepared
    columns that must all be equal and not null. ``blocking_rules`` are OR'd to make the candidate
    pairs (their union bounds recall); ``training_rules`` are the EM sessions (a session cannot
    train the fields of its own rule, so together they must cover every comparison);
    ``deterministic_rules`` estimate the prior, assumed to find ``deterministic_recall`` of the
    true matches. ``vetoes`` drop record pairs whatever their score: Fellegi-Sunter treats fields
    as independent evidence, so a household (one phone, one address, two names) scores like one
    person.
    """

    name: str
    input_columns: tuple[str, ...]
    prepare: Callable[[pl.DataFrame], pl.DataFrame]
    comparisons: tuple[FieldComparison, ...]
    blocking_rules: tuple[tuple[str, ...], ...]
    training_rules: tuple[tuple[str, ...], ...]
    deterministic_rules: tuple[tuple[str, ...], ...]
    deterministic_recall: float = 0.7
    vetoes: tuple[Veto, ...] = ()


# --- Profile: Chinese customer data -------------------------------------------------------------

# 广西壮族自治区 → 广西, 北京市 → 北京, 浦东新区 → 浦东新; two characters stay (沙市 is kept).
_REGION_SUFFIX = (
    r"^(.{2,}?)"
    r"(特别行政区|维吾尔自治区|壮族自治区|回族自治区|自治区|自治州|地区|省|市|区|盟)$"
)
# A leading "[中国]<province>省<city>市" in an address; districts stay (阳光小区 is not one).
_ADDRESS_PREFIX = (
    r"^(中国)?([^省市区县]{2,8}?(省|自治区|特别行政区)|(北京|天津|上海|重庆)市)?"
    r"([^省市区县]{2,4}市|[^省市区县]{2,12}?(自治州|地区|盟))?"
)
_MOBILE = r"^(?:\+86|0086|86)?(1[3-9]\d[\d*]{4}\d{4})$"
# 张先生, 王女士, 李总 → the surname; masked names (张**) lose their stars the same way.
_HONORIFIC = r"^(.+?)(先生|女士|小姐|太太|老师|同学|师傅|经理|阿姨|总)$"


def _non_empty(expr: pl.Expr) -> pl.Expr:
    return pl.when(expr.str.len_chars() > 0).then(expr)


def _text(column: str) -> pl.Expr:
    """NFKC (full-width → half-width), all whitespace removed, lower case; empty → null."""
    text = pl.col(column).cast(pl.String).str.normalize("NFKC")
    return _non_empty(text.str.replace_all(r"\s+", "").str.to_lowercase())


def _region(expr: pl.Expr) -> pl.Expr:
    return expr.str.replace(_REGION_SUFFIX, "$1")


def _birth_date(column: str) -> pl.Expr:
    """``1990-1-2``, ``1990/01/02``, ``1990年1月2日``, ``19900102`` or a date → ``19900102``."""
    text, pattern = _text(column), r"^(\d{4})\D?(\d{1,2})\D?(\d{1,2})"
    parts = [text.str.extract(pattern, i).str.zfill(2) for i in (1, 2, 3)]
    return pl.concat_str(parts)


def prepare_siyu(frame: pl.DataFrame) -> pl.DataFrame:
    """Normalise Chinese customer fields and derive the keys :data:`SIYU_PROFILE` reads."""
    phone = _text("phone_masked").str.replace_all(r"[()]", "").str.replace_all(r"[x×]", "*")
    address = _text("address").str.replace_all(r"\p{P}", "").str.replace(_ADDRESS_PREFIX, "")
    prepared = frame.select(
        name=_non_empty(
            _text("name").str.replace_all(r"[·•・.\-_'’*]", "").str.replace(_HONORIFIC, "$1")
        ),
        province=_region(_text("province")),
        city=_region(_text("city")),
        phone_prefix3=phone.str.extract(_MOBILE, 1).str.slice(0, 3),
        phone_suffix4=pl.coalesce(
            phone.str.extract(r"(\d{4})$", 1), _text("phone_last4").str.extract(r"(\d{4})$", 1)
        ),
        address=address,
        postcode=_non_empty(_text("postcode").str.replace_all(r"\D", "")),
        birth_date=_birth_date("birth_date"),
        email_local=_non_empty(_text("email_local").str.extract(r"^([^@]*)", 1)),
    )
    # An address may still open with its own province or city written without the suffix.
    address = pl.col("address")
    for prefix in ("province", "city"):
        address = address.str.strip_prefix(pl.col(prefix).fill_null(""))
    return prepared.with_columns(
        address=_non_empty(address),
        name_initial=pl.col("name").str.slice(0, 1),
        phone_key=pl.concat_str("phone_prefix3", "phone_suffix4"),
        region=pl.coalesce("city", "province"),
    ).drop("phone_prefix3")


SIYU_PROFILE = LinkageProfile(
    name="siyu",
    input_columns=(
        "name",
        "phone_masked",
        "phone_last4",
        "province",
        "city",
        "address",
        "postcode",
        "birth_date",
        "email_local",
    ),
    prepare=prepare_siyu,
    comparisons=(
        # A one-character difference means little in a two-character name (张伟 / 张强);
        # a bare surname (张先生, 张**) agrees with any name starting with it.
        FieldComparison(
            "name",
            (
                Level.exact(),
                Level.one_char_edit(min_length=3),
                Level.condition(
                    'substr("name_l", 1, 1) = substr("name_r", 1, 1) '
                    'AND least(length("name_l"), length("name_r")) = 1',
                    name="surname_only",
                ),
            ),
            term_frequency=True,
        ),
        # 138****1234 and 13812341234 agree on prefix + last 4; a bare last 4 still counts.
        FieldComparison(
            "phone_masked",
            (Level.exact(), Level.exact(column="phone_suffix4", name="last4")),
            column="phone_key",
            null_column="phone_suffix4",
        ),
        # One comparison for city and province: the city implies the province, and comparing
        # both would count living in the same place twice.
        FieldComparison(
            "city",
            (Level.exact(), Level.exact(column="province", name="same_province")),
            null_column="region",
            term_frequency=True,
        ),
        FieldComparison("address", (Level.exact(), *map(Level.jaro_winkler, (0.95, 0.85)))),
        FieldComparison("postcode", (Level.exact(),)),
        FieldComparison("birth_date", (Level.exact(), Level.edit_distance(1))),
        FieldComparison("email_local", (Level.exact(), Level.edit_distance(1))),
    ),
    blocking_rules=(
        ("phone_key",),
        ("name", "region"),
        ("name", "phone_suffix4"),
        ("postcode", "name_initial"),
        ("address", "name_initial"),
        ("birth_date", "name_initial"),
        ("email_local",),
    ),
    training_rules=(("phone_key",), ("name", "region")),
    deterministic_rules=(("phone_key", "name"), ("name", "address")),
    deterministic_recall=0.6,
    vetoes=(Veto("name", "else", unless=(("birth_date", "exact"), ("email_local", "exact"))),),
)


# --- Profile: FEBRL (synthetic Australian person records) ---------------------------------------

_FEBRL_COLUMNS = (
    "given_name",
    "surname",
    "street_number",
    "address_1",
    "address_2",
    "suburb",
    "postcode",
    "state",
    "date_of_birth",
    "soc_sec_id",
)


def prepare_febrl(frame: pl.DataFrame) -> pl.DataFrame:
    """Trim and lower-case FEBRL fields; derive an order-free name key and initials."""
    given, surname = pl.col("given_name"), pl.col("surname")
    return frame.select(**{column: _text(column) for column in _FEBRL_COLUMNS}).with_columns(
        name_key=pl.when(given <= surname)
        .then(pl.concat_str(given, surname, separator="|"))
        .otherwise(pl.concat_str(surname, given, separator="|")),
        given_initial=given.str.slice(0, 1),
        surname_initial=surname.str.slice(0, 1),
    )


def _person_name(other: str) -> tuple[Level, ...]:
    return (Level.exact(), Level.swapped(other), *map(Level.jaro_winkler, (0.92, 0.8)))


FEBRL_PROFILE = LinkageProfile(
    name="febrl",
    input_columns=_FEBRL_COLUMNS,
    prepare=prepare_febrl,
    comparisons=(
        FieldComparison("given_name", _person_name("surname"), term_frequency=True),
        FieldComparison("surname", _person_name("given_name"), term_frequency=True),
        FieldComparison("date_of_birth", (Level.exact(), *map(Level.edit_distance, (1, 2)))),
        FieldComparison("soc_sec_id", (Level.exact(), *map(Level.edit_distance, (1, 2)))),
        FieldComparison("street_number", (Level.exact(),), term_frequency=True),
        FieldComparison("address_1", (Level.exact(), *map(Level.jaro_winkler, (0.9, 0.8)))),
        FieldComparison("address_2", (Level.exact(), *map(Level.jaro_winkler, (0.9, 0.8)))),
        FieldComparison("suburb", (Level.exact(), Level.jaro_winkler(0.9)), term_frequency=True),
        FieldComparison("postcode", (Level.exact(), Level.edit_distance(1)), term_frequency=True),
        FieldComparison("state", (Level.exact(),)),
    ),
    blocking_rules=(
        ("soc_sec_id",),
        ("name_key",),  # given name and surname, in either order
        ("date_of_birth",),
        ("postcode", "surname_initial"),
        ("suburb", "given_initial"),
        ("street_number", "address_1"),
    ),
    training_rules=(("date_of_birth",), ("postcode", "surname_initial")),
    deterministic_rules=(("soc_sec_id",), ("name_key", "date_of_birth")),
    deterministic_recall=0.8,
)


# --- Configuration and result -------------------------------------------------------------------


@dataclass(frozen=True)
class LinkageConfig:
    """How :func:`propose_pairs` trains and filters.

    - ``threshold`` (0.9): least match probability proposed. The review queue sees pairs the model
      puts at 9:1 or better; auto-accept, if any, is a higher bar the caller sets.
    - ``profile`` (:data:`SIYU_PROFILE`): comparisons, blocking and field preparation.
    - ``link_type`` (``dedupe_only``): ``link_only`` pairs records only across the values of a
      ``source_dataset`` column (reconciling two extracts); ``link_and_dedupe`` does both.
    - ``seed`` (7): seeds the u sampling. ``threads`` (1): DuckDB threads; more is faster, but
      parallel sums may differ in the last bits from run to run.
    - ``u_max_pairs`` (3e6): record pairs sampled to estimate u; more is slower and more precise.
    - ``prior`` (``None``): probability that two random records match; ``None`` estimates it from
      the deterministic rules, or uses ``fallback_prior`` (1e-5) when they pair nothing.
    - ``max_em_iterations`` (25) per EM session; a training rule pairing fewer than
      ``min_training_pairs`` (20) records is skipped (its fields keep Splink's starting m values),
      one pairing more than ``em_max_pairs`` (5e6) is trained on a seeded sample of them.
    """

    threshold: float = 0.9
    profile: LinkageProfile = SIYU_PROFILE
    link_type: LinkType = "dedupe_only"
    seed: int = 7
    threads: int = 1
    u_max_pairs: float = 3e6
    prior: float | None = None
    fallback_prior: float = 1e-5
    max_em_iterations: int = 25
    min_training_pairs: int = 20
    em_max_pairs: float = 5e6


DEFAULT_CONFIG = LinkageConfig()


@dataclass(frozen=True)
class Proposal:
    """Two customers that are probably one person, and the record pair that says so best.

    ``left_id < right_id`` are customer ids (a record without one stands for itself).
    ``match_weight`` is log2 of the posterior odds; ``evidence`` maps each compared field to the
    level that record pair reached: ``exact``, ``jaro_winkler>=0.95``…, ``else`` (they disagree)
    or ``null`` (either side lacks it).
    """

    left_id: str
    right_id: str
    probability: float
    match_weight: float
    evidence: dict[str, str] = field(hash=False)
    left_record_id: str
    right_record_id: str


class PandasFrame(Protocol):
    """The part of ``pandas.DataFrame`` we touch (pandas is optional here, and untyped)."""

    @property
    def columns(self) -> Iterable[Any]: ...


# --- Engine -------------------------------------------------------------------------------------


def within_one_char_edit(left: str, right: str) -> bool:
    """Whether one character substituted, inserted, deleted or swapped with its neighbour turns
    one string into the other (Damerau-Levenshtein ≤ 1, counted in characters)."""
    if abs(len(left) - len(right)) > 1:
        return False
    if len(left) > len(right):
        left, right = right, left
    i = 0
    while i < len(left) and left[i] == right[i]:
        i += 1
    if i == len(right):  # equal
        return True
    if len(left) < len(right):  # one character inserted at i
        return left[i:] == right[i + 1 :]
    if left[i + 1 :] == right[i + 1 :]:  # one substituted at i
        return True
    return (  # i and i + 1 swapped
        i + 1 < len(left)
        and left[i] == right[i + 1]
        and left[i + 1] == right[i]
        and left[i + 2 :] == right[i + 2 :]
    )


def propose_pairs(
    records: pl.DataFrame | PandasFrame, *, config: LinkageConfig = DEFAULT_CONFIG
) -> list[Proposal]:
    """Propose customer pairs that are probably the same person, most probable first.

    ``records`` needs a unique ``record_id``; ``customer_id`` is optional (records of one customer
    are never paired; each customer pair is reported once, with its best record pair);
    ``source_dataset`` is required for link types other than ``dedupe_only``; missing profile
    fields count as null. Raises :class:`InvalidInput` for missing or repeated record ids.
    Needs a population (hundreds of records or more) to learn from: tiny inputs yield few or no
    proposals.
    """
    frame = records if isinstance(records, pl.DataFrame) else pl.from_pandas(records)
    prepared = _prepare(frame, config)
    if prepared.select(pl.col("customer_key").n_unique()).item() < 2:
        return []
    settings = SettingsCreator(
        link_type=config.link_type,
        comparisons=[_splink_comparison(c) for c in config.profile.comparisons],
        blocking_rules_to_generate_predictions=[
            And(block_on(*rule), CustomRule("l.customer_key <> r.customer_key"))
            for rule in config.profile.blocking_rules
        ],
        probability_two_random_records_match=_estimate_prior(prepared, config),
        max_iterations=config.max_em_iterations,
        additional_columns_to_retain=["customer_id", "customer_key"],
    )
    gammas = ", ".join(f"gamma_{c.field}" for c in config.profile.comparisons)
    with _duckdb(config) as db_api:
        if config.link_type == "dedupe_only":
            tables = [db_api.register(prepared.to_arrow())]
        else:
            sources = prepared.partition_by("source_dataset", as_dict=True)
            tables = [db_api.register(sources[key].to_arrow()) for key in sorted(sources)]
        linker = Linker(tables[0] if len(tables) == 1 else tables, settings, log_level=None)
        _train(linker, prepared, config)
        scored = linker.inference.predict(threshold_match_probability=config.threshold)
        pairs = (
            scored.as_duckdbpyrelation()
            .select(
                "unique_id_l, unique_id_r, customer_id_l, customer_id_r, "
                f"match_probability, match_weight, {gammas}"
            )
            .pl()
        )
    return _best_per_customer_pair(pairs, config.profile)


def _prepare(records: pl.DataFrame, config: LinkageConfig) -> pl.DataFrame:
    hint = "give every record a unique, non-empty record_id"
    if "record_id" not in records.columns:
        raise InvalidInput("records have no record_id column", hint=hint)
    record_id = pl.col("record_id").cast(pl.String)
    if records.select(record_id.is_null().any() | record_id.is_duplicated().any()).item():
        raise InvalidInput("record_id is missing or repeated", hint=hint)
    linking = config.link_type != "dedupe_only"
    if linking and "source_dataset" not in records.columns:
        raise InvalidInput(
            f"link_type {config.link_type} needs a source_dataset column",
            hint="say which dataset each record comes from, or use dedupe_only",
        )
    absent = {*config.profile.input_columns, "customer_id"} - set(records.columns)
    records = records.with_columns(pl.lit(None, pl.String).alias(c) for c in sorted(absent))
    customer = pl.col("customer_id").cast(pl.String)
    keys = records.select(
        unique_id=record_id,
        customer_id=pl.coalesce(customer, record_id),
        customer_key=pl.coalesce(customer, pl.lit("record:") + record_id),
        **({"source_dataset": pl.col("source_dataset").cast(pl.String)} if linking else {}),
    )
    return pl.concat([keys, config.profile.prepare(records)], how="horizontal")


def _splink_level(comparison: FieldComparison, level: Level) -> ComparisonLevelCreator:
    column = level.column or comparison.source
    creator: ComparisonLevelCreator
    if level.kind == "exact":
        tf = comparison.term_frequency and level.column is None
        creator = cll.ExactMatchLevel(column, term_frequency_adjustments=tf)
    elif level.kind == "jaro_winkler":
        creator = cll.JaroWinklerLevel(column, level.threshold)
    elif level.kind == "levenshtein":
        creator = cll.LevenshteinLevel(column, int(level.threshold))
    elif level.kind == "one_char_edit":
        left, right = f'"{column}_l"', f'"{column}_r"'
        creator = cll.CustomLevel(
            f"{_ONE_CHAR_EDIT_SQL}({left}, {right}) "
            f"AND greatest(length({left}), length({right})) >= {int(level.threshold)}"
        )
    elif level.kind == "sql":
        creator = cll.CustomLevel(level.sql or "false")
    else:
        creator = cll.And(
            cll.CustomLevel(f'"{column}_l" = "{level.other}_r"'),
            cll.CustomLevel(f'"{level.other}_l" = "{column}_r"'),
        )
    return creator.configure(label_for_charts=level.label)


def _splink_comparison(comparison: FieldComparison) -> cl.CustomComparison:
    levels: list[ComparisonLevelCreator | dict[str, Any]] = [
        cll.NullLevel(comparison.null_column or comparison.source),
        *(_splink_level(comparison, level) for level in comparison.levels),
        cll.ElseLevel(),
    ]
    return cl.CustomComparison(levels, output_column_name=comparison.field)


def _rule_pair_count(prepared: pl.DataFrame, rule: tuple[str, ...], link_type: LinkType) -> int:
    """How many comparable record pairs agree on every column of ``rule``."""
    source = pl.col("source_dataset") if link_type == "link_only" else pl.lit("")
    counts = (
        prepared.select(*rule, source=source)
        .drop_nulls()
        .group_by(*rule, "source")
        .len()
        .group_by(*rule)
        .agg(total=pl.col("len").sum(), same_source=(pl.col("len") ** 2).sum())
    )
    if link_type == "link_only":
        return int(((counts["total"] ** 2 - counts["same_source"]) // 2).sum())
    return int((counts["total"] * (counts["total"] - 1) // 2).sum())


def _estimate_prior(prepared: pl.DataFrame, config: LinkageConfig) -> float:
    """Pairs found by the deterministic rules ÷ their assumed recall ÷ all comparable pairs."""
    if config.prior is not None:
        return config.prior
    link_only = config.link_type == "link_only"
    source = pl.col("source_dataset") if link_only else pl.lit("")
    found: list[pl.DataFrame] = []
    for rule in config.profile.deterministic_rules:
        side = prepared.select("unique_id", *rule, source=source).drop_nulls()
        pairs = side.join(side, on=list(rule), suffix="_r").filter(
            pl.col("unique_id") < pl.col("unique_id_r"),
            (pl.col("source") != pl.col("source_r")) if link_only else pl.lit(value=True),
        )
        found.append(pairs.select("unique_id", "unique_id_r"))
    matched = pl.concat(found).unique().height if found else 0
    n = prepared.height
    total = n * (n - 1) // 2
    if link_only:
        sizes = prepared.group_by("source_dataset").len()["len"]
        total -= int((sizes * (sizes - 1) // 2).sum())
    if matched == 0 or total == 0:
        return config.fallback_prior
    return min(matched / config.profile.deterministic_recall / total, 0.5)


@contextmanager
def _duckdb(config: LinkageConfig) -> Iterator[DuckDBAPI]:
    connection = duckdb.connect(":memory:")
    try:
        connection.execute(f"SET threads = {int(config.threads)}")
        connection.create_function(
            _ONE_CHAR_EDIT_SQL,
            within_one_char_edit,
            [duckdb.sqltypes.VARCHAR, duckdb.sqltypes.VARCHAR],
            duckdb.sqltypes.BOOLEAN,
        )
        yield DuckDBAPI(connection)
    finally:
        connection.close()


def _train(linker: Linker, prepared: pl.DataFrame, config: LinkageConfig) -> None:
    training = linker.training
    training.estimate_u_using_random_sampling(max_pairs=config.u_max_pairs, seed=config.seed)
    for rule in config.profile.training_rules:
        # Checked up front: a session failing on an empty block leaves Splink's linker without
        # the rule's comparisons.
        pairs = _rule_pair_count(prepared, rule, config.link_type)
        if pairs < config.min_training_pairs:
            log.warning("linkage_training_rule_skipped", rule=list(rule), pairs=pairs)
            continue
        training.estimate_parameters_using_expectation_maximisation(
            block_on(*rule),
            estimate_without_term_frequencies=True,
            max_pairs=config.em_max_pairs if pairs > config.em_max_pairs else None,
        )


def _reached(labels: dict[str, dict[int, str]], field_name: str, label: str) -> pl.Expr:
    gammas = [gamma for gamma, name in labels[field_name].items() if name == label]
    return pl.col(f"gamma_{field_name}").is_in(gammas)


def _best_per_customer_pair(pairs: pl.DataFrame, profile: LinkageProfile) -> list[Proposal]:
    labels = {c.field: c.evidence_labels() for c in profile.comparisons}
    for veto in profile.vetoes:
        keep = ~_reached(labels, veto.field, veto.label)
        for level in veto.unless:
            keep |= _reached(labels, *level)
        pairs = pairs.filter(keep)
    swap = pl.col("customer_id_l") > pl.col("customer_id_r")

    def pick(left: str, right: str) -> pl.Expr:
        return pl.when(swap).then(pl.col(right)).otherwise(pl.col(left))

    best = (
        pairs.with_columns(
            left_id=pick("customer_id_l", "customer_id_r"),
            right_id=pick("customer_id_r", "customer_id_l"),
            left_record_id=pick("unique_id_l", "unique_id_r"),
            right_record_id=pick("unique_id_r", "unique_id_l"),
        )
        .filter(pl.col("left_id") != pl.col("right_id"))
        .sort(
            ["match_weight", "left_record_id", "right_record_id"],
            descending=[True, False, False],
        )
        .unique(["left_id", "right_id"], keep="first", maintain_order=True)
    )
    return [
        Proposal(
            left_id=row["left_id"],
            right_id=row["right_id"],
            probability=row["match_probability"],
            match_weight=row["match_weight"],
            evidence={name: by_gamma[row[f"gamma_{name}"]] for name, by_gamma in labels.items()},
            left_record_id=row["left_record_id"],
            right_record_id=row["right_record_id"],
        )
        for row in best.iter_rows(named=True)
    ]
