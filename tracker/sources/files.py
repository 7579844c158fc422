"""CSV and JSONL files (and folders of them): streamed row by row, so memory does not grow with file size.

Reading yields `(line, row)` pairs or a RowError for a line that cannot be read at all; turning a row into
a Document is `tracker.sources.rows.parse_row` (pure).
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from tracker.errors import SourceError
from tracker.models import RowError

SUFFIXES = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "telegram"}
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
                problems.append(RowError(str(path), 0, "folder holds no .csv, .jsonl or .json files"))
            found.extend(inside)
        elif path.is_file():
            if path.suffix.lower() not in SUFFIXES:
                kind = path.suffix or "(none)"
                hint = "use .csv, .jsonl or a Telegram export .json"
                problems.append(RowError(str(path), 0, f"unsupported file type {kind}; {hint}"))
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


MAGIC = {
    b"\x89PNG": "a PNG image",
    b"%PDF": "a PDF document",
    b"PK\x03\x04": "a ZIP archive (an .xlsx workbook?)",
    b"\xff\xd8\xff": "a JPEG image",
    b"GIF8": "a GIF image",
}


def sniff(head: bytes) -> tuple[str, str | None]:
    """How to read a file from its first bytes: ("gzip" | "utf-16" | "utf-8", None), or ("binary", what it
    looks like) for a file that is not text."""
    if head.startswith(b"\x1f\x8b"):
        return "gzip", None
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16", None
    for magic, what in MAGIC.items():
        if head.startswith(magic):
            return "binary", what
    if b"\x00" in head:
        return "binary", "binary data (NUL bytes)"
    return "utf-8", None


def read_rows(
    path: Path, *, columns: dict[str, str], max_cell_chars: int, progress: Progress | None = None
) -> Iterator[tuple[int, RawRow] | RowError]:
    """Yield `(line, row)` for each record of a CSV/JSONL file, or a RowError for a line that cannot be read.
    gzip-compressed and UTF-16 files are read as such; a binary file raises SourceError saying what it is."""
    kind = SUFFIXES.get(path.suffix.lower())
    try:
        with open(path, "rb") as fh:
            how, what = sniff(fh.read(8192))
        raw = open(path, "rb")  # noqa: SIM115 - closed by the wrapper below
    except OSError as exc:
        raise SourceError(f"{path}: cannot open ({exc.strerror}); check the path and permissions") from None
    if how == "binary":
        raw.close()
        raise SourceError(f"{path}: not a text {kind.upper() if kind else 'CSV'} file (it looks like {what}); "
                          "export it as UTF-8 CSV or JSONL")  # fmt: skip
    counting = _Counting(raw, progress)
    stream: Any = gzip.GzipFile(fileobj=counting) if how == "gzip" else counting
    if how == "gzip":
        with gzip.open(path, "rb") as inner:
            how = sniff(inner.read(8192))[0]
    encoding = "utf-16" if how == "utf-16" else "utf-8-sig"
    if kind != "csv" and encoding == "utf-16":
        raise SourceError(f"{path}: JSONL must be UTF-8; re-save it as UTF-8")
    rows = (
        _read_csv(path, stream, columns, max_cell_chars, encoding)
        if kind == "csv"
        else _read_jsonl(path, stream, max_cell_chars)
    )
    try:
        yield from rows
    except (OSError, EOFError, UnicodeError) as exc:  # a truncated gzip stream, a broken UTF-16 file
        raise SourceError(
            f"{path}: cannot be read to the end ({type(exc).__name__}: {exc}); the rows before were kept"
        ) from None


class _Lines:
    """The physical lines csv.reader pulls, kept per record, so a record that swallowed several lines (an
    unbalanced quote) can be read again line by line."""

    def __init__(self, text: io.TextIOWrapper) -> None:
        self.text = text
        self.taken: list[str] = []

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        line = self.text.readline()
        if not line:
            raise StopIteration
        self.taken.append(line)
        return line


def _read_csv(
    path: Path, stream: Any, columns: dict[str, str], max_cell_chars: int, encoding: str = "utf-8-sig"
) -> Iterator[tuple[int, RawRow] | RowError]:
    limit = max(max_cell_chars + 1, 1_000_000)
    previous = csv.field_size_limit(limit)
    text = io.TextIOWrapper(io.BufferedReader(stream), encoding=encoding, errors="surrogateescape", newline="")
    lines = _Lines(text)
    try:
        reader = csv.reader(lines)
        try:
            header = next(reader)
        except StopIteration:
            yield RowError(str(path), 1, "empty file: no header row")
            return
        except csv.Error as exc:
            yield RowError(str(path), 1, f"unreadable header ({exc})")
            return
        header = [h.strip() for h in header]
        twice = sorted({h for h in header if h and header.count(h) > 1})
        if twice:
            where = [str(i + 1) for i, h in enumerate(header) if h == twice[0]]
            yield RowError(
                str(path),
                1,
                f"column {twice[0]!r} appears twice in the header (columns {', '.join(where)}); rename one",
            )
            return
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
            lines.taken = []
            try:
                cells = next(reader)
            except StopIteration:
                if len(lines.taken) > 1:  # an unbalanced quote ran to the end of the file
                    yield from _one_by_one(path, lines.taken, start, header)
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
                if len(lines.taken) > 1:  # the record swallowed several lines: read them one by one
                    yield from _one_by_one(path, lines.taken, start, header)
                    continue
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


def _one_by_one(path: Path, taken: list[str], start: int, header: list[str]) -> Iterator[tuple[int, RawRow] | RowError]:
    """Lines a broken record swallowed, each read as its own record: good ones kept, bad ones named."""
    for offset, line in enumerate(taken):
        number = start + offset
        if not line.strip():
            continue
        try:
            cells = next(csv.reader([line.rstrip("\r\n")]))
        except (csv.Error, StopIteration):
            cells = []
        if len(cells) == len(header) and line.count('"') % 2 == 0:
            yield number, dict(zip(header, cells, strict=True))
        else:
            reason = (
                "unbalanced quote" if line.count('"') % 2 else f"{len(cells)} cells but the header has {len(header)}"
            )
            yield RowError(str(path), number, f"unreadable CSV record ({reason}); fix the quoting of this line")


def _read_jsonl(path: Path, stream: Any, max_cell_chars: int) -> Iterator[tuple[int, RawRow] | RowError]:
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
