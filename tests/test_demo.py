"""The built-in demo data set: its shape, its mix, the outage spike, and determinism."""

from __future__ import annotations

import statistics
import unicodedata
from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest

from repmon import demo

ANCHOR = datetime(2025, 3, 14, 15, 0, tzinfo=timezone.utc)
OTHER_ANCHOR = datetime(2024, 11, 2, 6, 30, tzinfo=timezone(timedelta(hours=2)))  # not UTC on purpose
KEYS = {
    "platform", "native_id", "url", "author", "author_reach", "text", "lang", "created_at",
    "kind", "rating", "thread_id", "parent_id", "is_own", "raw",
}
REVIEW_PLATFORMS = {"google_play", "app_store", "trustpilot"}
NEGATIVE = set(demo.COMPLAINTS) | {"sarcasm", "legal", "abuse", "threat"}


@pytest.fixture(scope="module")
def items() -> list[dict]:
    return demo.generate(ANCHOR)


def scenario_counts(items: list[dict]) -> Counter:
    return Counter(i["raw"]["scenario"] for i in items)


def test_brand_is_complete():
    assert set(demo.BRAND) == {"name", "keywords", "handles", "exclude", "languages", "competitors"}
    assert demo.BRAND["name"] == "Tidewell Mobile"
    assert demo.OWN_HANDLE in demo.BRAND["handles"]
    assert set(demo.BRAND["competitors"]) == {"Orbitel", "Skyfern"}


def test_count_and_item_shape(items):
    assert len(items) >= 2000
    for i in items:
        assert set(i) == KEYS
        assert i["platform"] in demo.PLATFORMS
        assert i["kind"] in ("post", "comment", "review")
        assert isinstance(i["text"], str) and i["text"].strip()
        assert isinstance(i["author"], str) and i["author"]
        assert isinstance(i["author_reach"], int) and i["author_reach"] >= 0
        assert i["url"].startswith("https://") and ".example" in i["url"]
        assert i["raw"]["demo"] is True and i["raw"]["scenario"] in demo.SCENARIOS
    assert len({i["platform"] for i in items}) >= 5


def test_ids_are_unique_and_time_free(items):
    keys = [(i["platform"], i["native_id"]) for i in items]
    assert len(set(keys)) == len(keys)
    assert all(i["native_id"].startswith(f"demo-{i['platform']}-") for i in items)


def test_times_are_aware_utc_inside_the_window_and_sorted(items):
    start = ANCHOR - timedelta(days=56)
    times = [i["created_at"] for i in items]
    assert all(t.utcoffset() == timedelta(0) for t in times)
    assert all(start < t <= ANCHOR for t in times)
    assert times == sorted(times)


def test_languages_have_a_real_share(items):
    share = {lang: n / len(items) for lang, n in Counter(i["lang"] for i in items).items()}
    assert len([lang for lang, s in share.items() if s >= 0.03]) >= 7
    assert max(share, key=share.get) == "en"
    for lang in ("es", "ro", "fa"):
        assert share[lang] >= 0.05, lang


def test_persian_is_written_in_persian_script(items):
    def arabic_letters(text: str) -> int:
        return sum(1 for c in text if "ARABIC" in unicodedata.name(c, ""))

    persian = [i for i in items if i["lang"] == "fa"]
    assert persian
    assert all(arabic_letters(i["text"]) > len(i["text"]) / 3 for i in persian)
    assert any("\u200c" in i["text"] for i in persian)  # the half-space real Persian uses


def test_every_scenario_is_present(items):
    counts = scenario_counts(items)
    for name in demo.SCENARIOS:
        assert counts[name] > 0, name
    assert any(i["raw"]["scenario"] == "threat" and "press" in i["text"] for i in items)


def test_scenario_mix_is_roughly_as_documented(items):
    counts, n = scenario_counts(items), len(items)
    complaints = sum(counts[s] for s in NEGATIVE) / n
    assert 0.30 <= complaints <= 0.40
    assert 0.20 <= counts["praise"] / n <= 0.30
    assert 0.15 <= counts["neutral"] / n <= 0.25
    assert 0.07 <= counts["question"] / n <= 0.13
    assert 0.03 <= counts["competitor"] / n <= 0.07
    assert counts["spam"] / n <= 0.02


def test_own_replies_are_the_brand_in_threads(items):
    own = [i for i in items if i["is_own"]]
    assert own and all(i["raw"]["scenario"] == "own_reply" for i in own)
    assert all(i["author"] == demo.OWN_HANDLE and i["kind"] == "comment" and i["parent_id"] for i in own)
    assert not any(i["raw"]["scenario"] == "own_reply" for i in items if not i["is_own"])


