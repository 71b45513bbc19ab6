"""Export files read in batches that can start anywhere a checkpoint says: CSV at a byte
offset (one row per line, so a line number is exact), Parquet at a row number. Values come
out as text, so one set of checks serves both formats."""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from .errors import IngestError


@dataclass
class Batch:
    table: pa.Table  # text columns, in the file's column order
    lines: list[int]  # CSV: the line of each row (header = line 1); Parquet: row number
    invalid: list[tuple[int, str]]  # rows that do not split into the header's columns
    raw: bytes | None  # CSV: the batch's bytes, sent as they are when every row is good
    end_offset: int  # CSV: byte offset after the batch; Parquet: rows read
    end_line: int  # last line (row) this batch covers
    size: int  # lines (rows) covered, good or bad


def content_hash(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 23):
            h.update(block)
    return h.hexdigest()


class CsvSource:
    kind = "csv"

    def __init__(self, path: Path, batch_bytes: int, max_rows: int = 0) -> None:
        self.path = path
        self.batch_bytes = batch_bytes
        self.max_rows = max_rows  # 0: no limit but the bytes
        self.size = path.stat().st_size
        with path.open("rb") as f:
            first = f.readline()
        self.header_end = len(first)
        text = first.decode("utf-8-sig").rstrip("\r\n")
        self.columns = next(csv.reader([text])) if text else []
        self.crlf = first.endswith(b"\r\n")

    def batches(self, offset: int, line: int) -> Iterator[Batch]:
        offset, line = max(offset, self.header_end), max(line, 1)
        names = [f"c{i}" for i in range(len(self.columns))]  # header names may repeat
        with self.path.open("rb") as f:
            f.seek(offset)
            while data := f.read(self.batch_bytes):
                if not data.endswith(b"\n"):
                    data += f.readline()  # a batch ends at the end of a line
                if self.max_rows and (cut := _after_line(data, self.max_rows)) < len(data):
                    data = data[:cut]
                    f.seek(offset + cut)
                offset += len(data)
                n = data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
                yield self._parse(data, names, line + 1, n, offset)
                line += n

    def _parse(self, data: bytes, names: list[str], first: int, n: int, end: int) -> Batch:
        invalid: list[tuple[int, str]] = []

        def on_invalid(row: pcsv.InvalidRow) -> str:
            invalid.append((first + int(row.number) - 1, row.text))
            return "skip"

        t = pcsv.read_csv(
            io.BytesIO(data),
            # single-threaded: pyarrow reports an invalid row's number only then, and the
            # other core is the database's
            read_options=pcsv.ReadOptions(
                column_names=names, use_threads=False, block_size=1 << 26
            ),
            parse_options=pcsv.ParseOptions(
                invalid_row_handler=on_invalid, ignore_empty_lines=False
            ),
            convert_options=pcsv.ConvertOptions(
                column_types=dict.fromkeys(names, pa.string()),
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
        if t.num_rows + len(invalid) != n:
            raise IngestError(
                f"{self.path.name}: a quoted value holds a line break near line {first}; "
                "export one row per line",
                code="INGEST_BAD_FORMAT",
            )
        bad = {ln for ln, _ in invalid}
        lines = (
            list(range(first, first + n))
            if not bad
            else [ln for ln in range(first, first + n) if ln not in bad]
        )
        return Batch(t.rename_columns(self.columns), lines, invalid, data, end, first + n - 1, n)


def _after_line(data: bytes, n: int) -> int:
    """The offset after the n-th line of `data` (len(data) if it has fewer)."""
    at = -1
    for _ in range(n):
        at = data.find(b"\n", at + 1)
        if at < 0:
            return len(data)
    return at + 1


def _as_text(col: pa.ChunkedArray) -> pa.ChunkedArray:
    if not pa.types.is_string(col.type):
        col = col.cast(pa.string())
    return col.fill_null("")


class ParquetSource:
    kind = "parquet"

    def __init__(self, path: Path, batch_rows: int, max_rows: int = 0) -> None:
        self.path = path
        self.batch_rows = min(batch_rows, max_rows) if max_rows else batch_rows
        self.file = pq.ParquetFile(path)
        self.columns = list(self.file.schema_arrow.names)
        self.size = self.file.metadata.num_rows
        self.crlf = False

    def batches(self, offset: int, line: int) -> Iterator[Batch]:
        done = 0
        for rb in self.file.iter_batches(batch_size=self.batch_rows):
            start, done = done, done + rb.num_rows
            if done <= offset:
                continue
            t = pa.Table.from_batches([rb]).slice(max(0, offset - start))
            t = pa.table({c: _as_text(t.column(c)) for c in self.columns})
            first = done - t.num_rows + 1
            lines = list(range(first, done + 1))
            yield Batch(t, lines, [], None, done, done, t.num_rows)


Source = CsvSource | ParquetSource


def open_source(path: Path, batch_rows: int, batch_bytes: int, max_rows: int = 0) -> Source:
    """max_rows: at most this many rows a batch (one transaction's keys, load.rows_per_txn)."""
    if not path.is_file():
        raise IngestError(f"{path}: no such file", code="INGEST_NO_FILE")
    if path.suffix.lower() in (".parquet", ".pq"):
        return ParquetSource(path, batch_rows, max_rows)
    if path.suffix.lower() in (".csv", ".txt"):
        return CsvSource(path, batch_bytes, max_rows)
    raise IngestError(f"{path.name}: not .csv or .parquet", code="INGEST_BAD_FORMAT")
