"""The hourly rollups say exactly what the mention and score tables say, on both stores: after
scoring, after a rebuild, after mentions are removed, in any time zone, and after a brand's
names change."""

import math
import random
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
import sqlalchemy as sa
from sqlmodel import select

from dashboard import queries
from repmon import config, pipeline, rollups, store
from repmon.models import Brand, Mention, MentionHour, Score, VoiceHour

WORDS = ["Acme", "acme's", "@acme", "Rival", "rival", "Other Co", "great", "awful", "refund", "love", "broken", "why"]
END = datetime(2026, 11, 20, tzinfo=timezone.utc)


def _cfg(url: str, competitors=("Rival", "Other Co")) -> config.Config:
    return config.parse({"database": {"url": url}, "brands": [
        {"name": "Acme", "keywords": ["acme"], "handles": ["@acme"], "competitors": list(competitors)}]}, "test")


def _seed(url: str, n: int = 600, seed: int = 7) -> config.Config:
    cfg = _cfg(url)
    rng = random.Random(seed)
    with store.session(url) as s:
        brand_id = store.sync_brands(s, cfg.brands)["Acme"]
        store.upsert_mentions(s, [dict(
            source=rng.choice(["x", "reddit", "play"]), platform=rng.choice(["x", "reddit", "google_play"]),
            native_id=str(i), author=f"u{i % 50}", author_reach=rng.choice([0, 5, 300, 12_000, 2_000_000]),
            text=" ".join(rng.choice(WORDS) for _ in range(6)), lang=rng.choice(["en", "es", None]),
            created_at=END - timedelta(minutes=rng.randrange(0, 60 * 24 * 20)),
            brand_id=brand_id if i % 9 else None, is_own=i % 13 == 0,
        ) for i in range(n)])
    pipeline.score_pending(cfg)
    return cfg


def _base(url: str) -> pd.DataFrame:
    """Every scored post that is not the brand's own, straight from mention and score."""
    with store.session(url) as s:
        rows = s.exec(select(Mention, Score).join(Score, Score.mention_id == Mention.id)
                      .where(Mention.is_own.is_(False))).all()
    return pd.DataFrame([dict(
        brand_id=m.brand_id, created_at=m.created_at, source=m.source, lang=sc.lang, label=sc.label,
        text=m.text.lower(), needs=sc.needs_response, sentiment=sc.sentiment,
        weight=1 + math.log10(1 + m.author_reach)) for m, sc in rows])


def _rows(url: str, table) -> set:
    with store.session(url) as s:
        cols = [c for c in table.__table__.c if c.name != "id"]
        return {tuple(round(v, 6) if isinstance(v, float) else v for v in r)
                for r in s.exec(select(*cols)).all()}


@pytest.mark.parametrize("tz", ["UTC", "America/New_York", "Asia/Kolkata"])
def test_daily_matches_the_base_tables(db_url, tz):
    cfg = _seed(db_url)
    brand_id = 1
    start, end = END - timedelta(days=12), END - timedelta(days=2)
    base = _base(db_url)
    base = base[(base.brand_id == brand_id) & (base.created_at >= start) & (base.created_at < end)]
    # A day in the dashboard's zone; Kolkata's half-hour offset is cut to the hour, as documented.
    hour = pd.to_datetime(base.created_at, utc=True).dt.floor("h").dt.tz_convert(ZoneInfo(tz))
    base = base.assign(day=pd.to_datetime(hour.dt.date))
    want = base.groupby("day").apply(lambda g: pd.Series(dict(
        volume=len(g), negative=(g.label == "negative").sum(), positive=(g.label == "positive").sum(),
        needs=g.needs.sum(), index=100 * (g.sentiment * g.weight).sum() / g.weight.sum())), include_groups=False)
    got = queries.daily(db_url, brand_id, start, end, tz=tz).set_index("day")
    assert cfg.brands[0].name == "Acme" and len(got) == len(want) >= 10
    assert list(got["volume"]) == list(want["volume"].astype(int))
    assert list(got["negative"]) == list(want["negative"].astype(int))
    assert list(got["positive"]) == list(want["positive"].astype(int))
    assert list(got["needs_response"]) == list(want["needs"].astype(int))
    assert got["reputation_index"].round(6).tolist() == want["index"].round(6).tolist()


def test_breakdown_and_share_of_voice_match_the_base_tables(db_url):
    cfg = _seed(db_url)
    base = _base(db_url)
    base = base[base.brand_id == 1]
    b = queries.breakdown(db_url, "source", 1).set_index("source")
    want = base.groupby("source").agg(volume=("label", "size"), mean=("sentiment", "mean"))
    assert b["volume"].to_dict() == want["volume"].to_dict()
    assert (b["mean_sentiment"] - want["mean"]).abs().max() < 1e-9
    with store.session(db_url) as s:
        names = rollups.voice_names(s.get(Brand, 1))
    assert names == {"Acme": ["Acme", "acme", "@acme"], "Rival": ["Rival"], "Other Co": ["Other Co"]}
    sov = queries.share_of_voice(db_url, names, 1).set_index("name")
    for label, terms in names.items():
        hit = base.text.apply(lambda t: any(x.lower().lstrip("@") in t for x in terms))
        assert sov.loc[label, "mentions"] == hit.sum() > 0
        assert sov.loc[label, "negative_share"] == pytest.approx((base[hit].label == "negative").mean())
    # the same figures as the live count over mention and score, which any other set of names uses
    live = queries.share_of_voice(db_url, {**names, "nobody": ["zzz"]}, 1).set_index("name")
    assert (live.loc[list(names), "mentions"] == sov["mentions"]).all() and cfg


def test_rebuild_gives_the_counts_scoring_kept(db_url):
    _seed(db_url)
    kept = _rows(db_url, MentionHour), _rows(db_url, VoiceHour)
    with store.get_engine(db_url).begin() as conn:
        rollups.rebuild(conn)
    assert (_rows(db_url, MentionHour), _rows(db_url, VoiceHour)) == kept and kept[0] and kept[1]


def test_removed_mentions_leave_the_counts(db_url):
    _seed(db_url)
    with store.session(db_url) as s:
        gone = list(s.exec(select(Mention.id).where(Mention.author.in_(["u3", "u4"]))).all())
        rollups.remove(s, gone)
        s.execute(sa.delete(Score.__table__).where(Score.mention_id.in_(gone)))
        s.execute(sa.delete(Mention.__table__).where(Mention.id.in_(gone)))
    after_remove = _rows(db_url, MentionHour), _rows(db_url, VoiceHour)
    with store.get_engine(db_url).begin() as conn:
        rollups.rebuild(conn)
    assert (_rows(db_url, MentionHour), _rows(db_url, VoiceHour)) == after_remove and gone


def test_a_new_competitor_is_counted_over_stored_posts(db_url):
    _seed(db_url)
    cfg = _cfg(db_url, competitors=("Rival", "Other Co", "acme's"))
    with store.session(db_url) as s:
        store.sync_brands(s, cfg.brands)
        names = rollups.voice_names(s.get(Brand, 1))
    sov = queries.share_of_voice(db_url, names, 1).set_index("name")
    base = _base(db_url)
    assert sov.loc["acme's", "mentions"] == base[(base.brand_id == 1) & base.text.str.contains("acme's")].shape[0] > 0
