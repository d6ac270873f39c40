"""Recurring complaint themes (repmon.themes) on both stores, and the Themes page through AppTest."""

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import streamlit as st
from sqlmodel import select
from streamlit.testing.v1 import AppTest

from repmon import rollups, store, themes
from repmon.errors import RepmonError
from repmon.models import Brand, Mention, Score, ThemeWeek

PAGE = Path(__file__).resolve().parents[1] / "dashboard" / "views" / "themes.py"
WEEK = "2026-W47"  # Monday 2026-11-16 to Sunday 2026-11-22
START = datetime(2026, 11, 16, tzinfo=timezone.utc)
AFTER = datetime(2026, 12, 2, tzinfo=timezone.utc)  # "now" for a finished week


def post(text, category="billing", weeks_ago=0, reach=0, lang="en", flagged=True, hours=None, **extra):
    return {"text": text, "category": category, "weeks_ago": weeks_ago, "reach": reach, "lang": lang,
            "flagged": flagged, "hours": hours, **extra}


def load(url, posts, brand="Acme Telecom", keywords=("acme",)):
    """Stores the posts (times inside their week) with a score each; returns the brand's id."""
    with store.session(url) as s:
        b = s.exec(select(Brand).where(Brand.name == brand)).first() or Brand(name=brand, keywords=list(keywords))
        s.add(b)
        s.flush()
        base = s.exec(select(Mention)).all()
        rows = [{
            "platform": "x", "native_id": f"{brand}-{len(base) + i}", "source": "test", "text": p["text"],
            "created_at": START - timedelta(weeks=p["weeks_ago"]) + timedelta(hours=p["hours"] or 1 + i % 150),
            "author": f"user{i}", "author_reach": p["reach"], "url": f"https://example.com/{i}", "lang": p["lang"],
            "brand_id": b.id, "is_own": p.get("is_own", False),
        } for i, p in enumerate(posts)]
        store.upsert_mentions(s, rows)
        mentions = {m.native_id: m for m in s.exec(select(Mention)).all()}
        scores = [(mentions[r["native_id"]], Score(mention_id=mentions[r["native_id"]].id, scorer="test",
                                                   lang=p["lang"], label="negative", needs_response=p["flagged"],
                                                   category=p["category"])) for r, p in zip(rows, posts)]
        s.add_all([sc for _, sc in scores])
        rollups.add(s, scores)  # as scoring does: the theme cache reads its counts
        return b.id


CHARGED = [
    "@acmehelp I was charged twice this month!! https://t.co/abc123",
    "Acme charged twice for the same bill, 29.99 each. Not ok",
    "Why am I charged twice? Please fix it @AcmeHelp",
    "charged twice AGAIN. Order 55231.",
    "Just checked my bank: charged twice by acme",
    "acme charged twice, is this a joke",
    "Charged twice on my card, no reply yet",
    "hello? charged twice and nobody answers",
    "Got charged twice. Again.",
]
ROAMING = ["The roaming fees on my bill are absurd", "roaming fees in Spain cost more than my flight",
           "Who decided these roaming fees??"]
SIGNAL = ["no signal at home", "No signal in the whole village", "still no signal downtown", "no signal, again",
          "no signal since the storm", "no signal near the station"]


def sample() -> list[dict]:
    return [
        # billing · charged twice: 2 last week, 9 this week (rising); reach orders the examples
        *[post(t, reach=r) for t, r in zip(CHARGED, [50, 9000, 10, 700, 0, 3, 40000, 5, 1])],
        post("acme charged twice last month", weeks_ago=1), post("charged twice, fix it", weeks_ago=1),
        # billing · roaming fees: new this week
        *[post(t) for t in ROAMING],
        # outage · no signal: 6 a week before, 2 now (falling)
        *[post(t, "outage", weeks_ago=w) for w in (1, 2, 3, 4) for t in SIGNAL],
        post("no signal this morning", "outage"), post("no signal for hours", "outage"),
        # Spanish and Persian (with ZWNJ and Arabic letters spelled three ways)
        post("Me cobraron dos veces la factura", lang="es"), post("¡Otra vez me cobraron dos veces!", lang="es"),
        post("Nos cobraron dos veces este mes", lang="es"),
        post("پشتیبانی جواب نمی‌دهد", "service", lang="fa"), post("چرا پشتیبانی جواب نمیدهد؟", "service", lang="fa"),
        post("سه روز است پشتیبانی جواب نمي‌دهد", "service", lang="fa"),
        # not complaints, or not this brand's to answer: never in a theme
        post("love the new plan, charged twice less than before", "praise"),
        post("how do I see my bill? charged twice?", "question"),
        post("we fixed the charged twice bug @acmehelp", is_own=True),
        post("charged twice but fine now", flagged=False),
    ]


