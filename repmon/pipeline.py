"""The stages the CLI and the scheduler both call: collect, score, (cases: repmon.cases).

Each stage reads what the previous one stored and writes its own table, so any stage can be
re-run or restarted without redoing or duplicating another's work.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Callable, Optional

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import select

from alerts import outbox
from collectors import collector_class
from collectors.base import storable
from repmon import locks, logs, rollups, store
from repmon.config import Config
from repmon.errors import CollectorError, ConfigError, RateLimited, TransientError
from repmon.matching import BrandMatcher
from repmon.models import Brand, Mention, Score, Source, utcnow
from scoring import get_scorer
from scoring.base import Post
from scoring.lang import detect_many

log = logging.getLogger(__name__)
Progress = Optional[Callable[[str], None]]


@dataclass
class CollectResult:
    source: str
    inserted: int = 0
    updated: int = 0
    pages: int = 0
    skipped: int = 0  # fetched but not about the brand
    error: Optional[str] = None
    rate_limited_until: Optional[datetime] = None
    budget: Optional[tuple[int, Optional[int]]] = None


def collect(cfg: Config, only: Optional[str] = None, progress: Progress = None, retries: int = 3) -> list[CollectResult]:
    """Run every enabled source (or just `only`); a failing source never stops the others."""
    names = [n for n, s in cfg.sources.items() if s.enabled]
    if only is not None:
        if only not in cfg.sources:
            raise ConfigError(f"--source {only}: no such source; configured: {', '.join(cfg.sources) or 'none'}")
        names = [only]
    with store.session(cfg.database.url) as s:
        locks.xact(s, "sync-config")  # several workers: one at a time mirrors the config into the tables
        brand_ids = store.sync_brands(s, cfg.brands)
        store.sync_sources(s, cfg.sources)
        waiting = {r.name: r.rate_limited_until for r in s.exec(select(Source)).all()
                   if r.rate_limited_until and r.rate_limited_until > utcnow()}
    results = []
    for name in names:
        src = cfg.sources[name]
        brand = cfg.brand(src.brand)
        result = CollectResult(name)
        try:
            collector = collector_class(src.kind or name).from_config(name, src.model_dump(), brand)
        except ConfigError as exc:  # a misconfigured source is its own failure, not every source's
            result.error = str(exc)
            _record_health(cfg, name, result)
            results.append(result)
            continue
        if name in waiting:
            # The API told us when to come back; asking earlier only extends the penalty.
            result.error = f"rate limited until {waiting[name]:%Y-%m-%d %H:%M UTC}"
            results.append(result)
            continue
        for attempt in range(retries + 1):
            try:
                _run_collector(cfg, collector, brand_ids[brand.name], result, progress)
                result.error = None
                break
            except TransientError as exc:
                result.error = str(exc)
                if attempt < retries:
                    # Jittered exponential backoff: sources recover faster without a thundering herd.
                    pause = min(30.0, 2**attempt) * random.uniform(0.5, 1.0)
                    log.info("source=%s attempt %d failed, again in %.1fs: %s", name, attempt + 1, pause, exc)
                    time.sleep(pause)
            except RateLimited as exc:
                result.error, result.rate_limited_until = str(exc), exc.reset_at
                break
            except CollectorError as exc:
                result.error = str(exc)
                break
            except (sa.exc.OperationalError, sa.exc.InterfaceError):
                raise  # the database is unreachable, not the source: fail the run, leave the source's health be
            except Exception as exc:  # a bug in one collector must not stop the others
                log.exception("source=%s collector crashed", name)
                result.error = f"{type(exc).__name__}: {exc}"
                break
        _record_health(cfg, name, result)
        results.append(result)
    return results


def _run_collector(cfg: Config, collector, brand_id: int, result: CollectResult, progress: Progress) -> None:
    matcher = BrandMatcher(collector.brand)
    with store.session(cfg.database.url) as s:
        cursor = store.load_cursor(s, collector.name)
    for batch in collector.fetch(cursor):
        rows = _prepare(batch, collector, matcher, brand_id)
        result.skipped += len(batch.mentions) - len(rows)
        with store.session(cfg.database.url) as s:
            ins, upd = store.upsert_mentions(
                s, rows, cursor=(collector.name, batch.cursor) if batch.cursor is not None else None
            )
        result.inserted += ins
        result.updated += upd
        result.pages += 1
        if "budget_used" in batch.notes:
            result.budget = (batch.notes["budget_used"], batch.notes.get("budget_limit"))
        if progress:
            where = f" ({batch.notes['position']}/{batch.notes['total']})" if "total" in batch.notes else ""
            progress(f"{collector.name}: page {result.pages}{where}: {ins} new, {upd} updated")


def _prepare(batch, collector, matcher: BrandMatcher, brand_id: int) -> list[dict]:
    """Keep what is about the brand, mark the brand's own posts, detect languages."""
    deleted = set(map(str, batch.notes.get("deleted", ())))
    rows = []
    for m in batch.mentions:
        m, problem = storable(m)  # a malformed item is skipped and logged; the page stands
        if m is None:
            log.warning("source=%s skipped %s", collector.name, problem)
            continue
        own = matcher.is_own(m.get("author") or "")
        gone = str(m["native_id"]) in deleted or bool((m.get("raw") or {}).get("deleted"))
        # Reviews and replies inside a matched thread are about the brand without naming it;
        # a removal marker ("[removed]") names nothing but must still reach the stored post.
        if not (own or gone or collector.prefiltered or m.get("kind", "post") != "post" or matcher.matches(m["text"])):
            continue
        rows.append(dict(m, source=collector.name, brand_id=brand_id, is_own=own or m.get("is_own", False),
                         deleted=gone))
    unknown = [r for r in rows if not r.get("lang")]
    for row, lang in zip(unknown, detect_many([r["text"] for r in unknown])):
        row["lang"] = None if lang == "und" else lang
    return rows


