"""CSV and JSONL files (and folders of them): streamed row by row, so memory does not grow with file size.

Reading yields `(line, row)` pairs or a RowError for a line that cannot be read at all; turning a row into
a Document is `tracker.sources.rows.parse_row` (pure).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from tracker.errors import SourceError
from tracker.models import RowError

SUFFIXES = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
REQUIRED = ("text", "published_at")

RawRow = dict[str, Any]
Progress = Callable[[int], None]


def list_files(paths: list[Path]) -> tuple[list[Path], list[RowError]]:
    """Expand folders (recursively) into their CSV/JSONL files; report paths that are missing or unsupported."""
    found: list[Path] = []
    problems: list[RowError] = []
    for path in paths:
        if path.is_dir():
            inside = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES)
            if not inside:
                problems.append(RowError(str(path), 0, "folder holds no .csv or .jsonl files"))
            found.extend(inside)
        elif path.is_file():
            if path.suffix.lower() not in SUFFIXES:
                problems.append(
                    RowError(str(path), 0, f"unsupported file type {path.suffix or '(none)'}; use .csv or .jsonl")
                )
            else:
                found.append(path)
        else:
            problems.append(RowError(str(path), 0, "no such file or folder"))
    return found, problems


class _Counting(io.RawIOBase):
    """A binary reader that reports how many bytes went through it (for a progress bar in bytes)."""

    def __init__(self, raw: io.BufferedReader, progress: Progress | None) -> None:
        self._raw = raw
        self._progress = progress

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = self._raw.readinto(buffer)
        if n and self._progress:
            self._progress(n)
        return n or 0

    def close(self) -> None:
        self._raw.close()
        super().close()


def read_rows(
    path: Path, *, columns: dict[str, str], max_cell_chars: int, progress: Progress | None = None
) -> Iterator[tuple[int, RawRow] | RowError]:
    """Yield `(line, row)` for each record of a CSV/JSONL file, or a RowError for a line that cannot be read."""
    kind = SUFFIXES.get(path.suffix.lower())
    try:
        raw = open(path, "rb")  # noqa: SIM115 - closed by the wrapper below
    except OSError as exc:
        raise SourceError(f"{path}: cannot open ({exc.strerror}); check the path and permissions") from None
    counting = _Counting(raw, progress)
    if kind == "csv":
        yield from _read_csv(path, counting, columns, max_cell_chars)
    else:
        yield from _read_jsonl(path, counting, max_cell_chars)


def _read_csv(
    path: Path, stream: _Counting, columns: dict[str, str], max_cell_chars: int
) -> Iterator[tuple[int, RawRow] | RowError]:
    limit = max(max_cell_chars + 1, 1_000_000)
    previous = csv.field_size_limit(limit)
    text = io.TextIOWrapper(io.BufferedReader(stream), encoding="utf-8-sig", errors="surrogateescape", newline="")
    try:
        reader = csv.reader(text)
        try:
            header = next(reader)
        except StopIteration:
            yield RowError(str(path), 1, "empty file: no header row")
            return
        except csv.Error as exc:
            yield RowError(str(path), 1, f"unreadable header ({exc})")
            return
        header = [h.strip() for h in header]
        for field in REQUIRED:
            wanted = columns.get(field, field)
            if wanted not in header:
                yield RowError(
                    str(path),
                    1,
                    f"missing required column {wanted!r} (found: {', '.join(header) or 'none'}); "
                    f"rename it or map it with ingest.columns.{field}",
                )
                return
        last_line = reader.line_num
        while True:
            start = last_line + 1
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                message = str(exc)
                if "field larger than field limit" in message:
                    message = f"a cell is larger than {limit - 1:,} characters; split the document"
                yield RowError(str(path), start, f"unreadable CSV record: {message}")
                last_line = reader.line_num
                continue
            last_line = reader.line_num
            if not cells or (len(cells) == 1 and not cells[0].strip()):
                continue  # blank line
            if len(cells) != len(header):
                yield RowError(
                    str(path),
                    start,
                    f"record has {len(cells)} cells but the header has {len(header)}; check quoting and commas",
                )
                continue
            yield start, dict(zip(header, cells, strict=True))
    finally:
        csv.field_size_limit(previous)
        text.close()


def _read_jsonl(path: Path, stream: _Counting, max_cell_chars: int) -> Iterator[tuple[int, RawRow] | RowError]:
    max_bytes = max(max_cell_chars * 4 + 4096, 1_000_000)
    buffered = io.BufferedReader(stream)
    try:
        line_no = 0
        while True:
            chunk = buffered.readline(max_bytes)
            if not chunk:
                return
            line_no += 1
            if not chunk.endswith(b"\n") and len(chunk) >= max_bytes:
                while True:  # skip the rest of an oversized line without holding it
                    rest = buffered.readline(max_bytes)
                    if not rest or rest.endswith(b"\n"):
                        break
                yield RowError(str(path), line_no, f"line is longer than {max_bytes:,} bytes; split the document")
                continue
            if line_no == 1 and chunk.startswith(b"\xef\xbb\xbf"):
                chunk = chunk[3:]
            try:
                line = chunk.decode("utf-8")
            except UnicodeDecodeError as exc:
                yield RowError(str(path), line_no, f"invalid UTF-8 at byte {exc.start}; re-save the file as UTF-8")
                continue
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as exc:
                yield RowError(str(path), line_no, f"invalid JSON ({exc.msg} at column {exc.colno})")
                continue
            if not isinstance(value, dict):
                yield RowError(str(path), line_no, f"expected a JSON object, got {type(value).__name__}")
                continue
            yield line_no, value
    finally:
        buffered.close()
