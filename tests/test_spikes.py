"""Spike alerts: an hour far above the usual for that hour of the week, on both stores."""

import itertools
import json
import logging
from datetime import datetime, timedelta, timezone

import pytest
from sqlmodel import select

from alerts import spikes
from repmon import config, store
from repmon.models import AlertOutbox, Mention, Score

# A Tuesday; the last complete hour is 13:00-14:00 UTC, the current one has run 20 minutes.
NOW = datetime(2026, 3, 10, 14, 20, tzinfo=timezone.utc)
HOUR = datetime(2026, 3, 10, 13, 0, tzinfo=timezone.utc)
_ids = itertools.count()


@pytest.fixture
def cfg(db_url):
    return config.parse({
        "database": {"url": db_url},
        "alerts": {"slack": [{"name": "oncall", "webhook_url": "http://127.0.0.1:9/services/T/B/x"}],
                   "dashboard_url": "http://dash.example"},
    }, "test")


@pytest.fixture
def brand_id(cfg):
    with store.session(cfg.database.url) as s:
        return store.sync_brands(s, cfg.brands)[cfg.brands[0].name]


def seed(cfg, brand_id, start, n, negative=0, label="neutral", category="billing", text="the app is fine today",
         reach=10, author="someone"):
    """n mentions spread over the hour from `start`; the first `negative` of them negative."""
    with store.session(cfg.database.url) as s:
        for i in range(n):
            m = Mention(brand_id=brand_id, source="test", platform="x", native_id=f"p{next(_ids)}", author=f"@{author}{i}",
                        author_reach=reach + i, text=text, created_at=start + timedelta(seconds=59 * i % 3600))
            s.add(m)
            s.flush()
            s.add(Score(mention_id=m.id, scorer="test", lang="en", label="negative" if i < negative else label,
                        category=category if i < negative else "other", needs_response=i < negative))


def quiet_history(cfg, brand_id):
    """Four weeks: 5 posts (1 negative) at this hour each Tuesday, and 30 at this hour every
    other day, so only an hour-of-the-week usual (5) differs from an hour-of-the-day one (30)."""
    for day in range(1, 29):
        start = HOUR - timedelta(days=day)
        if day % 7 == 0:
            seed(cfg, brand_id, start, 5, negative=1)
        else:
            seed(cfg, brand_id, start, 30, negative=6)


def alerts(cfg):
    with store.session(cfg.database.url) as s:
        return s.exec(select(AlertOutbox).where(AlertOutbox.kind == "spike").order_by(AlertOutbox.key)).all()


def test_a_negative_burst_raises_one_alert_per_signal_with_the_numbers(cfg, brand_id):
    quiet_history(cfg, brand_id)
    seed(cfg, brand_id, HOUR, 40, negative=30, text="charged twice for my bill again, refund please")
    seed(cfg, brand_id, HOUR + timedelta(minutes=5), 1, negative=1, reach=90_000, author="bigaccount",
         text="<!channel> charged twice and nobody answers")

    found = spikes.detect(cfg.database.url, cfg, brand_id, NOW)

    assert sorted(s.signal for s in found) == ["negative_share", "volume"]
    volume = next(s for s in found if s.signal == "volume")
    assert (volume.value, volume.usual, volume.ratio) == (41, 5, 8.2)
    assert volume.earlier == [5, 5, 5, 5] and "weeks before" in volume.baseline
    rows = alerts(cfg)
    assert [r.key for r in rows] == [f"spike:{brand_id}:{sig}:{HOUR.isoformat()}:oncall"
                                     for sig in ("negative_share", "volume")]
    share_text, volume_text = rows[0].payload["text"], rows[1].payload["text"]
    assert "41 mentions in 2026-03-10 13:00–14:00 UTC, usually 5 (×8.2); 31 negative" in volume_text
    assert "76% negative" in share_text and "(31 of 41 scored mentions), usually 20% (+56 points)" in share_text
    assert "billing 31" in share_text and "charged twice" in share_text
    blocks = json.dumps(rows[0].payload["blocks"])
    assert "@bigaccount0" in blocks and blocks.index("@bigaccount0") < blocks.index("@someone")  # widest reach first
    assert "<!channel>" not in json.dumps(rows[0].payload) and "&lt;!channel&gt;" in blocks

    assert len(spikes.detect(cfg.database.url, cfg, brand_id, NOW)) == 2  # still a spike...
    assert spikes.detect(cfg.database.url, cfg, brand_id, NOW + timedelta(minutes=30))
    assert len(alerts(cfg)) == 2  # ...but its alerts are not queued again