def test_outage_spike(items):
    day = (ANCHOR - timedelta(days=10)).date()
    start = datetime(day.year, day.month, day.day, 7, tzinfo=timezone.utc)
    window = [i for i in items if start <= i["created_at"] <= start + timedelta(hours=29)]
    assert len(window) >= 350
    outage = [i for i in window if i["raw"]["scenario"] == "outage"]
    assert len(outage) >= 0.75 * len(window)
    assert len({i["lang"] for i in outage}) >= 5
    assert any(i["author_reach"] >= 50_000 for i in outage)
    tagged = [i for i in items if i["raw"].get("spike") and i["kind"] != "comment"]
    assert len(tagged) >= 300
    assert all(start <= i["created_at"] <= start + timedelta(hours=29) for i in tagged)

    per_day = Counter(i["created_at"].date() for i in items)
    assert max(per_day, key=per_day.get) == day
    assert per_day[day] >= 5 * statistics.median(per_day.values())


def test_influencers_exist(items):
    big = {i["author"] for i in items if i["author_reach"] >= 50_000 and not i["is_own"]}
    assert 3 <= len(big)
    assert statistics.median(i["author_reach"] for i in items if i["platform"] == "x") < 2000


def test_ratings_match_kind_and_text(items):
    for i in items:
        if i["kind"] == "review":
            assert i["platform"] in REVIEW_PLATFORMS
            assert i["rating"] in (1, 2, 3, 4, 5)
            scenario = i["raw"]["scenario"]
            if scenario in NEGATIVE:
                assert i["rating"] <= 2
            elif scenario == "praise":
                assert i["rating"] >= 4
            elif scenario == "neutral":
                assert i["rating"] == 3
        else:
            assert i["rating"] is None
    assert {i["platform"] for i in items if i["kind"] == "review"} == REVIEW_PLATFORMS


def test_threads_hang_together(items):
    by_key = {(i["platform"], i["native_id"]): i for i in items}
    comments = [i for i in items if i["kind"] == "comment"]
    assert comments
    for c in comments:
        parent = by_key[(c["platform"], c["parent_id"])]
        assert c["thread_id"] == parent["thread_id"] is not None
        assert parent["created_at"] <= c["created_at"]
    for i in items:
        if i["kind"] != "comment":
            assert i["parent_id"] is None


def test_some_authors_come_back_to_chase_their_complaint(items):
    by_key = {(i["platform"], i["native_id"]): i for i in items}
    followups = [i for i in items if i["raw"].get("role") == "followup"]
    assert len(followups) >= 3
    for f in followups:
        root = by_key[(f["platform"], f["thread_id"])]
        assert f["author"] == root["author"]
        assert f["created_at"] - root["created_at"] >= timedelta(days=1)


def test_tweets_fit(items):
    assert all(len(i["text"]) <= 280 for i in items if i["platform"] == "x")


def test_texts_are_varied(items):
    assert len({i["text"] for i in items}) / len(items) >= 0.6


def test_brand_posts_name_the_brand(items):
    """Root posts on keyword-searched platforms must contain a keyword, or no collector would find them."""
    for i in items:
        if i["kind"] == "post" and i["raw"]["scenario"] not in ("competitor", "spam"):
            assert "tidewell" in i["text"].lower(), i["text"]
    assert any("tidewell beach" in i["text"].lower() for i in items)  # for the exclude rule


def test_daily_and_weekly_rhythm(items):
    calm = [i["created_at"] for i in items if not i["raw"].get("spike")]
    hours = Counter(t.hour for t in calm)
    assert sum(hours[h] for h in range(2, 5)) * 3 < sum(hours[h] for h in range(10, 13))
    days = Counter(t.weekday() for t in calm)
    assert min(days[d] for d in range(5)) > max(days[5], days[6])


def test_same_anchor_same_output(items):
    assert demo.generate(ANCHOR) == items


def test_output_is_a_fresh_copy(items):
    first = demo.generate(ANCHOR)
    first[0]["raw"]["scenario"] = "changed"
    first[0]["text"] = "changed"
    again = demo.generate(ANCHOR)
    assert again[0]["raw"]["scenario"] != "changed" and again[0]["text"] != "changed"


def test_other_anchor_same_content_other_times(items):
    other = demo.generate(OTHER_ANCHOR)
    anchor = OTHER_ANCHOR.astimezone(timezone.utc)

    def content(rows):
        return {(i["platform"], i["native_id"]): (i["text"], i["author"], i["lang"], i["raw"]) for i in rows}

    assert content(other) == content(items)
    assert all(anchor - timedelta(days=56) < i["created_at"] <= anchor for i in other)
    assert all(i["created_at"].tzinfo == timezone.utc for i in other)


def test_whole_weeks_later_is_an_exact_shift(items):
    later = demo.generate(ANCHOR + timedelta(weeks=3))
    assert [(i["native_id"], i["created_at"] - timedelta(weeks=3)) for i in later] == [
        (i["native_id"], i["created_at"]) for i in items
    ]


def test_naive_anchor_is_refused():
    with pytest.raises(ValueError):
        demo.generate(datetime(2025, 3, 14, 15, 0))