def _record_health(cfg: Config, name: str, result: CollectResult) -> None:
    now = utcnow()
    if result.error:  # an API may echo the request, credentials and all, in its error body
        for secret in logs.RedactSecrets(logs.secrets_of(cfg)).secrets:
            result.error = result.error.replace(secret, "***")
    with store.session(cfg.database.url) as s:
        row = s.exec(select(Source).where(Source.name == name)).one()
        row.last_run_at = now
        row.last_items = result.inserted
        row.items_total += result.inserted
        if result.budget:
            row.budget_used, row.budget_limit = result.budget
        row.rate_limited_until = result.rate_limited_until
        if result.error:
            row.last_error_at, row.last_error = now, result.error[:2000]
            row.failing_since = row.failing_since or now
            log.warning("source=%s failed: %s", name, result.error)
            outbox.enqueue_source_down(s, cfg, row)
        else:
            row.last_success_at, row.failing_since = now, None
        s.add(row)


def recheck(cfg: Config, mention_id: int) -> Optional[bool]:
    """Ask the source whether a stored post still exists; marks it deleted when it is gone.
    None when the source cannot tell (no such collector method, or it is not configured)."""
    with store.session(cfg.database.url) as s:
        m = s.get(Mention, mention_id)
        if m is None or m.source not in cfg.sources:
            return None
        src = cfg.sources[m.source]
        collector = collector_class(src.kind or m.source).from_config(m.source, src.model_dump(), cfg.brand(src.brand))
        exists = getattr(collector, "exists", None)
        if exists is None:
            return None
        alive = bool(exists(m.native_id))
        if not alive and m.deleted_at is None:
            m.deleted_at = utcnow()
            s.add(m)
        return alive


def score_pending(cfg: Config, batch_size: int = 2000, progress: Progress = None) -> int:
    """Score every stored mention that has no score yet; returns how many were scored."""
    if cfg.scoring.scorer == "triage":
        from repmon.learning import scorer_for

        scorer = scorer_for(cfg)
    else:
        options = dict(negative_threshold=cfg.scoring.negative_threshold,
                       positive_threshold=cfg.scoring.positive_threshold)
        if cfg.scoring.scorer == "rules":
            options["high_reach"] = cfg.scoring.high_reach
        scorer = get_scorer(cfg.scoring.scorer, **options)
    total = 0
    with store.session(cfg.database.url) as s:
        brands = {b.id: b for b in s.exec(select(Brand)).all()}
    while True:
        with store.session(cfg.database.url) as s:
            q = (
                select(Mention)
                .outerjoin(Score, Score.mention_id == Mention.id)
                .where(Score.id.is_(None))
                .order_by(Mention.id)
                .limit(batch_size)
            )
            pg = s.get_bind().dialect.name == "postgresql"
            if pg:
                # Several workers score at once: each locks its own batch and skips rows another holds.
                # (NO KEY: rows that only reference these mentions, e.g. their edit history, need not wait.)
                q = q.with_for_update(of=Mention, skip_locked=True, key_share=True)
            mentions = s.exec(q).all()
            if not mentions:
                break
            posts = [_post(m, brands.get(m.brand_id)) for m in mentions]
            assessments = scorer.score(posts)
            rows = [
                dict(
                    mention_id=m.id, scorer=scorer.name, lang=a.lang, sentiment=a.sentiment,
                    label=a.label, needs_response=a.needs_response, priority=a.priority,
                    category=a.category, reasons=a.reasons, scored_at=utcnow(),
                )
                for m, a in zip(mentions, assessments)
            ]
            # A row another worker scored between our read and now (its commit raced our lock) is
            # left as it is; only what this batch inserted is counted, in the rollups too.
            insert = (postgresql.insert if pg else sqlite.insert)(Score.__table__)
            done = set(s.execute(insert.on_conflict_do_nothing(index_elements=["mention_id"])
                                 .returning(Score.__table__.c.mention_id), rows).scalars())
            rollups.add(s, [(m, Score(**r)) for m, r in zip(mentions, rows) if m.id in done])
            # The detected language belongs to the mention too: the dashboard filters by it.
            for m, a in zip(mentions, assessments):
                if not m.lang and m.id in done:
                    m.lang = a.lang
                    s.add(m)
        total += len(done)
        if progress:
            progress(f"scored {total} mentions")
    return total


def _post(m: Mention, brand: Optional[Brand]) -> Post:
    terms: tuple[str, ...] = ()
    rivals: tuple[str, ...] = ()
    if brand is not None:
        terms = tuple([brand.name, *brand.keywords, *brand.handles])
        rivals = tuple(brand.competitors)
    return Post(
        id=str(m.id), text=m.text, lang=m.lang, author=m.author, author_reach=m.author_reach,
        rating=m.rating, platform=m.platform, is_own=m.is_own, brand_terms=terms, competitor_terms=rivals,
    )