def test_the_hour_so_far_alerts_early_and_once(cfg, brand_id):
    quiet_history(cfg, brand_id)
    current = HOUR + timedelta(hours=1)
    seed(cfg, brand_id, current, 25, negative=2, label="positive")
    early = spikes.detect(cfg.database.url, cfg, brand_id, NOW)  # 20 minutes in
    assert [(s.signal, s.partial, s.hour) for s in early] == [("volume", True, current)]
    assert "so far" in alerts(cfg)[0].payload["text"]
    later = spikes.detect(cfg.database.url, cfg, brand_id, current + timedelta(hours=1, minutes=5))
    assert [(s.signal, s.partial) for s in later] == [("volume", False)]
    assert len(alerts(cfg)) == 1  # the same hour and signal: one alert


def test_a_positive_burst_raises_volume_but_not_negative_share(cfg, brand_id):
    quiet_history(cfg, brand_id)
    seed(cfg, brand_id, HOUR, 60, negative=3, label="positive", text="love the new plan")
    found = spikes.detect(cfg.database.url, cfg, brand_id, NOW)
    assert [s.signal for s in found] == ["volume"]
    assert [r.key.split(":")[2] for r in alerts(cfg)] == ["volume"]


def test_one_bad_week_in_the_baseline_does_not_raise_the_bar(cfg, brand_id):
    quiet_history(cfg, brand_id)
    seed(cfg, brand_id, HOUR - timedelta(weeks=1), 60)  # last week's own spike: a mean would be 20 now
    seed(cfg, brand_id, HOUR, 40)
    [spike] = spikes.detect(cfg.database.url, cfg, brand_id, NOW)
    assert (spike.signal, spike.usual, spike.earlier) == ("volume", 5, [5, 5, 5, 65])


def test_an_ordinary_hour_raises_nothing(cfg, brand_id):
    quiet_history(cfg, brand_id)
    seed(cfg, brand_id, HOUR, 7, negative=2)  # above the usual 5, but neither 3x nor 25 points up
    assert spikes.detect(cfg.database.url, cfg, brand_id, NOW) == []
    assert alerts(cfg) == []


def test_no_history_no_alert_and_the_log_says_why(cfg, brand_id, caplog):
    seed(cfg, brand_id, HOUR, 80, negative=70)
    with caplog.at_level(logging.INFO, logger="alerts.spikes"):
        assert spikes.detect(cfg.database.url, cfg, brand_id, NOW) == []
    assert alerts(cfg) == []
    assert "only 0 earlier day(s) of mentions" in caplog.text


def test_a_young_brand_is_compared_with_the_same_hour_on_earlier_days(cfg, brand_id):
    for day in range(1, 6):
        seed(cfg, brand_id, HOUR - timedelta(days=day), 4)
    seed(cfg, brand_id, HOUR, 30)
    [spike] = spikes.detect(cfg.database.url, cfg, brand_id, NOW)
    assert (spike.signal, spike.usual, spike.baseline) == ("volume", 4, "the same hour on the 5 days before")


def test_the_hour_of_the_week_follows_local_time_across_a_dst_change():
    # Europe/Berlin moves to summer time on 2026-03-29: 14:00 local is 13:00 UTC before, 12:00 after.
    start = datetime(2026, 4, 7, 12, 0, tzinfo=timezone.utc)
    first = datetime(2026, 1, 1, tzinfo=timezone.utc)
    windows, _ = spikes._baseline_windows(start, first, 4, "Europe/Berlin")
    assert [w.hour for w in windows] == [13, 13, 13, 12]
    windows, _ = spikes._baseline_windows(start, first, 4, "UTC")
    assert [w.hour for w in windows] == [12, 12, 12, 12]


def test_check_runs_every_brand_and_can_be_switched_off(cfg, brand_id):
    quiet_history(cfg, brand_id)
    seed(cfg, brand_id, HOUR, 40)
    off = cfg.model_copy(deep=True)
    off.alerts.spikes.enabled = False
    assert spikes.check(off, NOW) == 0
    assert spikes.check(cfg, NOW) == 1 and len(alerts(cfg)) == 1


def test_message_escapes_every_post_and_name():
    post = spikes.Post(1, "x", "<@U123|boss>", 5, "<!channel> refund & <https://evil|click>", "https://x.com/a/1",
                       "negative", "billing")
    spike = spikes.Spike(brand_id=1, brand="Tidewell", signal="negative_share", hour=HOUR,
                         until=HOUR + timedelta(hours=1), partial=False, value=0.8, usual=0.2, earlier=[0.2, 0.1, 0.3],
                         baseline="the same hour of the week in the 3 weeks before", mentions=50, negative=40,
                         scored=50, posts=[post], categories=[("billing", 40)], phrases=[("<!here> twice", 3)])
    message = spikes.spike_message(spike, "http://dash")
    dumped = json.dumps(message)
    for raw in ("<!channel>", "<@U123", "<https://evil", "<!here>"):
        assert raw not in dumped
    assert "&lt;!channel&gt; refund &amp; &lt;https://evil|click&gt;" in dumped
    assert message["text"].startswith("Tidewell: negative share spike, 80% negative")
    assert "+60 points" in message["text"] and "usually 20%" in message["text"]
    assert "median of the same hour of the week in the 3 weeks before: 20%, 10%, 30%" in dumped
