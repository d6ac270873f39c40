"""Mentions exported by other tools, imported from CSV or JSON Lines files.

`columns` maps repmon's fields to the file's column names (or, for JSON Lines, keys; a dotted
key such as "user.name" reaches into nested objects). A field left out uses the column of the
same name when the file has one. The cursor keeps, per file, its size, mtime and how many rows
are done: a finished file is skipped, a half-imported one resumes at its next row, and a file
that changed is read again from the top (the store's upsert drops what is already there).
A bad row is logged with its line number and skipped; it never stops the import.
"""

from __future__ import annotations

import codecs
import csv
import glob
import hashlib
import json
import logging
import os
import re
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from itertools import islice
from pathlib import Path
from typing import Any, Iterator, Literal, Optional
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator

from collectors.base import MALFORMED, Batch, Collector, Options
from repmon.errors import CollectorError
from repmon.models import KINDS

log = logging.getLogger(__name__)

# Unambiguous layouts only; day/month orders like 03/04/2026 need `date_format`.
_FORMATS = ("%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M", "%Y/%m/%d", "%d.%m.%Y %H:%M:%S", "%d.%m.%Y %H:%M",
            "%d.%m.%Y", "%Y-%m-%dT%H:%M:%S.%f%z")
_EPOCH = re.compile(r"^\d{9,13}(\.\d+)?$")


class Columns(BaseModel):
    """repmon field -> the file's column; None = a column of the same name, if there is one."""

    model_config = ConfigDict(extra="forbid")
    text: str = "text"
    created_at: str = "created_at"
    native_id: Optional[str] = None
    author: Optional[str] = None
    url: Optional[str] = None
    lang: Optional[str] = None
    rating: Optional[str] = None
    author_reach: Optional[str] = None
    kind: Optional[str] = None
    thread_id: Optional[str] = None
    parent_id: Optional[str] = None
    platform: Optional[str] = None


class FileImportOptions(Options):
    path: str = Field(min_length=1, description="a file or a glob (exports/*.csv), relative to the working directory")
    format: Optional[Literal["csv", "jsonl"]] = Field(None, description="default: from the file's extension")
    platform: str = Field("import", min_length=1, max_length=50)
    columns: Columns = Field(default_factory=Columns)
    timezone: str = Field("UTC", description="zone of times written without an offset")
    date_format: Optional[str] = Field(None, description="strptime format, for layouts such as %d/%m/%Y %H:%M")
    encoding: str = "utf-8-sig"
    delimiter: str = Field(",", min_length=1, max_length=1)
    page_size: int = Field(1000, ge=1, le=100_000)
    match_brand: bool = Field(True, description="false: keep every row, not only those naming the brand")

    @field_validator("encoding")
    @classmethod
    def _text_encoding(cls, v: str) -> str:
        try:
            known = codecs.lookup(v)._is_text_encoding  # not base64, rot13 and other bytes-to-bytes codecs
        except LookupError:
            known = False
        if not known:
            raise ValueError("expected a text encoding such as 'utf-8-sig', 'utf-16' or 'cp1252'")
        return v

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a name too long for a file name
            raise ValueError("expected an IANA time zone such as 'Europe/Bucharest'") from None
        return v


class BadRow(ValueError):
    pass


