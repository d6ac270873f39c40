"""A crisis replay (issue #9): 100,000 mentions arriving within one hour, through the real
pipeline (file-import collector -> matching and language detection -> scorer -> cases ->
spike check -> alert outbox -> slack_sdk to a local Slack-like server), as fast as the machine
goes. The hour is compressed: each minute's posts land in a new import file and one scheduler
cycle (collect, score, cases, spikes, dispatch until nothing is due) runs on it.

Prints the wall time against the hour, throughput against raw VADER scoring the same posts in
the same run (the cheapest possible "pipeline"), the delay from fetch (mention.collected_at) to
the first Slack message that carried each case's alert (p50/p95; a case folded into a flood
digest counts when the first digest message that includes it was sent), and the resident
memory per cycle, which should stay flat.

    python benchmarks/crisis_replay.py [--n 100000] [--minutes 60] [--store sqlite|postgres]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import timedelta

import sqlalchemy as sa
from sqlmodel import select

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from alerts import outbox, spikes  # noqa: E402
from repmon import cases, config, demo, pipeline, store  # noqa: E402
from repmon.models import AlertOutbox, Case, CaseMention, Mention, utcnow  # noqa: E402
from scoring import get_scorer  # noqa: E402
from scoring.base import Post  # noqa: E402
from tests.slack_server import TOKEN, SlackLike  # noqa: E402


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS")) / 1024


def write_minute(folder: str, minute: int, posts: list[dict]) -> None:
    """The minute's posts, written as they would arrive: posted within the last minute, so their
    SLA clocks start now, as in a live crisis (the replay compresses the hour, not the clocks)."""
    now, rng = utcnow(), random.Random(minute)
    with open(os.path.join(folder, f"minute-{minute:03d}.jsonl"), "w", encoding="utf-8") as f:
        for p in posts:
            p = dict(p, created_at=(now - timedelta(seconds=rng.uniform(0, 59))).isoformat())
            f.write(json.dumps(p, ensure_ascii=False) + "\n")


def crisis_posts(n: int, minutes: int) -> list[list[dict]]:
    """The demo's project-written posts (eight languages), re-authored, `n` spread over the minutes."""
    rng = random.Random(5)
    pool = [m for m in demo.generate(utcnow()) if not m.get("is_own")]
    per_minute = [[] for _ in range(minutes)]
    for i in range(n):
        m = rng.choice(pool)
        per_minute[min(minutes - 1, int(i * minutes / n))].append({
            "native_id": f"c{i}", "text": m["text"], "author": f"user{rng.randrange(n // 3)}",
            "author_reach": rng.choice([3, 40, 250, 1_200, 15_000]), "lang": m.get("lang"),
            "platform": m["platform"],
        })
    return per_minute


def delays(url: str) -> list[float]:
    """Seconds from a case's first fetched post to the first Slack message carrying its alert."""
    with store.session(url) as s:
        fetched = dict(s.exec(select(CaseMention.case_id, sa.func.min(Mention.collected_at))
                              .join(Mention, Mention.id == CaseMention.mention_id)
                              .group_by(CaseMention.case_id)).all())
        rows = s.exec(select(AlertOutbox).where(AlertOutbox.kind.in_(
            ["case_opened", "digest", "digest_update"]))).all()
    carriers: dict[int, list] = {}
    for r in rows:
        if r.kind != "case_opened" and r.sent_at is not None:
            carriers.setdefault(r.digest_id or r.id, []).append(r)
    out = []
    for r in rows:
        if r.kind != "case_opened" or r.case_id not in fetched:
            continue
        if r.status == "sent":
            reached = r.sent_at
        elif r.status == "digested":
            later = [c.sent_at for c in carriers.get(r.digest_id, []) if c.sent_at >= r.created_at]
            reached = min(later) if later else None
        else:
            reached = None
        if reached is not None:
            out.append((reached - fetched[r.case_id]).total_seconds())
    return out


