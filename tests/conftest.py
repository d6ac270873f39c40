"""Shared fixtures. Store tests run on SQLite and on PostgreSQL (each test in a schema of its own);
PostgreSQL tests skip with a message where no server answers at REPMON_TEST_PG_URL."""

from __future__ import annotations

import os
import uuid
from typing import Iterator

import pytest
import sqlalchemy as sa

from repmon import config, store

PG_URL = os.environ.get("REPMON_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
_pg_state: dict = {}


def pg_reason() -> str | None:
    """None when PostgreSQL answers; otherwise why the PostgreSQL tests skip."""
    if "reason" not in _pg_state:
        try:
            engine = sa.create_engine(PG_URL, connect_args={"connect_timeout": 3})
            with engine.connect() as conn:
                conn.execute(sa.text("select 1"))
            engine.dispose()
            _pg_state["reason"] = None
        except Exception as exc:
            _pg_state["reason"] = (f"PostgreSQL not reachable at {store.redact_url(PG_URL)} ({type(exc).__name__}); "
                                   "start it or set REPMON_TEST_PG_URL to run these tests")
    return _pg_state["reason"]


@pytest.fixture
def pg_url() -> Iterator[str]:
    reason = pg_reason()
    if reason:
        pytest.skip(reason)
    schema = f"repmon_test_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    url = f"{PG_URL}?options=-csearch_path%3D{schema}"
    try:
        yield url
    finally:
        engine = store._engines.pop(url, None)
        if engine is not None:
            engine.dispose()
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'repmon.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def bare_db_url(request) -> str:
    """An empty database on each store, no schema yet."""
    return request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")


@pytest.fixture
def db_url(bare_db_url) -> str:
    """The same test on both stores, schema at head."""
    store.migrate(bare_db_url)
    return bare_db_url


@pytest.fixture
def cfg(db_url) -> config.Config:
    """Built-in demo settings on the test database."""
    return config.parse({"database": {"url": db_url}}, "test")


@pytest.fixture(autouse=True)
def _no_stray_config(monkeypatch, tmp_path):
    # A developer's own repmon.toml or env must not leak into tests.
    for var in ("REPMON_CONFIG", "REPMON_DATABASE_URL", "SLACK_WEBHOOK_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)
