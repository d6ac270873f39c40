"""Dashboard page speed at scale (issue #7: with 1,000,000 mentions every page's server-side work
takes < 1 s, on SQLite and on PostgreSQL), against `SELECT count(*) FROM mention` in the same run.

Loads N synthetic mentions over 90 days (8 platforms, 8 languages, texts from the demo's phrase
templates, which name the brand or a competitor), one score each (~40% negative, 35% neutral,
25% positive; ~30% need a response) and a case for each flagged post, most of them answered.
Then times the calls each page makes with its default filters, straight through dashboard.queries
and repmon.themes (no Streamlit cache), best of 3, and says which pages miss the target.

    python benchmarks/dashboard_pages.py [--mentions 1000000] [--store sqlite|postgres|both]
                                         [--keep PATH] [--pg URL]

--keep PATH writes the SQLite database to PATH and keeps it; run again with the same PATH to
time it without loading again. The PostgreSQL schema is always dropped at the end.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import random
import shutil
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa

from dashboard import queries
from repmon import config, demo, rollups, store, themes
from repmon.models import Case, CaseMention, Mention, Score, Source, utcnow

TARGET = 1.0  # seconds per page, from the issue
DAYS = 90
CHUNK = 20_000  # mentions per transaction
WEIGHTS = {
    "platform": {"x": 34, "reddit": 12, "mastodon": 6, "bluesky": 6, "youtube": 8, "google_play": 12,
                 "app_store": 9, "trustpilot": 13},
    "lang": {"en": 44, "es": 11, "ro": 8, "fa": 8, "de": 8, "fr": 7, "pt": 6, "it": 6},
    "label": {"negative": 38, "neutral": 35, "positive": 27},  # ~40/35/25 once follow-ups and own posts are in
    "priority": {"critical": 4, "high": 16, "medium": 50, "low": 30},
    # A case's status by age: the last day's are mostly still open, older ones mostly done.
    "recent": {"new": 40, "acknowledged": 15, "waiting": 10, "responded": 25, "resolved": 5, "dismissed": 5},
    "older": {"new": 2, "acknowledged": 1, "waiting": 2, "responded": 10, "resolved": 65, "dismissed": 15, "gone": 5},
}
FIRST_SLA = {"critical": 30, "high": 60, "medium": 240, "low": 1440}  # minutes, the config defaults
RESOLVE_SLA = {"critical": 240, "high": 480, "medium": 1440, "low": 4320}
SENTIMENT = {"negative": (-0.95, -0.05), "neutral": (-0.05, 0.05), "positive": (0.05, 0.95)}
REVIEWS = {"google_play", "app_store", "trustpilot"}
NEGATIVE = {"delivery", "billing", "defect", "service", "account", "outage", "sarcasm", "legal", "abuse", "threat"}
CATEGORY = {"sarcasm": "service", "legal": "service", "threat": "abuse", "spam": "other", "neutral": "other",
            "competitor": "other", "own_reply": "other"}  # other scenarios are their own category
AGENTS = ["ana", "bogdan", "carla", "dev", "emil", "farah"]


def generate(n: int, brand_id: int, now: datetime):
    """Yields {model: rows} per CHUNK mentions. Ids are given here, so scores and cases can point
    at their mentions without reading anything back."""
    rng = random.Random(7)
    # label (or "own") -> language -> (text, scenario), from the demo's project-written templates
    pool: dict[str, dict[str, list]] = {"negative": {}, "neutral": {}, "positive": {}, "own": {}}
    for m in demo.generate(datetime(2026, 1, 5, tzinfo=timezone.utc)):
        scenario = m["raw"]["scenario"]
        label = ("own" if scenario == "own_reply" else "negative" if scenario in NEGATIVE
                 else "positive" if scenario == "praise" else "neutral")
        pool[label].setdefault(m["lang"], []).append((m["text"], scenario))
    cums = {k: (list(w), list(itertools.accumulate(w.values()))) for k, w in WEIGHTS.items()}

    def pick(kind: str) -> str:
        return rng.choices(cums[kind][0], cum_weights=cums[kind][1])[0]

    start, authors, case_id, follow = now - timedelta(days=DAYS), max(1000, n // 5), 0, None
    for lo in range(1, n + 1, CHUNK):
        out: dict = {Mention: [], Score: [], Case: [], CaseMention: []}
        last = min(lo + CHUNK, n + 1) - 1
        for i in range(lo, last + 1):
            created = start + timedelta(days=DAYS * (i - rng.random()) / n)  # ids grow with time, as collected
            if follow is not None:  # the author of the previous flagged post writes again in its thread
                case, platform, who, author, lang, thread = follow
                own, label, kind, follow = False, "negative", "comment", None
            else:
                case, platform, lang, thread = None, pick("platform"), pick("lang"), None
                own = rng.random() < 0.03
                # Squaring skews authors: a few regulars write often, so "earlier cases" has something to find.
                who = int(authors * rng.random() ** 2)
                author = "@tidewellhelp" if own else f"@user{who}"
                label = "neutral" if own else pick("label")
                kind = "review" if platform in REVIEWS else "comment" if rng.random() < 0.3 else "post"
            texts = pool["own" if own else label]
            text, scenario = rng.choice(texts.get(lang) or texts["en"])
            flagged = label == "negative" and (case is not None or rng.random() < 0.75)
            category = CATEGORY.get(scenario, scenario)
            priority = pick("priority") if flagged else "low"
            native = f"{platform}-{i}"
            # Reach fixed per author, log-uniform from 1 to ~160k followers.
            reach = 48_500 if own else int(math.exp(12 * (who * 7919 % 10007) / 10007))
            out[Mention].append(dict(
                id=i, brand_id=brand_id, source=platform, platform=platform, native_id=native,
                url=f"https://{platform}.example/{author[1:]}/{i}", author=author, author_reach=reach, text=text,
                lang=lang, created_at=created, collected_at=created + timedelta(minutes=2), thread_id=thread,
                parent_id=thread, kind=kind, is_own=own, deleted_at=None, raw={"seq": i, "scenario": scenario},
                rating={"negative": 1, "neutral": 3, "positive": 5}[label] if kind == "review" else None))
            out[Score].append(dict(
                id=i, mention_id=i, scorer="triage", lang=lang, sentiment=rng.uniform(*SENTIMENT[label]), label=label,
                needs_response=flagged, priority=priority, category=category, scored_at=created + timedelta(minutes=3),
                reasons=["negative sentiment", f"category: {category}"] if flagged else []))
            if flagged and case is None:
                case_id += 1
                case = new_case(rng, pick, case_id, brand_id, platform, author, lang, native, priority, category,
                                created, now)
                out[Case].append(case)
                if i < last and rng.random() < 0.15:  # a second post, in this chunk so the case row is still here
                    follow = (case, platform, who, author, lang, native)
            elif case is not None:
                case["last_post_at"] = created
            if flagged:
                out[CaseMention].append(dict(case_id=case["id"], mention_id=i))
        yield out


def new_case(rng, pick, case_id, brand_id, platform, author, lang, native, priority, category, created, now) -> dict:
    opened = created + timedelta(minutes=rng.uniform(1, 5))
    status = pick("recent" if now - opened < timedelta(days=1) else "older")
    answered = status in ("waiting", "responded", "resolved")
    # Most first responses land inside the SLA, some after it.
    first = min(now, opened + timedelta(minutes=rng.expovariate(1 / (0.6 * FIRST_SLA[priority])))) if answered else None
    resolved = min(now, first + timedelta(hours=rng.uniform(0.5, 30))) if status == "resolved" else None
    reply = f"Hi {author}, sorry about the trouble ({category}). Could you DM us your account number so we can look?"
    return dict(
        id=case_id, brand_id=brand_id, platform=platform, author=author, thread_key=f"{platform}:{native}",
        status=status, priority=priority, category=category, lang=lang,
        owner=None if status == "new" and rng.random() < 0.7 else rng.choice(AGENTS),
        opened_at=opened, last_post_at=created, first_post_at=created, first_response_due=opened + timedelta(minutes=FIRST_SLA[priority]),
        first_response_at=first, resolution_due=opened + timedelta(minutes=RESOLVE_SLA[priority]),
        resolved_at=resolved, suggested_reply=reply, suggestion_source=f"{category}-1",
        final_reply=reply if answered else None, dismiss_reason="spam" if status == "dismissed" else None)


def copy_rows(conn, table: sa.Table, rows: list[dict]) -> None:
    """PostgreSQL's bulk-load path (the engine's INSERTs go 50 rows per statement, tuned for collectors)."""
    cols = list(rows[0])
    as_json = {c.name for c in table.columns if isinstance(c.type, sa.JSON)}
    with conn.connection.driver_connection.cursor() as cur:
        with cur.copy(f'COPY "{table.name}" ({", ".join(cols)}) FROM STDIN') as cp:
            for r in rows:
                cp.write_row([json.dumps(r[c]) if c in as_json else r[c] for c in cols])


def load(url: str, n: int) -> int:
    """Migrate, sync the demo brand (two competitors) and sources, bulk-load; returns the brand id."""
    store.migrate(url)
    cfg = config.parse({"database": {"url": url}}, "benchmark")
    with store.session(url) as s:
        brand_id = store.sync_brands(s, cfg.brands)[cfg.brands[0].name]
    engine, now = store.get_engine(url), utcnow()
    pg = engine.dialect.name == "postgresql"
    with engine.begin() as conn:  # one healthy collector per platform, for the sources page
        conn.execute(sa.insert(Source.__table__), [
            dict(name=p, kind=p, last_run_at=now, last_success_at=now, items_total=n // 8, last_items=40)
            for p in WEIGHTS["platform"]])
    t0, rows, every = time.perf_counter(), 0, max(CHUNK, n // 10 // CHUNK * CHUNK)
    for out in generate(n, brand_id, now):
        with engine.begin() as conn:
            for model, chunk in out.items():  # in foreign-key order: mentions, scores, cases, their links
                if chunk and pg:
                    copy_rows(conn, model.__table__, chunk)
                elif chunk:
                    conn.execute(sa.insert(model.__table__), chunk)
                rows += len(chunk)
        done = out[Mention][-1]["id"]
        if done % every == 0 or done == n:
            secs = time.perf_counter() - t0
            print(f"  {done:>10,} mentions  {rows:>10,} rows  {secs:6.0f} s  {rows / secs:>8,.0f} rows/s  "
                  f"{done / secs:>7,.0f} mentions/s", flush=True)
    t = time.perf_counter()
    with engine.begin() as conn:  # scoring keeps the rollups in step; a bulk load counts once at the end
        rollups.rebuild(conn)
    print(f"  hourly rollups built in {time.perf_counter() - t:.1f} s", flush=True)
    if pg:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            for table in ("mention", "score", "case"):  # explicit ids: move the sequences past them
                conn.execute(sa.text(f"SELECT setval(pg_get_serial_sequence('\"{table}\"', 'id'), "
                                     f"(SELECT max(id) FROM \"{table}\"))"))
            # Autovacuum does this soon after a bulk load in a real deployment (statistics, visibility
            # map); repmon runs no ANALYZE on SQLite, so SQLite is timed without statistics, as deployed.
            conn.execute(sa.text("VACUUM ANALYZE"))
    return brand_id


def pages(url: str, brand_id: int) -> dict[str, dict]:
    """Each page's server-side calls with its default filters, as dashboard/views/*.py make them."""
    lo, hi = queries.data_range(url)
    day, week = timedelta(days=1), timedelta(days=7)
    end = datetime.combine(hi.date() + day, datetime.min.time(), tzinfo=timezone.utc)
    start = max(datetime.combine(lo.date(), datetime.min.time(), tzinfo=timezone.utc), end - 8 * week)  # its default
    brand = config.BrandConfig(**demo.BRAND)
    names = {brand.name: [brand.name, *brand.keywords, *brand.handles], **{c: [c] for c in brand.competitors}}
    _, monday, _ = themes.week_bounds(None, hi)
    full_week = themes.week_bounds(None, monday - day)[0]  # the page opens on the running week: a full one is heavier
    top_case = int(queries.case_queue(url, "open", brand_id=brand_id).iloc[0]["id"])  # the row an agent clicks first
    brands = {"brands": lambda: queries.brands(url)}
    ranged = {**brands, "data_range": lambda: queries.data_range(url)}
    options = {**brands, "case_options": lambda: queries.case_options(url)}  # not cached by the page
    return {
        "overview": {
            **ranged,
            "kpis, last 7 days": lambda: queries.kpis(url, brand_id, end - week, end),
            "kpis, 7 days before": lambda: queries.kpis(url, brand_id, end - 2 * week, end - week),
            "daily, 56 days": lambda: queries.daily(url, brand_id, start, end),
            "breakdown by source, 56 days": lambda: queries.breakdown(url, "source", brand_id, start, end),
            "share_of_voice, 56 days": lambda: queries.share_of_voice(url, names, brand_id, start, end),
        },
        "queue (open)": {**options, "case_queue open": lambda: queries.case_queue(url, "open", brand_id=brand_id)},
        "queue (status all)": {**options, "case_queue all": lambda: queries.case_queue(url, "all", brand_id=brand_id)},
        "case": {f"case_detail #{top_case}": lambda: queries.case_detail(url, top_case)},
        # The page's call (common.themes). A finished week and the four before it come from the
        # themeweek cache once computed ("first s" is the cold run); the running week is read live.
        "themes (last full week)": {**ranged, f"weekly_themes {full_week}":
                                    lambda: themes.weekly_themes(url, full_week, brand_id, limit=20)},
        "themes (running week)": {**ranged, "weekly_themes running week":
                                  lambda: themes.weekly_themes(url, None, brand_id, limit=20, now=hi)},
        "sources": {"sources": lambda: queries.sources(url)},
    }


