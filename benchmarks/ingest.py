"""Ingest speed: mentions/s through the real upsert path (repmon.store.upsert_mentions, with the
cursor in the same transaction) against a bare executemany INSERT of the same rows, measured in
the same run, on SQLite and (when it answers) PostgreSQL.

    python benchmarks/ingest.py [--n 20000] [--page 500] [--pg URL]
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa

from repmon import store
from repmon.models import Mention

WORDS = "phone bill late refund signal shop app login great thanks broken waiting order delivery".split()


def rows(n: int, prefix: str) -> list[dict]:
    rng = random.Random(1)
    t0 = datetime(2026, 11, 1, tzinfo=timezone.utc)
    return [dict(source="bench", platform="x", native_id=f"{prefix}{i}", author=f"user{rng.randrange(5000)}",
                 author_reach=rng.randrange(100_000), text=" ".join(rng.choices(WORDS, k=14)), lang="en",
                 created_at=t0 + timedelta(seconds=i), kind="post", raw={"i": i}) for i in range(n)]


def bench(url: str, n: int, page: int) -> dict:
    store.migrate(url)
    data = rows(n, "u")
    t = time.perf_counter()
    for i in range(0, n, page):
        with store.session(url) as s:
            store.upsert_mentions(s, data[i:i + page], cursor=("bench", str(i + page)))
    upsert = n / (time.perf_counter() - t)

    t = time.perf_counter()
    for i in range(0, n, page):
        with store.session(url) as s:
            store.upsert_mentions(s, data[i:i + page], cursor=("bench", str(i + page)))
    again = n / (time.perf_counter() - t)

    bare_rows = [dict(r, native_id="b" + r["native_id"], collected_at=r["created_at"], thread_id=None,
                      parent_id=None, rating=None, is_own=False, url=None, brand_id=None) for r in data]
    t = time.perf_counter()
    engine = store.get_engine(url)
    for i in range(0, n, page):
        with engine.begin() as conn:
            conn.execute(sa.insert(Mention.__table__), bare_rows[i:i + page])
    bare = n / (time.perf_counter() - t)
    return {"upsert": upsert, "re-upsert": again, "baseline": bare}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--page", type=int, default=500)
    ap.add_argument("--pg", default=os.environ.get("REPMON_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"))
    a = ap.parse_args()
    targets = []
    tmp = tempfile.mkdtemp()
    targets.append(("sqlite", f"sqlite:///{tmp}/bench.db", None))
    schema = f"repmon_bench_{uuid.uuid4().hex[:8]}"
    try:
        admin = sa.create_engine(a.pg, connect_args={"connect_timeout": 3})
        with admin.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        targets.append(("postgresql", f"{a.pg}?options=-csearch_path%3D{schema}", admin))
    except Exception as exc:
        print(f"postgresql: skipped ({type(exc).__name__}: not reachable at {store.redact_url(a.pg)})")
    print(f"{a.n:,} mentions in pages of {a.page}")
    print(f"{'store':<11} {'upsert/s':>10} {'re-upsert/s':>12} {'bare insert/s':>14} {'ratio':>7}")
    for name, url, admin in targets:
        try:
            r = bench(url, a.n, a.page)
            print(f"{name:<11} {r['upsert']:>10,.0f} {r['re-upsert']:>12,.0f} {r['baseline']:>14,.0f} "
                  f"{r['upsert'] / r['baseline']:>6.2f}x")
        finally:
            store.dispose_engines()
            if admin is not None:
                with admin.begin() as conn:
                    conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))


if __name__ == "__main__":
    main()
