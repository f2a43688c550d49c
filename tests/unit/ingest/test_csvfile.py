"""Record-aligned blocks: quoted line breaks, encodings decided late, the reader thread."""

from __future__ import annotations

import io
import itertools
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from polars.testing import assert_frame_equal

from siyu.core.errors import InvalidInput
from siyu.ingest import csvfile
from siyu.ingest.csvfile import Blocks, prefetched
from tests.fixtures.orders.make_fixtures import GENERIC_MAPPING
from tests.unit.ingest.exports import FIXTURES, parse_all, write_csv

TEXT = (
    "订单编号,收货地址,备注\r\n"
    '1,"浙江省 杭州市\n西湖区 文三路1号",a\r\n'
    '2,"he said ""hi""\n twice",b\r\n'
    "3,上海,c\r\n"
)


def blocks(data: bytes, size: int) -> tuple[bytes, list[bytes], str | None]:
    reader = Blocks(io.BytesIO(data), "x.csv", block_bytes=size)
    header = reader.header()
    return header, list(reader), reader.encoding


@pytest.mark.parametrize("size", [1, 2, 3, 7, 16, 64, 4096])
@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk", "gb18030"])
def test_blocks_end_on_record_ends(size: int, encoding: str) -> None:
    header, body, found = blocks(TEXT.encode(encoding), size)

    assert header.decode() == "订单编号,收货地址,备注\r\n"
    assert b"".join(body).decode() == TEXT.split("\r\n", 1)[1]
    for block in body:
        assert block.endswith(b"\n")
        assert block.count(b'"') % 2 == 0
    assert found == ("gb18030" if encoding.startswith("gb") else "utf-8")


def test_ascii_first_then_gbk() -> None:
    data = ("id,name\n" + "".join(f"{i},x\n" for i in range(50)) + "51,张伟\n").encode("gbk")

    _, body, found = blocks(data, 16)

    assert found == "gb18030"
    assert b"".join(body).decode().endswith("51,张伟\n")


def test_last_record_without_line_end_and_empty_input() -> None:
    assert blocks(b"a,b\n1,2", 3)[1] == [b"1,2\n"]
    with pytest.raises(InvalidInput, match=r"x\.csv is empty"):
        blocks(b"\n", 4)


@pytest.mark.parametrize("size", [37, 256, 1000])
@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("tmall.csv", {}),
        ("tmall_gbk.csv", {}),
        ("tmall_bom.csv", {}),
        ("jd.csv", {}),
        ("douyin.csv", {"batch_rows": 2}),
        ("generic.csv", {"source": "generic", "mapping": GENERIC_MAPPING}),
    ],
)
def test_small_blocks_read_the_same(
    monkeypatch: pytest.MonkeyPatch, size: int, name: str, options: dict[str, object]
) -> None:
    whole = parse_all(FIXTURES / name, **options)
    monkeypatch.setattr(csvfile, "BLOCK_BYTES", size)

    got = parse_all(FIXTURES / name, **options)

    assert_frame_equal(got[0], whole[0])
    assert_frame_equal(got[1], whole[1])
    assert got[2] == whole[2]


def test_quoted_line_breaks_keep_row_numbers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(csvfile, "BLOCK_BYTES", 8)
    path = write_csv(
        tmp_path / "x.csv",
        "订单编号,买家实际支付金额,订单状态,订单付款时间,收货地址\n"
        'A1,1.00,交易成功,2024-01-01 10:00:00,"浙江省 杭州市 西湖区\n文三路"\n'
        "A2,x,交易成功,2024-01-01 10:00:00,上海\n",
    )

    orders, _, errors = parse_all(path)

    assert orders["address"].to_list() == ["浙江省 杭州市 西湖区\n文三路"]
    assert [(e.row, e.value) for e in errors] == [(2, "x")]


def reader_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "siyu-ingest-reader"]


def test_prefetch_stops_with_its_consumer() -> None:
    stream = prefetched(itertools.count())

    assert [next(stream) for _ in range(3)] == [0, 1, 2]
    stream.close()  # type: ignore[attr-defined]

    assert reader_threads() == []


def test_prefetch_hands_over_errors() -> None:
    def failing() -> Iterator[int]:
        yield 1
        raise InvalidInput("broken")

    stream = prefetched(failing())

    assert next(stream) == 1
    with pytest.raises(InvalidInput, match="broken"):
        next(stream)
    assert reader_threads() == []
