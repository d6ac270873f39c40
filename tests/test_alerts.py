"""Alerts through the real slack_sdk webhook client, over HTTP, to a local Slack-like server."""

from datetime import timedelta

import pytest
from sqlmodel import select

from alerts import outbox
from alerts.messages import escape
from alerts.slack import SlackWebhookNotifier
from repmon import cases, config, pipeline, store
from repmon.errors import NotifierError
from repmon.models import AlertOutbox, Mention, utcnow
from tests.slack_server import SlackLike


@pytest.fixture
def slack():
    with SlackLike() as server:
        yield server


def _cfg(db_url: str, slack_url: str, **alerts) -> config.Config:
    return config.parse({
        "database": {"url": db_url},
        "alerts": {"slack": [{"name": "oncall", "webhook_url": f"{slack_url}/services/T1/B1/x"}], **alerts},
    }, "test")


def test_escape_neutralises_mentions_and_links():
    assert escape("<!channel> & <https://evil|click>") == "&lt;!channel&gt; &amp; &lt;https://evil|click&gt;"


def test_webhook_notifier_success_and_errors(slack):
    n = SlackWebhookNotifier("oncall", f"{slack.url}/services/T1/B1/x")
    n.send({"text": "hello", "blocks": []})
    assert slack.received[-1]["json"]["text"] == "hello"
    slack.script((429, "rate_limited", {"Retry-After": "7"}))
    with pytest.raises(NotifierError) as err:
        n.send({"text": "x"})
    assert err.value.retry_after == 7 and not err.value.permanent
    slack.script((404, "no_service", {}))
    with pytest.raises(NotifierError) as err:
        n.send({"text": "x"})
    assert err.value.permanent
    slack.script((500, "oops", {}))
    with pytest.raises(NotifierError) as err:
        n.send({"text": "x"})
    assert not err.value.permanent


def _seed_urgent_case(cfg, text="@tidewell refund me by Friday or I post this everywhere and call the press. <!channel>"):
    with store.session(cfg.database.url) as s:
        store.sync_brands(s, cfg.brands)
        brand_id = store.sync_brands(s, cfg.brands)[cfg.brands[0].name]
        store.upsert_mentions(s, [dict(
            source="test", platform="x", native_id="t1", author="angry_customer", author_reach=120,
            text=text, lang="en", created_at=utcnow() - timedelta(minutes=5), brand_id=brand_id,
        )])
    pipeline.score_pending(cfg)
    cases.update_cases(cfg)


def test_urgent_case_alert_is_sent_once_with_escaped_text(db_url, slack):
    cfg = _cfg(db_url, slack.url)
    _seed_urgent_case(cfg)
    first = outbox.dispatch(cfg)
    assert (first.sent, first.failed) == (1, 0)
    assert outbox.dispatch(cfg).sent == 0  # nothing is sent twice
    cases.update_cases(cfg)  # re-running the stage queues nothing new
    assert outbox.dispatch(cfg).sent == 0
    msg = slack.received[0]["json"]
    assert "CRITICAL" in msg["text"]
    dumped = str(msg)
    assert "<!channel>" not in dumped and "&lt;!channel&gt;" in dumped
    assert any(b.get("type") == "actions" for b in msg["blocks"])


def test_rate_limited_alert_waits_for_retry_after_then_goes(db_url, slack):
    cfg = _cfg(db_url, slack.url)
    _seed_urgent_case(cfg)
    slack.script((429, "rate_limited", {"Retry-After": "120"}))
    r = outbox.dispatch(cfg)
    assert (r.sent, r.retrying) == (0, 1)
    with store.session(cfg.database.url) as s:
        alert = s.exec(select(AlertOutbox)).one()
        assert alert.next_attempt_at > utcnow() + timedelta(seconds=100)
        alert.next_attempt_at = utcnow()  # time passes
        s.add(alert)
    assert outbox.dispatch(cfg).sent == 1
    assert len(slack.received) == 2


def test_permanent_failure_is_kept_visible(db_url, slack):
    cfg = _cfg(db_url, slack.url)
    _seed_urgent_case(cfg)
    slack.script((403, "invalid_token", {}))
    assert outbox.dispatch(cfg).failed == 1
    with store.session(cfg.database.url) as s:
        alert = s.exec(select(AlertOutbox)).one()
    assert alert.status == "failed" and "403" in alert.last_error


def test_old_posts_and_low_priority_do_not_page_anyone(db_url, slack):
    cfg = _cfg(db_url, slack.url)
    with store.session(cfg.database.url) as s:
        brand_id = store.sync_brands(s, cfg.brands)[cfg.brands[0].name]
        store.upsert_mentions(s, [
            dict(source="t", platform="x", native_id="old", author="a", text="@tidewell I will sue you, lawyer is ready",
                 created_at=utcnow() - timedelta(days=3), brand_id=brand_id),
            dict(source="t", platform="x", native_id="q", author="b", text="@tidewell does the plan include roaming?",
                 created_at=utcnow(), brand_id=brand_id),
        ])
    pipeline.score_pending(cfg)
    assert cases.update_cases(cfg) == 2
    with store.session(cfg.database.url) as s:
        assert s.exec(select(AlertOutbox)).all() == []
        assert len(s.exec(select(Mention)).all()) == 2
