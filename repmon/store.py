"""The store: engine, schema migrations, and the writes every stage shares.

SQLite (WAL) is the embedded default; PostgreSQL is selected by `database.url`.
Writes of mentions go through `upsert_mentions`, which is idempotent on
(platform, native_id) and saves the collector cursor in the same transaction,
so a crash between fetching and storing never loses or duplicates a mention.
"""

from __future__ import annotations

import logging
import math
from contextlib import contextmanager
from datetime import datetime
from importlib import resources
from typing import Any, Iterable, Iterator, Optional

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from repmon.errors import StoreError
from repmon.models import Brand, CollectorCursor, Mention, MentionRevision, Source, utcnow

log = logging.getLogger(__name__)

_engines: dict[str, Engine] = {}
MENTION_COLUMNS = [c.name for c in Mention.__table__.columns if c.name != "id"]
# What a re-collected mention may change: an edited post keeps its identity, first-seen time
# and detected language. `raw` follows the others (PostgreSQL's json has no equality to compare).
_COMPARED = ("text", "url", "author_reach", "rating")
_UPDATABLE = (*_COMPARED, "raw")


def _on_sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    try:
        cur.execute("SELECT log10(1)")
    except Exception:  # SQLite built without its math functions: the dashboard's index needs log10
        dbapi_conn.create_function("log10", 1, lambda x: math.log10(x) if x and x > 0 else None, deterministic=True)
    cur.close()


def get_engine(url: str) -> Engine:
    """One engine per URL per process."""
    if url not in _engines:
        if url.startswith("sqlite"):
            engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
            sa.event.listen(engine, "connect", _on_sqlite_connect)
        else:
            # Short multi-row statements stay under the size psycopg caches its parsed form for;
            # measured by benchmarks/ingest.py (50 rows: ~1.5x faster than 1,000).
            engine = sa.create_engine(url, pool_pre_ping=True, insertmanyvalues_page_size=50)
        _engines[url] = engine
    return _engines[url]


def dispose_engines() -> None:
    for engine in _engines.values():
        engine.dispose()
    _engines.clear()


def redact_url(url: str) -> str:
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparseable database url>"


def migrate(url: str, revision: str = "head") -> None:
    """Bring the schema to `revision` with Alembic (creates it on a new database)."""
    from alembic import command
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(resources.files("repmon") / "migrations"))
    engine = get_engine(url)
    try:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
    except sa.exc.OperationalError as exc:
        raise StoreError(
            f"cannot reach the database at {redact_url(url)}: {exc.orig}. "
            "Check database.url in the config (or $REPMON_DATABASE_URL)."
        ) from None


def current_revision(url: str) -> Optional[str]:
    from alembic.runtime.migration import MigrationContext

    with get_engine(url).connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


@contextmanager
def session(url: str) -> Iterator[Session]:
    """A session whose work commits on success and rolls back on error."""
    with Session(get_engine(url), expire_on_commit=False) as s:
        try:
            yield s
            s.commit()
        except Exception:
            s.rollback()
            raise


def _insert_for(dialect: str) -> Any:
    if dialect == "postgresql":
        return postgresql.insert
    if dialect == "sqlite":
        return sqlite.insert
    raise StoreError(f"unsupported database dialect {dialect!r}")


