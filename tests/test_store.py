"""The store on SQLite and PostgreSQL: schema, idempotent upserts, cursors, UTC."""

from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel, func, select

from repmon import store
from repmon.errors import StoreError
from repmon.models import CollectorCursor, Mention, MentionRevision

T0 = datetime(2026, 11, 20, 9, 30, tzinfo=timezone.utc)
HEAD = "0006"


def _m(native_id: str, text: str = "hello @tidewell", **kw) -> dict:
    return dict(source="test", platform="x", native_id=native_id, text=text, created_at=T0, author="a", **kw)


def _count(url: str) -> int:
    with store.session(url) as s:
        return s.exec(select(func.count()).select_from(Mention)).one()


def test_migrations_create_exactly_the_models(db_url):
    with store.get_engine(db_url).connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": False}), SQLModel.metadata)
    assert diff == []
    assert store.current_revision(db_url) == HEAD
    store.migrate(db_url)  # upgrading an up-to-date database is a no-op
    assert store.current_revision(db_url) == HEAD


def test_upsert_twice_never_duplicates(db_url):
    rows = [_m(str(i)) for i in range(1200)]  # more than one chunk
    with store.session(db_url) as s:
        assert store.upsert_mentions(s, rows) == (1200, 0)
    with store.session(db_url) as s:
        assert store.upsert_mentions(s, rows) == (0, 0)
    assert _count(db_url) == 1200


def test_duplicates_inside_one_batch_collapse(db_url):
    with store.session(db_url) as s:
        assert store.upsert_mentions(s, [_m("1"), _m("1", text="edited")]) == (1, 0)
    assert _count(db_url) == 1


def test_upgrade_in_place_keeps_the_data(bare_db_url):
    url = bare_db_url
    store.migrate(url, "0001")
    with store.get_engine(url).begin() as conn:
        conn.execute(sa.text("INSERT INTO mention (source, platform, native_id, author, author_reach, text, "
                             "created_at, collected_at, kind, is_own) VALUES ('s', 'x', '1', 'a', 0, 'kept', "
                             ":t, :t, 'post', false)"), {"t": T0.replace(tzinfo=None)})
    store.migrate(url)
    assert store.current_revision(url) == HEAD
    with store.session(url) as s:
        m = s.exec(select(Mention)).one()
    assert (m.text, m.deleted_at) == ("kept", None)


def test_edited_post_updates_text_but_keeps_identity(db_url):
    with store.session(db_url) as s:
        store.upsert_mentions(s, [_m("1")])
    with store.session(db_url) as s:
        first = s.exec(select(Mention)).one()
    with store.session(db_url) as s:
        assert store.upsert_mentions(s, [_m("1", text="hello @tidewell (edited)")]) == (0, 1)
    with store.session(db_url) as s:
        again = s.exec(select(Mention)).one()
    assert (again.id, again.created_at, again.text) == (first.id, first.created_at, "hello @tidewell (edited)")
    with store.session(db_url) as s:
        history = s.exec(select(MentionRevision)).all()
    assert [(h.mention_id, h.text) for h in history] == [(first.id, "hello @tidewell")]


def test_deleted_post_is_marked_and_keeps_its_text(db_url):
    with store.session(db_url) as s:
        store.upsert_mentions(s, [_m("1", text="my bill is wrong @tidewell")])
    with store.session(db_url) as s:
        assert store.upsert_mentions(s, [_m("1", text="[removed]", deleted=True)]) == (0, 1)
    with store.session(db_url) as s:
        assert store.upsert_mentions(s, [_m("1", text="[removed]", deleted=True)]) == (0, 0)  # marked once
        assert store.upsert_mentions(s, [_m("2", text="[deleted]", raw={"deleted": True})]) == (1, 0)
    with store.session(db_url) as s:
        kept = s.exec(select(Mention).where(Mention.native_id == "1")).one()
    assert kept.text == "my bill is wrong @tidewell" and kept.deleted_at is not None


def test_same_native_id_on_two_platforms_is_two_mentions(db_url):
    with store.session(db_url) as s:
        store.upsert_mentions(s, [_m("1"), dict(_m("1"), platform="reddit")])
    assert _count(db_url) == 2


def test_cursor_commits_with_its_mentions_or_not_at_all(db_url):
    with pytest.raises(RuntimeError):
        with store.session(db_url) as s:
            store.upsert_mentions(s, [_m("1"), _m("2")], cursor=("src", "page-2"))
            raise RuntimeError("killed between fetch and commit")
    assert _count(db_url) == 0
    with store.session(db_url) as s:
        assert store.load_cursor(s, "src") is None
        store.upsert_mentions(s, [_m("1"), _m("2")], cursor=("src", "page-2"))
    with store.session(db_url) as s:
        assert store.load_cursor(s, "src") == "page-2"
        assert s.get(CollectorCursor, "src").updated_at.tzinfo is not None
    assert _count(db_url) == 2


def test_times_come_back_aware_utc(db_url):
    bucharest = timezone(timedelta(hours=2))
    with store.session(db_url) as s:
        store.upsert_mentions(s, [dict(_m("1"), created_at=T0.astimezone(bucharest))])
    with store.session(db_url) as s:
        m = s.exec(select(Mention)).one()
        later = s.exec(select(Mention).where(Mention.created_at > T0 - timedelta(seconds=1))).all()
    assert m.created_at == T0 and m.created_at.utcoffset() == timedelta(0)
    assert len(later) == 1  # comparisons work across the stored form


def test_bad_rows_are_refused_with_a_reason(db_url):
    with store.session(db_url) as s:
        with pytest.raises(StoreError, match="lacks text"):
            store.upsert_mentions(s, [dict(_m("1"), text="")])
        with pytest.raises(StoreError, match="aware datetime"):
            store.upsert_mentions(s, [dict(_m("1"), created_at=datetime(2026, 1, 1))])


def test_unreachable_database_says_which_key_to_fix():
    with pytest.raises(StoreError, match="database.url"):
        store.migrate("postgresql+psycopg://nobody:secret@127.0.0.1:1/none?connect_timeout=2")


def test_redact_url_hides_passwords():
    assert "secret" not in store.redact_url("postgresql+psycopg://u:secret@h/db")


def test_sqlite_runs_in_wal_mode(sqlite_url):
    store.migrate(sqlite_url)
    with store.get_engine(sqlite_url).connect() as conn:
        assert conn.execute(sa.text("PRAGMA journal_mode")).scalar() == "wal"