def run(url: str, a: argparse.Namespace, slack: SlackLike) -> None:
    folder = tempfile.mkdtemp()
    cfg = config.parse({
        "database": {"url": url},
        "sources": {"crisis": {"kind": "file_import", "path": os.path.join(folder, "*.jsonl"),
                               "format": "jsonl", "page_size": 1000, "match_brand": False,
                               "columns": {"native_id": "native_id", "platform": "platform"}}},
        "alerts": {"slack": [{"name": "oncall", "bot_token": TOKEN, "channel": "C0ALERTS1", "api_url": slack.api_url}]},
    }, "crisis")
    store.migrate(url)
    minutes = crisis_posts(a.n, a.minutes)
    posts = [Post(id=p["native_id"], text=p["text"]) for batch in minutes for p in batch]
    vader = get_scorer("vader")
    t = time.perf_counter()
    vader.score(posts)
    vader_rate = len(posts) / (time.perf_counter() - t)

    stage_time = {k: 0.0 for k in ("collect", "score", "cases", "spikes", "dispatch")}
    memory = []
    t_all = time.perf_counter()
    for minute, batch in enumerate(minutes):
        write_minute(folder, minute, batch)
        for name, fn in (("collect", lambda: pipeline.collect(cfg, only="crisis")),
                         ("score", lambda: pipeline.score_pending(cfg)),
                         ("cases", lambda: cases.update_cases(cfg)),
                         ("spikes", lambda: spikes.check(cfg))):
            t = time.perf_counter()
            fn()
            stage_time[name] += time.perf_counter() - t
        t = time.perf_counter()
        while outbox.dispatch(cfg).sent:
            pass
        stage_time["dispatch"] += time.perf_counter() - t
        memory.append(rss_mb())
        if minute % 10 == 9 or minute == a.minutes - 1:
            done = sum(len(b) for b in minutes[:minute + 1])
            print(f"  minute {minute + 1:>3}: {done:>7,} mentions  {time.perf_counter() - t_all:6.1f} s  "
                  f"RSS {memory[-1]:.0f} MB", flush=True)
    wall = time.perf_counter() - t_all

    with store.session(url) as s:
        stored = s.exec(select(sa.func.count()).select_from(Mention)).one()
        distinct = s.exec(select(sa.func.count(sa.distinct(Mention.native_id)))).one()
        opened = s.exec(select(sa.func.count()).select_from(Case)).one()
        by_status = dict(s.exec(select(AlertOutbox.status, sa.func.count()).group_by(AlertOutbox.status)).all())
    d = sorted(delays(url))
    rate = a.n / wall
    print(f"{a.n:,} mentions over a {a.minutes}-minute crisis replayed in {wall:.0f} s "
          f"({a.minutes * 60 / wall:.1f}x faster than they arrived)")
    print(f"stored {stored:,} mentions ({distinct:,} distinct), {opened:,} cases, alert rows {by_status}, "
          f"Slack calls {len(slack.received):,}")
    print(f"end to end {rate:,.0f} mentions/s vs raw VADER alone {vader_rate:,.0f} posts/s: {rate / vader_rate:.2f}x")
    print("stage seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in stage_time.items()))
    if d:
        print(f"fetch -> Slack delay over {len(d):,} alerted cases: p50 {statistics.median(d):.1f} s, "
              f"p95 {d[int(0.95 * (len(d) - 1))]:.1f} s, max {d[-1]:.1f} s")
    tenth = max(1, len(memory) // 10)
    print(f"resident memory: first tenth {statistics.mean(memory[:tenth]):.0f} MB, "
          f"last tenth {statistics.mean(memory[-tenth:]):.0f} MB, peak {max(memory):.0f} MB")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--minutes", type=int, default=60)
    ap.add_argument("--store", choices=["sqlite", "postgres"], default="sqlite")
    ap.add_argument("--pg", default=os.environ.get("REPMON_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"))
    a = ap.parse_args()
    with SlackLike() as slack:
        if a.store == "sqlite":
            run(f"sqlite:///{tempfile.mkdtemp()}/crisis.db", a, slack)
            return
        schema = f"repmon_crisis_{uuid.uuid4().hex[:8]}"
        admin = sa.create_engine(a.pg)
        with admin.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        try:
            run(f"{a.pg}?options=-csearch_path%3D{schema}", a, slack)
        finally:
            store.dispose_engines()
            with admin.begin() as conn:
                conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))


if __name__ == "__main__":
    main()