def upsert_mentions(
    s: Session, rows: Iterable[dict], *, cursor: Optional[tuple[str, str]] = None
) -> tuple[int, int]:
    """Insert new mentions and update edited ones; returns (inserted, updated).

    An edited post keeps its earlier text in MentionRevision. A row with `deleted: True`
    marks the stored post as removed at the source and never overwrites its last known text.
    `cursor` = (source, value) is saved in the same transaction, so the mentions and
    the position they were read up to are committed together or not at all.
    """
    now = utcnow()
    # Dedupe inside the batch too: a stream may re-emit an item within one page.
    batch = list({(r["platform"], r["native_id"]): r for r in (_mention_row(r, now) for r in rows)}.values())
    inserted = updated = 0
    live = [r for r in batch if r["deleted_at"] is None]
    gone = [r for r in batch if r["deleted_at"] is not None]
    table = Mention.__table__
    insert = _insert_for(s.get_bind().dialect.name)
    if live:
        before = _stored_texts(s, live)
        stmt = insert(table)
        changed = sa.or_(*(table.c[c].is_distinct_from(stmt.excluded[c]) for c in _COMPARED))
        # Only rows that were inserted or really changed come back; an insert carries this
        # batch's collected_at, an update keeps the first-seen one. RETURNING also lets
        # SQLAlchemy send many rows per statement instead of one round trip per row.
        stmt = stmt.on_conflict_do_update(
            index_elements=["platform", "native_id"], set_={c: stmt.excluded[c] for c in _UPDATABLE}, where=changed
        ).returning(table.c.id, table.c.collected_at, table.c.platform, table.c.native_id, table.c.text)
        revisions = []
        for mention_id, collected_at, platform, native_id, text in s.execute(stmt, live).all():
            if collected_at == now:
                inserted += 1
                continue
            updated += 1
            old = before.get((platform, native_id))
            if old is not None and old != text:
                revisions.append({"mention_id": mention_id, "text": old, "replaced_at": now})
        if revisions:
            s.execute(sa.insert(MentionRevision.__table__), revisions)
    if gone:
        stmt = insert(table)
        stmt = stmt.on_conflict_do_update(
            index_elements=["platform", "native_id"], set_={"deleted_at": stmt.excluded.deleted_at},
            where=table.c.deleted_at.is_(None),
        ).returning(table.c.collected_at)
        for (collected_at,) in s.execute(stmt, gone).all():
            inserted += collected_at == now
            updated += collected_at != now
    if cursor is not None:
        save_cursor(s, *cursor)
    return inserted, updated


def _stored_texts(s: Session, rows: list[dict]) -> dict[tuple[str, str], str]:
    """Current texts of the batch's posts that are already stored (for edit history)."""
    by_platform: dict[str, list[str]] = {}
    for r in rows:
        by_platform.setdefault(r["platform"], []).append(r["native_id"])
    pg = s.get_bind().dialect.name == "postgresql"
    found: dict[tuple[str, str], str] = {}
    for platform, ids in by_platform.items():
        # One array parameter on PostgreSQL: a 500-item IN list costs psycopg more to parse than to run.
        match = (Mention.native_id == sa.any_(sa.literal(ids, postgresql.ARRAY(sa.String)))) if pg \
            else Mention.native_id.in_(ids)
        q = sa.select(Mention.native_id, Mention.text).where(Mention.platform == platform, match)
        found.update({(platform, n): t for n, t in s.execute(q)})
    return found


def _mention_row(r: dict, now: datetime) -> dict:
    missing = [k for k in ("platform", "native_id", "text", "created_at", "source") if r.get(k) in (None, "")]
    if missing:
        raise StoreError(f"mention {r.get('platform')}:{r.get('native_id')} lacks {', '.join(missing)}")
    created = r["created_at"]
    if not isinstance(created, datetime) or created.tzinfo is None:
        raise StoreError(f"mention {r['platform']}:{r['native_id']}: created_at must be an aware datetime")
    row = {c: r.get(c) for c in MENTION_COLUMNS}
    row["native_id"] = str(row["native_id"])
    row["collected_at"] = now
    row["deleted_at"] = now if r.get("deleted") or (r.get("raw") or {}).get("deleted") else None
    row["author"] = row["author"] or ""
    row["author_reach"] = int(row["author_reach"] or 0)
    row["kind"] = row["kind"] or "post"
    row["is_own"] = bool(row["is_own"])
    return row


def load_cursor(s: Session, source: str) -> Optional[str]:
    row = s.get(CollectorCursor, source)
    return row.value if row else None


def save_cursor(s: Session, source: str, value: str) -> None:
    row = s.get(CollectorCursor, source)
    if row is None:
        s.add(CollectorCursor(source=source, value=value, updated_at=utcnow()))
    else:
        row.value, row.updated_at = value, utcnow()
        s.add(row)


def sync_brands(s: Session, brands: Iterable[Any]) -> dict[str, int]:
    """Mirror the configured brands into the brand table; returns name -> id."""
    ids: dict[str, int] = {}
    for b in brands:
        row = s.exec(select(Brand).where(Brand.name == b.name)).first() or Brand(name=b.name)
        row.keywords, row.handles = list(b.keywords), list(b.handles)
        row.languages, row.competitors = list(b.languages), list(b.competitors)
        s.add(row)
        s.flush()
        ids[b.name] = row.id
    return ids


def sync_sources(s: Session, sources: dict[str, Any]) -> None:
    for name, src in sources.items():
        row = s.exec(select(Source).where(Source.name == name)).first() or Source(name=name, kind=src.kind or name)
        row.kind, row.enabled = src.kind or name, src.enabled
        s.add(row)
