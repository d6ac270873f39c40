"""The store: engine, schema migrations, and the writes every stage shares.

SQLite (WAL) is the embedded default; PostgreSQL is selected by `database.url`.
Writes of mentions go through `upsert_mentions`, which is idempotent on
(platform, native_id) and saves the collector cursor in the same transaction,
so a crash between fetching and storing never loses or duplicates a mention.
"""

from __future__ import annotations

import json
import logging
import math
from contextlib import contextmanager
from functools import cache
from datetime import datetime
from importlib import resources
from typing import Any, Iterable, Iterator, Optional

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from repmon import rollups
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
            from repmon import locks

            locks.xact(conn, "migrate")  # workers starting together: one migrates, the others then find it done
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
    if live and s.get_bind().dialect.name == "postgresql":
        before, returned = _pg_upsert(s, live)
    elif live:
        before = _stored_texts(s, live)
        stmt = insert(table)
        changed = sa.or_(*(table.c[c].is_distinct_from(stmt.excluded[c]) for c in _COMPARED))
        # Only rows that were inserted or really changed come back; an insert carries this
        # batch's collected_at, an update keeps the first-seen one. RETURNING also lets
        # SQLAlchemy send many rows per statement instead of one round trip per row.
        stmt = stmt.on_conflict_do_update(
            index_elements=["platform", "native_id"], set_={c: stmt.excluded[c] for c in _UPDATABLE}, where=changed
        ).returning(table.c.id, table.c.collected_at, table.c.platform, table.c.native_id, table.c.text)
        returned = s.execute(stmt, live).all()
    if live:
        revisions = []
        for mention_id, collected_at, platform, native_id, text in returned:
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


def _pg_upsert(s: Session, rows: list[dict]) -> tuple[dict, list]:
    """The upsert on PostgreSQL: COPY the page into a temporary table, then one INSERT ... SELECT
    ... ON CONFLICT. Multi-row VALUES statements (or unnest of array parameters) cost psycopg
    more in Python than PostgreSQL spends on the rows: they ran at a quarter of a bare insert
    (benchmarks/ingest.py). The table lives with the connection; each commit empties it."""
    conn = s.connection()
    # Every time, not once per connection: a rolled-back transaction takes the new table with it.
    conn.execute(sa.text(f"CREATE TEMP TABLE IF NOT EXISTS mention_in ON COMMIT DELETE ROWS AS "
                         f"SELECT {', '.join(MENTION_COLUMNS)} FROM mention WITH NO DATA"))
    with conn.connection.driver_connection.cursor() as cur:
        with cur.copy(f"COPY mention_in ({', '.join(MENTION_COLUMNS)}) FROM STDIN") as copy:
            for r in rows:
                copy.write_row([json.dumps(r[c]) if c == "raw" and r[c] is not None else r[c]
                                for c in MENTION_COLUMNS])
    # The stored texts of the page's posts (for edit history), joined against the copy: a
    # 500-item array parameter costs psycopg more to build than this whole statement.
    before = {(p, n): t for p, n, t in conn.execute(sa.text(
        "SELECT m.platform, m.native_id, m.text FROM mention m JOIN mention_in i "
        "ON i.platform = m.platform AND i.native_id = m.native_id"))}
    return before, conn.execute(_pg_from_copy()).all()


@cache
def _pg_from_copy() -> sa.TextClause:
    names = ", ".join(MENTION_COLUMNS)
    changed = " OR ".join(f"mention.{c} IS DISTINCT FROM excluded.{c}" for c in _COMPARED)
    return sa.text(
        f"INSERT INTO mention ({names}) SELECT {names} FROM mention_in "
        f"ON CONFLICT (platform, native_id) DO UPDATE SET {', '.join(f'{c} = excluded.{c}' for c in _UPDATABLE)} "
        f"WHERE {changed} RETURNING id, collected_at, platform, native_id, text"
    )


def _stored_texts(s: Session, rows: list[dict]) -> dict[tuple[str, str], str]:
    """Current texts of the batch's posts that are already stored (for edit history; SQLite's
    path: PostgreSQL's joins them against its copy of the page in _pg_upsert)."""
    by_platform: dict[str, list[str]] = {}
    for r in rows:
        by_platform.setdefault(r["platform"], []).append(r["native_id"])
    found: dict[tuple[str, str], str] = {}
    for platform, ids in by_platform.items():
        q = sa.select(Mention.native_id, Mention.text).where(Mention.platform == platform, Mention.native_id.in_(ids))
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
        names_before = rollups.voice_names(row) if row.id else None
        row.keywords, row.handles = list(b.keywords), list(b.handles)
        row.languages, row.competitors = list(b.languages), list(b.competitors)
        s.add(row)
        s.flush()
        ids[b.name] = row.id
        if names_before is not None and names_before != rollups.voice_names(row):
            # Share of voice is counted by name: new names have to be counted over the stored posts.
            log.info("brand=%s names changed: recounting share of voice", row.id)
            rollups.rebuild(s.connection(), row.id, voice_only=True)
    return ids


def sync_sources(s: Session, sources: dict[str, Any]) -> None:
    for name, src in sources.items():
        row = s.exec(select(Source).where(Source.name == name)).first() or Source(name=name, kind=src.kind or name)
        row.kind, row.enabled = src.kind or name, src.enabled
        s.add(row)