def by_label(found):
    return {t.label: t for t in found}


def test_rising_new_and_falling_themes(db_url):
    load(db_url, sample())
    found = by_label(themes.weekly_themes(db_url, WEEK, limit=50, now=AFTER))
    charged = found["billing · charged twice"]
    assert (charged.count, charged.previous, charged.trend) == (9, [0, 0, 0, 2], "rising")
    roaming = found["billing · roaming fees"]
    assert (roaming.count, roaming.previous, roaming.trend) == (3, [0, 0, 0, 0], "new")
    signal = found["outage · no signal"]
    assert (signal.count, signal.previous, signal.trend) == (2, [6, 6, 6, 6], "falling")
    assert charged.week == WEEK and charged.languages == ["en"]


def test_finished_weeks_are_cached_until_their_posts_change(db_url):
    brand_id = load(db_url, sample())
    first = themes.weekly_themes(db_url, WEEK, brand_id, limit=50, now=AFTER)
    with store.session(db_url) as s:
        cached = s.exec(select(ThemeWeek).order_by(ThemeWeek.week)).all()
    # the week shown (over by AFTER) and the four before it, as id, category, seconds into the week,
    # language, reach, removed, phrases: no text, no author
    assert [c.week for c in cached] == ["2026-W43", "2026-W44", "2026-W45", "2026-W46", "2026-W47"]
    assert all(len(p) == 7 and isinstance(p[6], str) for c in cached for p in c.posts)
    assert not any(w in json.dumps(c.posts) for c in cached for w in ("user0", "https://", "Please fix"))
    assert themes.weekly_themes(db_url, WEEK, brand_id, limit=50, now=AFTER) == first
    with store.session(db_url) as s:  # proof the second call read the cache: empty W46 and W46 counts 0
        row = s.exec(select(ThemeWeek).where(ThemeWeek.week == "2026-W46")).one()
        row.posts = []
        s.add(row)
    tampered = by_label(themes.weekly_themes(db_url, WEEK, brand_id, limit=50, now=AFTER))
    assert tampered["billing · charged twice"].previous == [0, 0, 0, 0]
    # the shown week's examples come back with their text, read by id
    assert tampered["billing · charged twice"].examples[0].text in CHARGED
    # A late post in a cached week changes its fingerprint: the week is read again.
    load(db_url, [post("charged twice, still waiting", weeks_ago=1), post("charged twice here too", weeks_ago=1)])
    charged = by_label(themes.weekly_themes(db_url, WEEK, brand_id, limit=50, now=AFTER))["billing · charged twice"]
    assert charged.previous == [0, 0, 0, 4]


def test_examples_widest_reach_first_and_each_post_in_one_theme(db_url):
    load(db_url, sample())
    found = themes.weekly_themes(db_url, WEEK, limit=50, now=AFTER)
    charged = by_label(found)["billing · charged twice"]
    assert [e.author_reach for e in charged.examples] == [40000, 9000, 700]
    assert charged.examples[0].text == CHARGED[6] and charged.examples[0].url.startswith("https://example.com/")
    # 9 + 3 + 2 + 3 + 3 complaints this week, each counted once; praise, questions, the brand's own
    # and unflagged posts are left out.
    assert sum(t.count for t in found) == 20
    assert sum(t.share for t in found) == pytest.approx(1.0)
    assert found[0].label == "billing · charged twice" and found[0].share == pytest.approx(9 / 20)
    shown = [e.mention_id for t in found for e in t.examples]
    assert len(shown) == len(set(shown))


