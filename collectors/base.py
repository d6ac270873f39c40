"""The collector interface. A collector only fetches: it yields pages of mention dicts and the
cursor that resumes after each page. The runner (repmon.pipeline.collect) stores each page and
its cursor in one transaction, keeps health, and retries; collectors never touch the database.

Adding a source is one new module in this package that defines a subclass with `kind` set.
"""

from __future__ import annotations

import math
import traceback
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar, Iterator, Optional

from pydantic import BaseModel, ConfigDict, ValidationError

from repmon.errors import ConfigError
from repmon.models import KINDS

REGISTRY: dict[str, type["Collector"]] = {}

# What translating one payload item that is not shaped as documented raises (a missing key, a
# wrong type, a bad timestamp or number): collectors skip that item with a log line naming it.
MALFORMED = (KeyError, IndexError, TypeError, ValueError, AttributeError, OverflowError)
MAX_COUNT = 2**31 - 1  # INTEGER columns (author_reach) hold 32 bits on PostgreSQL


@dataclass
class Batch:
    """One page: mention dicts (keys as repmon.models.Mention) and the cursor after it."""

    mentions: list[dict]
    cursor: Optional[str]
    notes: dict[str, Any] = field(default_factory=dict)


class Options(BaseModel):
    """Keys every source section has; a collector subclasses this with its own."""

    model_config = ConfigDict(extra="forbid")
    kind: Optional[str] = None
    enabled: bool = True
    brand: Optional[str] = None


class Collector:
    kind: ClassVar[str] = ""
    options_model: ClassVar[type[Options]] = Options
    # True where everything fetched is about the brand already (its app's reviews, its own
    # channel): the runner then skips keyword matching.
    prefiltered: ClassVar[bool] = False

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        if cls.kind:
            REGISTRY[cls.kind] = cls

    def __init__(self, name: str, options: Options, brand: Any):
        self.name, self.options, self.brand = name, options, brand

    @classmethod
    def from_config(cls, name: str, raw: dict, brand: Any) -> "Collector":
        try:
            options = cls.options_model.model_validate(raw)
        except ValidationError as exc:
            problems = "; ".join(
                f"sources.{name}.{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()
            )
            raise ConfigError(problems) from None
        return cls(name, options, brand)

    def fetch(self, cursor: Optional[str]) -> Iterator[Batch]:
        raise NotImplementedError

    # A collector that can re-check a post before a reply defines:
    #     def exists(self, native_id: str) -> bool


def item_ref(item: Any, *keys: str) -> str:
    """How a log line names a payload item: its first id-like key, or its type."""
    if isinstance(item, dict):
        for key in keys:
            if item.get(key) not in (None, ""):
                return f"{key}={str(item[key])[:100]!r}"
    return f"a {type(item).__name__} item"


def raised_in(exc: BaseException, package: str) -> bool:
    """Whether `exc` came through a client library (failing on an answer it cannot read), not
    only through repmon's own code."""
    return any(package in Path(frame.filename).parts for frame in traceback.extract_tb(exc.__traceback__))


def page_token(value: Any) -> Optional[str]:
    """An API's opaque paging token, or None when the answer's is missing or not one (it goes into
    the next request's URL or body, so it must be printable ASCII)."""
    ok = isinstance(value, str) and 0 < len(value) <= 4096 and value.isascii() and value.isprintable()
    return value if ok else None


def count(value: Any) -> int:
    """A follower or like count from a payload: 0 when missing or junk, never negative, fits the column."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return 0
    return int(min(max(value, 0), MAX_COUNT))


def lang_code(value: Any) -> Optional[str]:
    """The ISO 639 code of a payload's language tag ("pt-BR" -> "pt"); None for anything else."""
    if not isinstance(value, str):
        return None
    primary = value.strip().replace("_", "-").split("-")[0].lower()
    return primary if primary.isascii() and primary.isalpha() and 2 <= len(primary) <= 3 else None


def _utf8(value: str) -> str:
    """A lone surrogate (an emoji's JSON escape cut in half) cannot be stored as UTF-8: U+FFFD."""
    try:
        value.encode("utf-8")
        return value
    except UnicodeEncodeError:
        return value.encode("utf-8", "surrogatepass").decode("utf-8", "replace")


def _json_safe(value: Any) -> Any:
    if isinstance(value, str):
        return _utf8(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None  # NaN is not JSON (PostgreSQL refuses it)
    if isinstance(value, dict):
        return {_utf8(str(k)): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def _ref(value: Any, limit: int = 200) -> Optional[str]:
    if isinstance(value, bool) or not isinstance(value, (str, int)) or value == "":
        return None
    text = _utf8(str(value))
    return text if len(text) <= limit else None


def storable(m: dict) -> tuple[Optional[dict], str]:
    """Mention dict `m` as the store can take it, or (None, why not). Identity, text, time and a
    known kind must be there; optional fields that do not fit the columns (an over-long author or
    reference, a junk count or rating, a language that is no code) are cut or cleared, and lone
    surrogates become U+FFFD. The runner skips, and logs, a mention that cannot be stored."""
    native = _ref(m.get("native_id"))
    who = f"{str(m.get('platform'))[:50]}:{str(m.get('native_id'))[:100]!r}"
    if native is None or not native.strip():
        return None, f"item {who}: no usable native_id (1-200 characters)"
    platform = m.get("platform")
    if not isinstance(platform, str) or not 0 < len(platform) <= 50:
        return None, f"item {who}: no usable platform"
    text = m.get("text")
    if not isinstance(text, str) or not text.strip():
        return None, f"item {who}: no text"
    created = m.get("created_at")
    if not isinstance(created, datetime) or created.tzinfo is None:
        return None, f"item {who}: no valid created_at"
    kind = m.get("kind") or "post"
    if kind not in KINDS:
        return None, f"item {who}: kind {str(kind)[:20]!r} is not one of {', '.join(KINDS)}"
    lang, url, rating = m.get("lang"), m.get("url"), m.get("rating")
    author = m.get("author")
    out = dict(m, native_id=native, text=_utf8(text), kind=kind,
               author=_utf8(author if isinstance(author, str) else "")[:200],
               url=_utf8(url) if isinstance(url, str) and url else None,
               lang=_utf8(lang) if isinstance(lang, str) and 0 < len(lang) <= 16 else None,
               thread_id=_ref(m.get("thread_id")), parent_id=_ref(m.get("parent_id")),
               author_reach=count(m.get("author_reach")),
               rating=rating if isinstance(rating, int) and not isinstance(rating, bool) and 1 <= rating <= 5 else None,
               raw=_json_safe(m["raw"]) if isinstance(m.get("raw"), dict) else None)
    return out, ""
