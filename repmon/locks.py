"""Several `repmon run` workers on one PostgreSQL database; exactly one on SQLite.

PostgreSQL (any number of workers, on one host or many):

- **Job locks** (`held`, `guard`). Each scheduler run of a job (collect per source, cases,
  spikes, dispatch, prune, report, ...) holds a session-level advisory lock named after the job,
  taken with `pg_try_advisory_lock`: a second worker skips that run instead of queueing behind
  it. The lock lives on its own connection for as long as the run takes; a worker that dies
  (kill -9, a crashed host once TCP keepalives notice) loses its connection and with it the
  lock, so the next run of that job on any worker takes the work over from what is committed.
- **Transaction locks** (`xact`). Sections that must never interleave across processes (placing
  mentions in cases, mirroring the configured brands, migrations) also take a blocking
  `pg_advisory_xact_lock` in their own transaction. It holds even for a caller outside the
  scheduler (`repmon process` by hand next to the workers), and it cannot outlive the
  transaction: a lost connection rolls the work back with it.
- Scoring takes no job lock: each worker claims its own batch of unscored mentions with
  `FOR NO KEY UPDATE SKIP LOCKED` (repmon.pipeline.score_pending), so workers score in parallel.
  The alert dispatcher claims each outbox row with a conditional UPDATE (alerts.dispatcher), so
  two dispatchers never send one row even without the job lock.

Lock keys are 64-bit hashes of ``repmon:<schema>:<name>``: two deployments in different schemas
of one database never block each other. `holders` says which connection (application_name, pid)
holds which job.

SQLite has one writer: `single_worker` makes `repmon run` / `repmon up` hold an exclusive
`flock` on ``<database>.run.lock`` beside the database file, and a second one exits with a
one-line message instead of starting.
"""

from __future__ import annotations

import hashlib
import logging
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import sqlalchemy as sa

from repmon import store
from repmon.errors import StoreError

log = logging.getLogger(__name__)

_schemas: dict[str, str] = {}  # engine URL -> current_schema(), asked once per process


class Skipped(str):
    """A job run that another worker was doing (what the scheduler logs as its result)."""


def is_postgres(url: str) -> bool:
    try:
        return sa.engine.make_url(url).get_backend_name() == "postgresql"
    except Exception:
        return False


def key(schema: str, name: str) -> int:
    """The advisory lock key (a signed bigint) of `name` in `schema`."""
    digest = hashlib.blake2b(f"repmon:{schema}:{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _key_on(conn: sa.Connection, name: str) -> int:
    url = conn.engine.url.render_as_string(hide_password=False)
    schema = _schemas.get(url)
    if schema is None:
        schema = conn.execute(sa.text("SELECT current_schema()")).scalar()
        if schema is None:  # the search_path names no schema that exists yet: ask again next time
            return key("public", name)
        _schemas[url] = schema
    return key(schema, name)


@contextmanager
def held(url: str, name: str) -> Iterator[bool]:
    """Hold the job lock `name` for the block: yields True when this process has it, False when
    another worker holds it (the block should then do nothing). Always True on SQLite, where
    `single_worker` already keeps a second scheduler out."""
    if not is_postgres(url):
        yield True
        return
    conn = store.get_engine(url).connect()
    try:
        k = _key_on(conn, f"job:{name}")  # apart from the xact() names: those are taken inside jobs
        mine = bool(conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": k}).scalar())
        conn.commit()  # the lock is the session's, not the transaction's: stay idle, not idle in transaction
    except BaseException:
        conn.close()
        raise
    if not mine:
        conn.close()
        yield False
        return
    try:
        yield True
    finally:
        try:
            conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": k})
            conn.commit()
        except Exception as exc:  # the connection died during the run: the server dropped the lock with it
            log.warning("lock=%s: its connection was lost while the job ran (%s); the lock went with it",
                        name, type(exc).__name__)
            conn.invalidate()
        finally:
            conn.close()


def guard(url: str, name: str, fn: Callable[[], Any]) -> Callable[[], Any]:
    """`fn` as a job run under the lock `name`: a worker that finds it taken skips the run."""

    def run() -> Any:
        with held(url, name) as mine:
            if not mine:
                return Skipped(f"skipped: another worker is running {name}")
            return fn()

    return run


def xact(s: Any, name: str) -> None:
    """Wait for and take the transaction-level lock `name` in the session's (or connection's)
    current transaction; it is released at commit or rollback. Nothing on SQLite, whose
    single writer already serializes write transactions."""
    conn = s if isinstance(s, sa.Connection) else s.connection()
    if conn.dialect.name != "postgresql":
        return
    conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _key_on(conn, name)})


def holders(url: str, names: Iterable[str]) -> dict[str, dict]:
    """Which server session holds which of the job locks `names`: name -> {pid, application_name,
    client, since}. Only PostgreSQL has them; {} on SQLite."""
    if not is_postgres(url):
        return {}
    with store.get_engine(url).connect() as conn:
        wanted = {_key_on(conn, f"job:{n}") & 0xFFFFFFFFFFFFFFFF: n for n in names}
        rows = conn.execute(sa.text(
            "SELECT l.classid::bigint, l.objid::bigint, l.pid, a.application_name, "
            "host(a.client_addr) || ':' || a.client_port, a.backend_start "
            "FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.objsubid = 1 AND l.granted "
            "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())")).all()
    out = {}
    for classid, objid, pid, app, client, since in rows:
        name = wanted.get((classid << 32) | objid)
        if name is not None:
            out[name] = {"pid": pid, "application_name": app, "client": client, "since": since}
    return out


def sqlite_path(url: str) -> Path | None:
    """The database file of a SQLite URL; None for an in-memory database or another store."""
    try:
        u = sa.engine.make_url(url)
    except Exception:
        return None
    if u.get_backend_name() != "sqlite" or not u.database or u.database == ":memory:" or u.database.startswith("file:"):
        return None
    return Path(u.database).resolve()


@contextmanager
def single_worker(url: str) -> Iterator[None]:
    """On SQLite: hold an exclusive lock on `<database>.run.lock` for the block, or raise a
    one-line StoreError when another `repmon run` holds it. The kernel drops the lock when the
    process ends, however it ends. Does nothing on PostgreSQL."""
    db = sqlite_path(url)
    if db is None:
        yield
        return
    try:
        import fcntl
    except ImportError:  # not a POSIX system: no guard
        log.warning("cannot lock %s against a second `repmon run` on this platform", db)
        yield
        return
    path = db.with_name(db.name + ".run.lock")
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        other = os.pread(fd, 32, 0).decode(errors="replace").strip()
        os.close(fd)
        raise StoreError(f"another `repmon run`{f' (pid {other})' if other.isdigit() else ''} is already using "
                         f"{db}: SQLite is single-worker; to run several workers, use PostgreSQL "
                         "(database.url, see docs/DEPLOY.md)") from None
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # the file stays: removing it could let a waiting opener lock a stale inode
