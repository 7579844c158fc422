"""Writers for `tracker export`: CSV (spreadsheet-safe), JSON Lines and Parquet, each fed batches of records so
that memory stays flat however many documents are exported."""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from tracker.errors import TrackerError
from tracker.exports import COLUMNS, spreadsheet_safe


class BatchWriter(Protocol):
    def write(self, batch: Sequence[Mapping[str, Any]]) -> None: ...

    def close(self) -> None: ...


class CsvWriter:
    """UTF-8 with a byte-order mark (so spreadsheets read Arabic right), a header, every text cell safe."""

    def __init__(self, path: Path) -> None:
        self._file = path.open("w", encoding="utf-8-sig", newline="")
        self._csv = csv.DictWriter(self._file, fieldnames=list(COLUMNS))
        self._csv.writeheader()

    def write(self, batch: Sequence[Mapping[str, Any]]) -> None:
        self._csv.writerows({k: spreadsheet_safe(v) for k, v in row.items()} for row in batch)

    def close(self) -> None:
        self._file.close()


class JsonlWriter:
    def __init__(self, path: Path) -> None:
        self._file = path.open("w", encoding="utf-8")

    def write(self, batch: Sequence[Mapping[str, Any]]) -> None:
        self._file.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in batch)

    def close(self) -> None:
        self._file.close()


class ParquetWriter:
    """One row group per batch, with a fixed schema (so an all-empty column in the first batch still types)."""

    def __init__(self, path: Path) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        types = {
            "date_estimated": pa.bool_(),
            "story_first": pa.bool_(),
            "level": pa.int8(),
            "hostility": pa.float64(),
            **{f"p{i}": pa.float64() for i in range(5)},
        }
        self._pa = pa
        self._schema = pa.schema([(c, types.get(c, pa.string())) for c in COLUMNS])
        self._writer = pq.ParquetWriter(str(path), self._schema, compression="zstd")

    def write(self, batch: Sequence[Mapping[str, Any]]) -> None:
        if batch:
            columns = {c: [row.get(c) for row in batch] for c in COLUMNS}
            self._writer.write_table(self._pa.Table.from_pydict(columns, schema=self._schema))

    def close(self) -> None:
        self._writer.close()


def open_writer(fmt: str, path: Path) -> BatchWriter:
    """The writer for a format; the folder must exist (a clear error otherwise)."""
    if not path.parent.is_dir():
        raise TrackerError(f"cannot write {path}: the folder {path.parent} does not exist")
    writers: dict[str, type[Any]] = {"csv": CsvWriter, "jsonl": JsonlWriter, "parquet": ParquetWriter}
    if fmt not in writers:
        raise TrackerError(f"unknown export format {fmt!r}; use csv, parquet or jsonl")
    try:
        writer: BatchWriter = writers[fmt](path)
    except OSError as exc:
        raise TrackerError(f"cannot write {path}: {exc.strerror or exc}") from None
    return writer