def measure(url: str, brand_id: int, runs: int = 3) -> list[str]:
    """Prints the table; returns the pages over the target."""
    base = []
    with store.get_engine(url).connect() as conn:
        for _ in range(runs):
            t = time.perf_counter()
            count = conn.execute(sa.text("SELECT count(*) FROM mention")).scalar()
            base.append(time.perf_counter() - t)
    baseline, todo = min(base), pages(url, brand_id)
    times = {(p, c): [] for p, calls in todo.items() for c in calls}
    for _ in range(runs):  # interleaved, so a slow moment of the machine hits every page alike
        for page, calls in todo.items():
            for call, fn in calls.items():
                t = time.perf_counter()
                fn()
                times[page, call].append(time.perf_counter() - t)
    print(f"baseline SELECT count(*) FROM mention ({count:,} rows): {baseline * 1000:.1f} ms, best of {runs}")
    print(f"{'page / call':<38} {'best s':>7} {'first s':>8} {'x count(*)':>11}  target {TARGET:g} s")
    missed = []
    for page, calls in todo.items():
        per_run = [sum(times[page, c][r] for c in calls) for r in range(runs)]
        best = min(per_run)
        missed += [f"{page} ({best:.2f} s)"] if best >= TARGET else []
        print(f"{page:<38} {best:>7.3f} {per_run[0]:>8.3f} {best / baseline:>10.1f}x  "
              f"{'PASS' if best < TARGET else 'FAIL'}")
        for call in calls:
            print(f"  {call:<36} {min(times[page, call]):>7.3f} {times[page, call][0]:>8.3f}")
    return missed