def test_a_post_with_two_phrases_joins_one_theme(db_url):
    load(db_url, [*[post(t) for t in CHARGED[:4]], *[post(t) for t in ROAMING[:2]],
                  post("charged twice AND roaming fees on top", reach=10**6)])
    found = by_label(themes.weekly_themes(db_url, WEEK, now=AFTER))
    assert found["billing · charged twice"].count + found["billing · roaming fees"].count == 7
    holders = [t.label for t in found.values() if any(e.author_reach == 10**6 for e in t.examples)]
    assert holders == ["billing · charged twice"]  # the larger theme took it, the other did not count it


def test_spanish_and_persian_phrases(db_url):
    load(db_url, sample())
    found = by_label(themes.weekly_themes(db_url, WEEK, limit=50, now=AFTER))
    spanish = found["billing · cobraron dos veces"]
    assert (spanish.count, spanish.languages) == (3, ["es"])
    persian = found["service · پشتیبانی جواب نمیدهد"]
    assert (persian.count, persian.languages, persian.trend) == (3, ["fa"], "new")


def test_stop_words_handles_urls_numbers_and_brand_never_name_a_theme(db_url):
    load(db_url, [post(f"@acmehelp @acmehelp the acme app is {t} https://example.com/x 42") for t in
                  ("slow", "broken", "bad", "down")])
    found = themes.weekly_themes(db_url, WEEK, now=AFTER)
    assert [t.label for t in found] == ["billing · app"]
    phrases = themes.key_phrases("Hi @AcmeHelp, I was charged twice for 29.99!!! see https://t.co/x TW-4821 #refund",
                                 "en")
    assert phrases == {"charged", "twice", "charged twice", "see", "refund"}
    assert "not working" in themes.key_phrases("Still not working.", "en")
    assert "not" not in themes.key_phrases("Still not working.", "en")
    assert themes.key_phrases("doesn't work", "en") == {"work", "not work"}


def test_posts_without_a_shared_phrase_fall_into_other(db_url):
    load(db_url, [*[post(t) for t in CHARGED[:3]], post("my invoice is wrong"), post("price went up unannounced")])
    found = themes.weekly_themes(db_url, WEEK, now=AFTER)
    assert [(t.label, t.count, t.phrase) for t in found] == [("billing · charged twice", 3, "charged twice"),
                                                             ("billing (other)", 2, "")]


def test_empty_week_other_brand_and_bad_input(db_url):
    load(db_url, sample())
    assert themes.weekly_themes(db_url, "2026-W40", now=AFTER) == []
    other = load(db_url, [post("charged twice", "praise")], brand="Other Co", keywords=("other",))
    assert themes.weekly_themes(db_url, WEEK, brand_id=other, now=AFTER) == []
    with pytest.raises(RepmonError, match="ISO week like 2026-W47"):
        themes.weekly_themes(db_url, "last week")
    with pytest.raises(ValueError):
        themes.weekly_themes(db_url, WEEK, weeks_back=0)


def test_brand_filter_and_default_week(db_url):
    acme = load(db_url, sample())
    other = load(db_url, [post(t, "delivery") for t in ("parcel lost again", "my parcel lost", "parcel lost?")],
                 brand="Other Co", keywords=("other",))
    assert [t.label for t in themes.weekly_themes(db_url, WEEK, brand_id=other, now=AFTER)] == ["delivery · parcel lost"]
    assert "delivery · parcel lost" not in by_label(themes.weekly_themes(db_url, WEEK, brand_id=acme, limit=50,
                                                                         now=AFTER))
    wednesday = START + timedelta(days=2)
    assert themes.weekly_themes(db_url, now=wednesday, limit=1)[0].week == WEEK


