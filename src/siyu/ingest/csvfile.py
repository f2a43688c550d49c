"""CSV bytes to UTF-8 blocks of whole records: BOM, UTF-8 or GBK/GB18030, quoted line breaks.

Reading our own blocks (a few MB, cut after a line end that is outside quotes) keeps memory
bounded whatever the file size, and lets GBK files be transcoded on the fly, block by block, with
no temporary copy. A line end is outside quotes when the block has an even number of ``"``
before it: RFC 4180 escapes a quote by doubling it, so escapes keep the count even. In GBK and
GB18030 no byte of a multi-byte character is ``"``, ``,`` or a line end, so this holds before
transcoding too.

Encoding: a UTF-8 BOM means UTF-8; otherwise the first block that is not pure ASCII decides:
valid UTF-8 means UTF-8, anything else GB18030 (a superset of GBK and GB2312, what Excel and the
platforms write on Chinese Windows). ASCII reads the same in all three, so blocks before the
decision need no decoding.
"""

from __future__ import annotations

import codecs
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO, Generic, Literal, TypeVar

from siyu.core.errors import InvalidInput

BLOCK_BYTES = 4 << 20
"""Bytes read per block (a little more or less after cutting at a record end)."""

Encoding = Literal["utf-8", "gb18030"]
_SAMPLE = 4096
T = TypeVar("T")


class Blocks:
    """Record-aligned UTF-8 blocks of one CSV file: ``header()`` first, then iterate the rest."""

    def __init__(self, file: BinaryIO, name: str, *, block_bytes: int | None = None) -> None:
        self.name = name
        self.encoding: Encoding | None = None  # None until a non-ASCII block is seen
        self._file = file
        self._size = block_bytes or BLOCK_BYTES
        self._decoder: codecs.IncrementalDecoder | None = None
        self._rest = b""
        self._started = False

    def header(self) -> bytes:
        """Return the header record, line end included; raise ``InvalidInput`` if there is none."""
        buf = self._rest
        while (end := _first_record_end(buf)) < 0:
            data = self._read()
            if not data:
                end = len(buf)
                break
            buf += data
        header, self._rest = buf[:end], buf[end:]
        if not header.strip():
            raise InvalidInput(
                f"{self.name} is empty", hint="export the orders again, with the header row"
            )
        return header

    def __iter__(self) -> Iterator[bytes]:
        """Yield blocks of whole data records, each ending with a line end."""
        while True:
            data = self._read()
            if not data:
                if self._rest.strip():
                    yield self._rest if self._rest.endswith(b"\n") else self._rest + b"\n"
                self._rest = b""
                return
            buf = self._rest + data
            end = _last_record_end(buf)
            if end < 0:
                self._rest = buf
                continue
            self._rest = buf[end:]
            yield buf[:end]

    def _read(self) -> bytes:
        """Return the next UTF-8 bytes of the file (b"" only at its end)."""
        while True:
            raw = self._file.read(self._size if self._started else max(self._size, 4))
            if not self._started:
                self._started = True
                raw = self._strip_bom(raw)
            if self.encoding is None and not raw.isascii():
                while len(raw) < _SAMPLE and (more := self._file.read(_SAMPLE)):
                    raw += more  # decide on a fair sample, not on a lone byte
                self._decide(raw)
            if self._decoder is None:
                return raw
            try:
                text = self._decoder.decode(raw, final=not raw).encode("utf-8")
            except UnicodeDecodeError as exc:
                raise InvalidInput(
                    f"{self.name} is neither UTF-8 nor GBK/GB18030 text",
                    hint="open it in Excel and save as 'CSV UTF-8 (comma delimited)' or as .xlsx",
                ) from exc
            if text or not raw:  # a lone lead byte decodes to nothing yet: read on
                return text

    def _strip_bom(self, raw: bytes) -> bytes:
        if raw.startswith(codecs.BOM_UTF8):
            self.encoding = "utf-8"
            return raw[len(codecs.BOM_UTF8) :]
        if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            raise InvalidInput(
                f"{self.name} is UTF-16 text, which the importer does not read",
                hint="save it from Excel as 'CSV UTF-8 (comma delimited)' or as .xlsx",
            )
        return raw

    def _decide(self, raw: bytes) -> None:
        try:
            codecs.getincrementaldecoder("utf-8")().decode(raw, final=False)
        except UnicodeDecodeError:
            self.encoding = "gb18030"
            self._decoder = codecs.getincrementaldecoder("gb18030")()
        else:
            self.encoding = "utf-8"


@dataclass(frozen=True)
class _Item(Generic[T]):
    value: T


@dataclass(frozen=True)
class _Failed:
    error: BaseException


_END = object()


def prefetched(items: Iterator[T], *, depth: int = 2) -> Iterator[T]:
    """Yield ``items``, produced up to ``depth`` ahead by a worker thread.

    Reading and transcoding the next block (Python, holding the GIL) then overlaps with Polars
    parsing the current one (native, releasing it). The worker stops when the consumer does.
    """
    box: queue.Queue[_Item[T] | _Failed | object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(message: _Item[T] | _Failed | object) -> bool:
        while not stop.is_set():
            try:
                box.put(message, timeout=0.05)
            except queue.Full:
                continue
            return True
        return False

    def work() -> None:
        try:
            for item in items:
                if not put(_Item(item)):
                    return
            put(_END)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, raised there
            put(_Failed(exc))

    worker = threading.Thread(target=work, name="siyu-ingest-reader", daemon=True)
    worker.start()
    try:
        while (message := box.get()) is not _END:
            if isinstance(message, _Failed):
                raise message.error
            if isinstance(message, _Item):
                yield message.value
    finally:
        stop.set()
        worker.join()


def _first_record_end(buf: bytes) -> int:
    """Return the index just past the first line end outside quotes in ``buf``, or -1."""
    at = buf.find(b"\n")
    while at >= 0:
        if buf.count(b'"', 0, at) % 2 == 0:
            return at + 1
        at = buf.find(b"\n", at + 1)
    return -1


def _last_record_end(buf: bytes) -> int:
    """Return the index just past the last line end outside quotes in ``buf``, or -1."""
    at = buf.rfind(b"\n")
    while at >= 0:
        if buf.count(b'"', 0, at) % 2 == 0:
            return at + 1
        at = buf.rfind(b"\n", 0, at)
    return -1