def run(name: str, url: str, a: argparse.Namespace) -> list[str]:
    print(f"\n== {name}: {store.redact_url(url)}")
    if name == "sqlite" and a.keep and os.path.exists(a.keep):
        store.migrate(url)
        print(f"reusing {a.keep}")
        return measure(url, int(queries.brands(url)["id"].iloc[0]))
    print(f"loading {a.mentions:,} mentions over {DAYS} days")
    t = time.perf_counter()
    brand_id = load(url, a.mentions)
    print(f"loaded and ready in {time.perf_counter() - t:.0f} s")
    return measure(url, brand_id)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mentions", type=int, default=1_000_000)
    ap.add_argument("--store", choices=["sqlite", "postgres", "both"], default="both")
    ap.add_argument("--keep", metavar="PATH", help="SQLite database file to keep (and to reuse when it exists)")
    ap.add_argument("--pg", default=os.environ.get("REPMON_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"))
    a = ap.parse_args()
    summary = {}
    if a.store in ("sqlite", "both"):
        tmp = tempfile.mkdtemp()
        try:
            summary["sqlite"] = run("sqlite", f"sqlite:///{os.path.abspath(a.keep or os.path.join(tmp, 'b.db'))}", a)
        finally:
            store.dispose_engines()
            shutil.rmtree(tmp, ignore_errors=True)
    if a.store in ("postgres", "both"):
        schema = f"repmon_bench_{uuid.uuid4().hex[:8]}"
        try:
            admin = sa.create_engine(a.pg, connect_args={"connect_timeout": 3})
            with admin.begin() as conn:
                conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        except Exception as exc:
            print(f"postgres: skipped ({type(exc).__name__}: not reachable at {store.redact_url(a.pg)})")
        else:
            try:
                summary["postgres"] = run("postgres", f"{a.pg}?options=-csearch_path%3D{schema}", a)
            finally:
                store.dispose_engines()
                with admin.begin() as conn:
                    conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
                admin.dispose()
    print()
    for name, missed in summary.items():
        print(f"{name}: " + (f"OVER {TARGET:g} s: {', '.join(missed)}" if missed else f"every page under {TARGET:g} s"))


if __name__ == "__main__":
    main()