def test_a_running_week_is_compared_with_the_same_days_before(db_url):
    # Last week: 2 posts on Monday, 10 on Saturday. This week, on Tuesday: 2 so far.
    load(db_url, [*[post("sim card blocked", "account", weeks_ago=1, hours=3) for _ in range(2)],
                  *[post("sim card blocked", "account", weeks_ago=1, hours=130) for _ in range(10)],
                  *[post("sim card blocked", "account", hours=3) for _ in range(2)]])
    tuesday = START + timedelta(days=1, hours=12)
    [theme] = themes.weekly_themes(db_url, WEEK, weeks_back=1, now=tuesday)
    assert (theme.label, theme.previous, theme.trend) == ("account · sim card blocked", [12], "steady")
    [finished] = themes.weekly_themes(db_url, WEEK, weeks_back=1, now=AFTER)
    assert finished.trend == "falling"


def test_trend_rule():
    assert themes.trend(3, [0, 0, 0, 0]) == "new"
    assert themes.trend(9, [0, 0, 0, 2]) == "rising"
    assert themes.trend(3, [2, 2, 2, 2]) == "steady"  # +50% but only one post more
    assert themes.trend(2, [6, 6, 6, 6]) == "falling"
    assert themes.trend(5, [6, 6, 6, 6]) == "steady"


def test_example_text_is_capped():
    long = "charged twice " * 40
    assert len(themes._cut(long)) == themes.EXAMPLE_CHARS and themes._cut(long).endswith("…")


# --- the Themes page --------------------------------------------------------------------------

@pytest.fixture
def page_db(monkeypatch, sqlite_url):
    store.migrate(sqlite_url)
    monkeypatch.setenv("REPMON_DATABASE_URL", sqlite_url)
    st.cache_data.clear()
    st.cache_resource.clear()
    return sqlite_url


def run_page() -> AppTest:
    at = AppTest.from_file(str(PAGE), default_timeout=60)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_page_lists_themes_with_examples_as_plain_text(page_db):
    load(page_db, [*sample(), post("**bold** <b>html</b> [link](javascript:alert(1)) charged twice", reach=10**7)])
    at = run_page()
    assert at.title[0].value == "Recurring themes"
    assert at.selectbox(key="week").value == WEEK  # the latest week with data
    table = at.dataframe[0].value
    row = table[table["theme"] == "billing · charged twice"].iloc[0]
    assert (row["posts"], row["trend"], list(row["weeks"]), row["before"]) == (10, "▲ rising", [0, 0, 0, 2, 10],
                                                                               "0 · 0 · 0 · 2")
    assert any(e.label.startswith("billing · charged twice · 10 posts") for e in at.expander)
    texts = [t.value for t in at.text]
    assert "**bold** <b>html</b> [link](javascript:alert(1)) charged twice" in texts  # verbatim, not rendered
    assert not any("<b>" in m.value for m in at.markdown)
    assert len(at.get("link_button")) >= 3


def test_page_week_picker_and_empty_states(page_db):
    at = run_page()
    assert "repmon demo" in at.info[0].value  # no mentions at all
    load(page_db, [*sample(), post("great service", "praise", weeks_ago=-1)])  # next week: no complaints
    st.cache_data.clear()
    at = run_page()
    assert at.selectbox(key="week").value == "2026-W48"
    assert "No complaints flagged this week" in at.info[0].value
    at.selectbox(key="week").set_value(WEEK).run()
    assert not at.exception
    assert "billing · charged twice" in list(at.dataframe[0].value["theme"])



def test_warm_caches_every_brands_weeks_for_the_page(db_url):
    brand_id = load(db_url, sample())
    now = START + timedelta(days=9)  # Wednesday of the week after WEEK: WEEK is the last full one
    assert themes.warm(db_url, now=now) == 1
    with store.session(db_url) as s:
        cached = {c.week: c.computed_at for c in s.exec(select(ThemeWeek)).all()}
    assert sorted(cached) == ["2026-W43", "2026-W44", "2026-W45", "2026-W46", "2026-W47"]
    found = themes.weekly_themes(db_url, WEEK, brand_id, limit=50, now=now)  # the page's view of WEEK
    with store.session(db_url) as s:
        assert {c.week: c.computed_at for c in s.exec(select(ThemeWeek)).all()} == cached  # read, not redone
    assert by_label(found)["billing · charged twice"].count == 9