class FileImportCollector(Collector):
    kind = "file_import"
    options_model = FileImportOptions

    def __init__(self, name: str, options: Options, brand: Any):
        super().__init__(name, options, brand)
        self.prefiltered = not options.match_brand  # type: ignore[attr-defined]

    def fetch(self, cursor: Optional[str]) -> Iterator[Batch]:
        opts: FileImportOptions = self.options  # type: ignore[assignment]
        state: dict[str, dict] = json.loads(cursor).get("files", {}) if cursor else {}
        paths = sorted(glob.glob(os.path.expanduser(opts.path), recursive=True))
        if not paths:
            raise CollectorError(f"sources.{self.name}.path: no file matches {opts.path!r} "
                                 f"(working directory {os.getcwd()})")
        for path in paths:
            key = str(Path(path).resolve())
            st = os.stat(path)
            size, mtime = st.st_size, st.st_mtime_ns
            done = state.get(key, {})
            start = 0
            if done.get("size") == size and done.get("mtime") == mtime:
                if done.get("done"):
                    continue
                start = int(done.get("rows", 0))
            records = islice(self._records(path), start, None)
            position = start
            while True:
                chunk = list(islice(records, opts.page_size))
                position += len(chunk)
                mentions, skipped = [], 0
                for where, record in chunk:
                    try:
                        if record is not None:
                            mentions.append(self._mention(record, path, where))
                    except MALFORMED as exc:  # BadRow, or a value no parser takes (an overflowing number)
                        skipped += 1
                        log.warning("source=%s file=%s %s skipped: %s", self.name, path, where,
                                    exc if isinstance(exc, BadRow) else f"{type(exc).__name__}: {exc}")
                finished = len(chunk) < opts.page_size
                state[key] = {"size": size, "mtime": mtime, "rows": position, "done": finished}
                notes = {"file": path, "skipped": skipped, "position": position}
                yield Batch(mentions, json.dumps({"files": state}), notes)
                if finished:
                    break

    def _format(self, path: str) -> str:
        fmt = self.options.format  # type: ignore[attr-defined]
        if fmt:
            return fmt
        ext = Path(path).suffix.lower()
        if ext in (".csv", ".tsv"):
            return "csv"
        if ext in (".jsonl", ".ndjson"):
            return "jsonl"
        raise CollectorError(f"{path}: cannot tell the format from {ext or 'no extension'!r}; "
                             'set format = "csv" or "jsonl"')

    def _records(self, path: str) -> Iterator[tuple[str, Optional[dict]]]:
        """(where, record) per row; record None for a blank JSON line, so row counts stay stable."""
        opts: FileImportOptions = self.options  # type: ignore[assignment]
        fmt = self._format(path)
        try:
            with open(path, encoding=opts.encoding, newline="") as fh:
                if fmt == "csv":
                    yield from self._csv_records(fh, path)
                    return
                checked = False
                for number, line in enumerate(fh, start=1):
                    if not line.strip():
                        yield f"line {number}", None
                        continue
                    try:
                        record = json.loads(line)
                    except ValueError as exc:
                        record = {"__bad__": f"not valid JSON ({exc})"}
                    if not isinstance(record, dict):
                        record = {"__bad__": "not a JSON object"}
                    elif not checked and "__bad__" not in record:
                        first = record
                        has = lambda col: _pick(first, col, _MISSING) is not _MISSING  # noqa: E731
                        self._check_columns(path, has, list(first))
                        checked = True
                    yield f"line {number}", record
        except UnicodeError as exc:  # UnicodeDecodeError, or UTF-16 without its byte order mark
            raise CollectorError(f"{path} line {_undecodable_line(path, opts.encoding)}: not readable as "
                                 f"{opts.encoding} ({getattr(exc, 'reason', exc)}); set encoding to the file's "
                                 "encoding") from exc
        except csv.Error as exc:
            raise CollectorError(f"{path}: broken CSV: {exc}") from exc

    def _csv_records(self, fh: Any, path: str) -> Iterator[tuple[str, Optional[dict]]]:
        delimiter = self.options.delimiter  # type: ignore[attr-defined]
        if path.lower().endswith(".tsv") and delimiter == ",":
            delimiter = "\t"
        reader = csv.reader(fh, delimiter=delimiter)
        try:
            header = next(reader, None)
            if header is None:
                return  # an empty file: nothing to import
            header = [h.strip() for h in header]
            self._check_columns(path, lambda col: col in header, header)
            line = reader.line_num + 1
            for row in reader:
                where, line = f"line {line}", reader.line_num + 1
                if not any(cell.strip() for cell in row):
                    yield where, None
                elif len(row) != len(header):
                    yield where, {"__bad__": f"{len(row)} fields where the header has {len(header)}"}
                else:
                    yield where, dict(zip(header, row))
        except csv.Error as exc:  # e.g. a field over csv.field_size_limit()
            raise csv.Error(f"line {reader.line_num}: {exc}") from None

    def _check_columns(self, path: str, present: Any, available: list[str]) -> None:
        cols: Columns = self.options.columns  # type: ignore[attr-defined]
        for field, col in cols.model_dump().items():
            required = field in ("text", "created_at") or col is not None
            if required and not present(col):
                raise CollectorError(f"{path}: column {col!r} (sources.{self.name}.columns.{field}) is not in the file; "
                                     f"it has: {', '.join(map(repr, available))}")

    def _mention(self, record: dict, path: str, where: str) -> dict:
        if "__bad__" in record:
            raise BadRow(record["__bad__"])
        opts: FileImportOptions = self.options  # type: ignore[assignment]
        cols = opts.columns

        def value(field: str) -> Any:
            v = _pick(record, getattr(cols, field) or field)
            return v.strip() if isinstance(v, str) else v

        text = value("text")
        if text in (None, "") or not str(text).strip():
            raise BadRow(f"empty {cols.text!r}")
        created = parse_time(value("created_at"), opts.timezone, opts.date_format)
        author = str(value("author") or "")
        native = value("native_id")
        if native in (None, ""):
            key = f"{text}\x1f{created.isoformat()}\x1f{author}"
            native = "sha256:" + hashlib.sha256(key.encode()).hexdigest()[:40]
        kind = str(value("kind") or "post").lower()
        if kind not in KINDS:
            raise BadRow(f"kind {kind!r} is not one of {', '.join(KINDS)}")
        lang = value("lang")
        return {
            "platform": str(value("platform") or opts.platform),
            "native_id": str(native),
            "url": str(value("url")) if value("url") else None,
            "author": author[:200],
            "author_reach": _count(value("author_reach")),
            "text": str(text),
            "lang": str(lang).lower() if lang and len(str(lang)) <= 16 else None,
            "created_at": created,
            "thread_id": str(value("thread_id")) if value("thread_id") not in (None, "") else None,
            "parent_id": str(value("parent_id")) if value("parent_id") not in (None, "") else None,
            "kind": kind,
            "rating": _rating(value("rating")),
            "raw": {"item": record, "collector": "file_import", "query": opts.path, "file": path, "row": where,
                    "retrieved_at": datetime.now(timezone.utc).isoformat(), "api": self._format(path)},
        }


_MISSING = object()


def _undecodable_line(path: str, encoding: str) -> int:
    """The line where `path` stops being `encoding` (the decoder's own byte offset is within a chunk)."""
    decoder, line = codecs.getincrementaldecoder(encoding)(), 1
    with open(path, "rb") as fh:
        for raw in fh:
            try:
                line += decoder.decode(raw).count("\n")
            except UnicodeError:
                break
    return line


def _pick(record: dict, col: str, default: Any = None) -> Any:
    if col in record:
        return record[col]
    value: Any = record
    for part in col.split("."):  # JSON Lines: "user.name" reaches into {"user": {"name": ...}}
        if not isinstance(value, dict) or part not in value:
            return default
        value = value[part]
    return value


def parse_time(value: Any, zone: str = "UTC", date_format: Optional[str] = None) -> datetime:
    """ISO 8601, RFC 2822, epoch seconds (or milliseconds), a few unambiguous layouts; naive -> `zone`."""
    if value is None or (isinstance(value, str) and not value.strip()):
        raise BadRow("no date")
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if number or (isinstance(value, str) and _EPOCH.match(value)):
        seconds = float(value)
        try:
            return datetime.fromtimestamp(seconds / 1000 if seconds > 1e11 else seconds, timezone.utc)
        except (ValueError, OverflowError, OSError):
            raise BadRow(f"date {value!r} is out of range") from None
    s = str(value).strip()
    when: Optional[datetime] = None
    if date_format:
        try:
            when = datetime.strptime(s, date_format)
        except ValueError:
            raise BadRow(f"date {s!r} does not fit date_format {date_format!r}") from None
    if when is None:
        try:
            when = datetime.fromisoformat(s)
        except ValueError:
            pass
    if when is None:
        try:
            when = parsedate_to_datetime(s)
        except (TypeError, ValueError, IndexError):
            pass
    for fmt in _FORMATS if when is None else ():
        try:
            when = datetime.strptime(s, fmt)
            break
        except ValueError:
            continue
    if when is None:
        raise BadRow(f"cannot read the date {s!r}; set date_format")
    if when.tzinfo is None:
        when = when.replace(tzinfo=ZoneInfo(zone))
    try:
        return when.astimezone(timezone.utc)
    except OverflowError:  # year 1 east of UTC, year 9999 west of it
        raise BadRow(f"date {s!r} is out of range") from None


def _count(value: Any) -> int:
    if value in (None, ""):
        return 0
    try:
        n = int(float(str(value).replace(",", "").replace("_", "")))
    except (ValueError, OverflowError):
        raise BadRow(f"author_reach {value!r} is not a number") from None
    if n < 0:
        raise BadRow(f"author_reach {value!r} is negative")
    return n


def _rating(value: Any) -> Optional[int]:
    if value in (None, ""):
        return None
    try:
        n = round(float(value))
    except (TypeError, ValueError, OverflowError):
        raise BadRow(f"rating {value!r} is not a number") from None
    if not 1 <= n <= 5:
        raise BadRow(f"rating {value!r} is outside 1-5")
    return n
