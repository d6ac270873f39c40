"""Bot-token Slack channels through the real slack_sdk WebClient, over HTTP, against the local
Slack-like server: threads per case, in-place updates, digests, routing, exact redelivery,
uploads, and the CLI / error paths; on SQLite and PostgreSQL."""

import logging
from datetime import timedelta

import pytest
from click.testing import CliRunner
from sqlmodel import select

from alerts import outbox
from alerts.slack import SlackBotNotifier, upload_file
from repmon import cases, config, demo, logs, pipeline, store
from repmon.cli import main
from repmon.errors import ConfigError, NotifierError
from repmon.models import AlertOutbox, Case, SlackThread, Source, utcnow
from tests import slack_server
from tests.slack_server import TOKEN, SlackLike

THREAT = "@tidewell refund me by Friday or I post this everywhere and call the press. <!channel> <@U123> @here"


@pytest.fixture
def slack():
    with SlackLike() as server:
        yield server


def bot(slack, name="pr", channel="C0ALERTS1", **kw) -> dict:
    return {"name": name, "bot_token": TOKEN, "channel": channel, "api_url": slack.api_url, **kw}


def make_cfg(db_url, channels, brands=None, **alerts) -> config.Config:
    data = {"database": {"url": db_url}, "alerts": {"slack": channels, **alerts}}
    if brands:
        data["brands"] = brands
    return config.parse(data, "test")


def seed(cfg, n=1, text=THREAT) -> list[int]:
    """n urgent cases from n different authors; returns their ids, oldest first."""
    with store.session(cfg.database.url) as s:
        brand_id = store.sync_brands(s, cfg.brands)[cfg.brands[0].name]
        start = len(s.exec(select(Case)).all())
        store.upsert_mentions(s, [dict(
            source="test", platform="x", native_id=f"t{start + i}", author=f"customer{start + i}", author_reach=120,
            text=text, lang="en", created_at=utcnow() - timedelta(minutes=5), brand_id=brand_id,
        ) for i in range(n)])
    pipeline.score_pending(cfg)
    cases.update_cases(cfg)
    with store.session(cfg.database.url) as s:
        return [c.id for c in s.exec(select(Case).order_by(Case.id)).all()][start:]


def rows(cfg, **where) -> list[AlertOutbox]:
    with store.session(cfg.database.url) as s:
        q = select(AlertOutbox).order_by(AlertOutbox.id)
        for k, v in where.items():
            q = q.where(getattr(AlertOutbox, k) == v)
        return s.exec(q).all()


def make_due(cfg) -> None:
    with store.session(cfg.database.url) as s:
        for row in s.exec(select(AlertOutbox).where(AlertOutbox.status == "pending")).all():
            row.next_attempt_at = utcnow()
            s.add(row)


def top_level(slack, channel="C0ALERTS1") -> list[dict]:
    return [m for m in slack.posted(channel) if m["thread_ts"] is None]


# --- the notifier ------------------------------------------------------------------------

def test_bot_posts_with_metadata_and_maps_slack_errors(slack):
    ch = config.SlackChannel(**bot(slack))
    n = SlackBotNotifier(ch, timeout=10)
    channel_id, ts = n.post({"text": "hi", "blocks": []}, key="k1")
    assert channel_id == "C0ALERTS1" and slack.posted()[0]["metadata"]["event_payload"] == {"key": "k1"}
    assert n.find("k1", utcnow() - timedelta(minutes=1)) == ts
    assert n.find("nope", utcnow() - timedelta(minutes=1)) is None

    cases_ = [
        (slack_server.error("invalid_auth"), True, "check bot_token"),
        (slack_server.error("channel_not_found"), True, "channel_not_found"),
        (slack_server.error("account_inactive"), True, "reinstall"),
        (slack_server.server_error(500), False, "HTTP 500"),
        (slack_server.error("internal_error"), False, "internal_error"),
    ]
    for answer, permanent, text in cases_:
        slack.script_api("chat.postMessage", answer)
        with pytest.raises(NotifierError) as err:
            n.post({"text": "x"})
        assert err.value.permanent is permanent and text in str(err.value), (answer, str(err.value))
        assert err.value.retry_after is None
    slack.script_api("chat.postMessage", slack_server.rate_limited(120))
    with pytest.raises(NotifierError) as err:
        n.post({"text": "x"})
    assert err.value.retry_after == 120 and not err.value.permanent

    outsider = SlackBotNotifier(config.SlackChannel(**bot(slack, channel="C0NOTMEM1")))
    with pytest.raises(NotifierError, match="invite the app") as err:
        outsider.post({"text": "x"})
    assert err.value.permanent
    wrong = SlackBotNotifier(config.SlackChannel(**{**bot(slack), "bot_token": "xoxb-wrong"}))
    with pytest.raises(NotifierError, match="invalid_auth") as err:
        wrong.post({"text": "x"})
    assert err.value.permanent and "xoxb-wrong" not in str(err.value)
    dead = SlackBotNotifier(config.SlackChannel(**{**bot(slack), "api_url": "http://127.0.0.1:9/api/"}))
    with pytest.raises(NotifierError) as err:
        dead.post({"text": "x"})
    assert not err.value.permanent
    assert len(slack.posted()) == 1  # none of the failures posted anything


def test_a_short_rate_limit_is_waited_out_inside_the_call(slack):
    n = SlackBotNotifier(config.SlackChannel(**bot(slack)), timeout=10)
    slack.script_api("chat.postMessage", slack_server.rate_limited(1))
    n.post({"text": "after the wait"})
    assert len(slack.calls("chat.postMessage")) == 2 and slack.posted()[0]["text"] == "after the wait"


# --- threads and updates -----------------------------------------------------------------

def test_a_case_gets_one_thread_its_alerts_reply_in_it_and_its_message_follows_the_case(db_url, slack):
    cfg = make_cfg(db_url, [bot(slack)])
    (case_id,) = seed(cfg)
    assert outbox.dispatch(cfg).sent == 1
    (parent,) = slack.posted()
    assert parent["metadata"]["event_payload"]["key"] == f"case-opened:{case_id}:pr"
    assert "CRITICAL" in parent["text"] and "status new" in str(parent["blocks"])
    dumped = str(parent)
    for raw in ("<!channel>", "<@U123>"):
        assert raw not in dumped
    assert "&lt;!channel&gt;" in dumped
    with store.session(db_url) as s:
        thread = s.get(SlackThread, (case_id, "pr"))
        assert (thread.slack_channel, thread.ts) == ("C0ALERTS1", parent["ts"])
        case = s.get(Case, case_id)
        case.first_response_due = utcnow() - timedelta(minutes=1)
        s.add(case)
    assert cases.check_slas(cfg) == 1
    assert outbox.dispatch(cfg).sent == 1
    reply = slack.posted()[-1]
    assert reply["thread_ts"] == parent["ts"] and "SLA breached" in reply["text"]

    cases.act(db_url, case_id, "assign", "lead", owner="ana")
    cases.act(db_url, case_id, "note", "ana", text="calling them")  # history only: no update
    cases.act(db_url, case_id, "resolve", "ana", text="refund path explained")
    r = outbox.dispatch(cfg)
    assert (r.sent, r.skipped) == (1, 1)  # the assign update is superseded by the resolve one
    updates = slack.calls("chat.update")
    assert len(updates) == 1 and updates[0]["ts"] == parent["ts"] and updates[0]["channel"] == "C0ALERTS1"
    edited = slack.posted()[0]
    assert edited["edited"] == 1 and edited["text"].startswith("[resolved]")
    state = next(b for b in edited["blocks"] if b.get("block_id") == "repmon_state")
    assert "status resolved" in str(state) and "owner ana" in str(state)
    assert len(top_level(slack)) == 1 and len(slack.posted()) == 2
    assert [a.status for a in rows(cfg, kind="case_updated")] == ["skipped", "sent"]


def test_updates_before_the_first_post_are_skipped_and_the_post_shows_the_state(db_url, slack):
    cfg = make_cfg(db_url, [bot(slack)])
    (case_id,) = seed(cfg)
    cases.act(db_url, case_id, "acknowledge", "ana")
    slack.script_api("chat.postMessage", slack_server.server_error(503))
    r = outbox.dispatch(cfg)
    assert (r.retrying, r.skipped) == (1, 1)
    make_due(cfg)
    assert outbox.dispatch(cfg).sent == 1
    (parent,) = slack.posted()
    assert "status acknowledged" in str(parent["blocks"])
    assert slack.calls("chat.update") == []


def test_webhook_channels_hear_only_when_a_case_closes(db_url, slack):
    cfg = make_cfg(db_url, [{"name": "oncall", "webhook_url": f"{slack.url}/services/T1/B1/x"}])
    (case_id,) = seed(cfg)
    cases.act(db_url, case_id, "assign", "lead", owner="ana")
    r = outbox.dispatch(cfg)
    assert (r.sent, r.skipped) == (1, 1)
    cases.act(db_url, case_id, "dismiss", "ana <!here>", text="spam <https://evil|click>")
    assert outbox.dispatch(cfg).sent == 1
    closing = slack.received[-1]["json"]["text"]
    assert f"Case #{case_id}" in closing and "dismissed by ana" in closing
    assert "<!here>" not in closing and "<https://evil" not in closing


# --- routing -----------------------------------------------------------------------------

def test_routes_pick_channels_by_brand_priority_and_kind(db_url, slack):
    channels = [bot(slack), bot(slack, name="press", channel="C0PRESS01"),
                {"name": "ops", "webhook_url": f"{slack.url}/services/ops"}]
    cfg = make_cfg(db_url, channels, min_priority="medium", routes=[
        {"brands": ["Tidewell Mobile"], "min_priority": "critical", "kinds": ["case_opened"], "channels": ["pr", "press"]},
        {"kinds": ["source_down", "sla_breached"], "channels": ["ops"]},
        {"brands": ["Nobody Else"], "channels": ["press"]},
    ], source_down_minutes=1, brands=[demo.BRAND, {"name": "Nobody Else", "keywords": ["zzz"]}])
    assert outbox.channels_for(cfg, "case_opened", "Tidewell Mobile", "critical") == ["pr", "press"]
    assert outbox.channels_for(cfg, "case_opened", "Tidewell Mobile", "high") == []
    assert outbox.channels_for(cfg, "sla_breached", "Tidewell Mobile", "high") == ["ops"]
    assert outbox.channels_for(cfg, "spike", "Nobody Else", None) == ["press"]
    assert outbox.channels_for(cfg, "spike", None, None) == []
    (case_id,) = seed(cfg)
    assert sorted(a.channel for a in rows(cfg)) == ["pr", "press"]
    with store.session(db_url) as s:
        src = Source(name="rss", kind="rss", failing_since=utcnow() - timedelta(minutes=5), last_error="HTTP 503")
        assert outbox.enqueue_source_down(s, cfg, src) == 1
        assert outbox.enqueue_source_down(s, cfg, src) == 0  # the same outage queues nothing new
    assert [a.channel for a in rows(cfg, kind="source_down")] == ["ops"]
    assert outbox.dispatch(cfg).sent == 3
    assert len(slack.posted("C0ALERTS1")) == len(slack.posted("C0PRESS01")) == 1
    assert any(r["path"] == "/services/ops" for r in slack.received)
    no_routes = make_cfg(db_url, channels)
    assert outbox.channels_for(no_routes, "spike", None, None) == ["pr", "press", "ops"]


def test_enqueue_is_idempotent_per_key_and_channel(db_url, slack):
    cfg = make_cfg(db_url, [bot(slack), bot(slack, name="press", channel="C0PRESS01")])
    payload = {"text": "spike", "blocks": []}
    with store.session(db_url) as s:
        assert outbox.enqueue(s, cfg, "spike", "spike:1:volume:2026-11-24T10", payload, priority="high") == 2
        assert outbox.enqueue(s, cfg, "spike", "spike:1:volume:2026-11-24T10", payload, priority="high") == 0
    assert outbox.dispatch(cfg).sent == 2


@pytest.mark.parametrize("alerts,message", [
    ({"slack": [{"name": "a", "webhook_url": "https://x", "bot_token": "xoxb-1"}]},
     "alerts.slack[0]: set either webhook_url, or bot_token and channel, not both"),
    ({"slack": [{"name": "a"}]}, "alerts.slack[0]: missing webhook_url, or bot_token and channel"),
    ({"slack": [{"name": "a", "bot_token": "xoxb-1"}]}, "alerts.slack[0]: missing channel"),
    ({"slack": [{"name": "a", "bot_token": "xoxb-1", "channel": "#alerts"}]}, "alerts.slack[0].channel: expected a channel ID"),
    ({"slack": [{"name": "a", "webhook_url": "https://x"}], "routes": [{"channels": ["b"]}]},
     "alerts: routes[0].channels: unknown channel 'b'"),
    ({"slack": [{"name": "a", "webhook_url": "https://x"}], "routes": [{"channels": ["a"], "brands": ["Acme"]}]},
     "alerts.routes[0].brands: unknown brand 'Acme'"),
    ({"slack": [{"name": "a", "webhook_url": "https://x"}, {"name": "a", "webhook_url": "https://y"}]},
     "each channel name may appear once"),
])
def test_bad_alert_settings_name_the_key(alerts, message):
    with pytest.raises(ConfigError) as err:
        config.parse({"alerts": alerts}, "test")
    assert message in str(err.value)
    assert "xoxb-1" not in str(err.value)


# --- floods ------------------------------------------------------------------------------

def test_a_flood_becomes_one_digest_that_grows_in_place(db_url, slack):
    cfg = make_cfg(db_url, [bot(slack)], digest_after=2, cooldown_minutes=15)
    ids = seed(cfg, 5)
    opened = rows(cfg, kind="case_opened")
    assert [a.status for a in opened] == ["pending", "pending", "digested", "digested", "digested"]
    (digest,) = rows(cfg, kind="digest")
    assert {a.digest_id for a in opened[2:]} == {digest.id} and "folded into digest" in opened[2].last_error
    outbox.dispatch(cfg)
    assert len(top_level(slack)) == 3  # two alerts and one digest, not five alerts
    digest_msg = top_level(slack)[-1]
    for case_id in ids[2:]:
        assert f"case?id={case_id}|#{case_id}>" in str(digest_msg["blocks"])
    assert "<!channel>" not in str(digest_msg)
    more = seed(cfg, 1)
    assert rows(cfg, kind="case_opened")[-1].status == "digested"
    outbox.dispatch(cfg)
    assert len(top_level(slack)) == 3
    grown = top_level(slack)[-1]
    assert grown["ts"] == digest_msg["ts"] and f"#{more[0]}>" in str(grown["blocks"]) and "4 more new case" in grown["text"]
    assert all(a.status in ("sent", "skipped", "digested") for a in rows(cfg))


def test_a_webhook_digest_goes_once_when_its_window_closes(db_url, slack):
    cfg = make_cfg(db_url, [{"name": "oncall", "webhook_url": f"{slack.url}/services/T1/B1/x"}],
                   digest_after=1, cooldown_minutes=10)
    ids = seed(cfg, 3)
    assert outbox.dispatch(cfg).sent == 1
    (digest,) = rows(cfg, kind="digest")
    assert digest.status == "pending" and digest.next_attempt_at > utcnow() + timedelta(minutes=9)
    make_due(cfg)
    assert outbox.dispatch(cfg).sent == 1
    text = str(slack.received[-1]["json"])
    assert "2 more new case" in text and f"#{ids[1]}>" in text and f"#{ids[2]}>" in text
    assert len(slack.received) == 2


# --- exactly once ------------------------------------------------------------------------

@pytest.mark.parametrize("delivered", [True, False])
def test_a_timed_out_post_is_looked_up_before_it_is_sent_again(db_url, slack, delivered):
    cfg = make_cfg(db_url, [bot(slack)], send_timeout_seconds=1)
    seed(cfg)
    slack.delay("chat.postMessage", 2.5, deliver=delivered)
    assert outbox.dispatch(cfg).retrying == 1
    make_due(cfg)
    r = outbox.dispatch(cfg)
    assert r.sent == 1
    assert len(slack.posted()) == 1
    assert len(slack.calls("conversations.history")) == 1
    (row,) = rows(cfg)
    assert row.status == "sent" and row.slack_ts == slack.posted()[0]["ts"]
    assert (row.last_error is not None) is delivered  # "not posted again" only when it had landed


def test_an_interrupted_send_is_settled_from_the_channel(db_url, slack):
    """A process died between claiming and finishing: found in Slack, it is marked sent;
    the one that never arrived is sent. (The subprocess kill test does this for real.)"""
    cfg = make_cfg(db_url, [bot(slack)], send_timeout_seconds=1)
    a, b = seed(cfg, 2)
    n = SlackBotNotifier(cfg.alerts.slack[0])
    ts_a = n.post({"text": "landed before the crash"}, key=f"case-opened:{a}:pr")[1]
    with store.session(db_url) as s:
        for row in s.exec(select(AlertOutbox)).all():
            row.status, row.attempts, row.next_attempt_at = "sending", 1, utcnow() - timedelta(seconds=1)
            s.add(row)
    r = outbox.dispatch(cfg)
    assert (r.recovered, r.sent) == (1, 1)
    assert len(slack.posted()) == 2
    first, second = rows(cfg)
    assert first.slack_ts == ts_a and "found there, not resent" in first.last_error
    assert second.status == "sent" and second.slack_ts == slack.posted()[1]["ts"]
    with store.session(db_url) as s:
        assert s.get(SlackThread, (a, "pr")).ts == ts_a


def test_an_interrupted_send_that_cannot_be_checked_fails_visibly(db_url, slack):
    cfg = make_cfg(db_url, [bot(slack)], send_timeout_seconds=1)
    seed(cfg)
    with store.session(db_url) as s:
        row = s.exec(select(AlertOutbox)).one()
        row.status, row.next_attempt_at = "sending", utcnow() - timedelta(seconds=1)
        s.add(row)
    slack.script_api("conversations.history", slack_server.error("missing_scope"))
    assert outbox.dispatch(cfg).failed == 1
    (row,) = rows(cfg)
    assert row.status == "failed" and "repmon alerts retry" in row.last_error and "channels:history" in row.last_error
    assert slack.posted() == []


def test_failed_alerts_are_listed_and_can_be_retried(db_url, slack, tmp_path):
    cfg = make_cfg(db_url, [bot(slack)])
    seed(cfg, 2)
    slack.script_api("chat.postMessage", slack_server.error("not_in_channel"), slack_server.error("invalid_auth"))
    assert outbox.dispatch(cfg).failed == 2
    assert [a.status for a in outbox.problems(db_url)] == ["failed", "failed"]
    path = tmp_path / "repmon.toml"
    path.write_text(f'[database]\nurl = "{db_url}"\n[[alerts.slack]]\nname = "pr"\nbot_token = "{TOKEN}"\n'
                    f'channel = "C0ALERTS1"\napi_url = "{slack.api_url}"\n')
    run = lambda *a: CliRunner().invoke(main, ["--config", str(path), "alerts", *a], catch_exceptions=False)  # noqa: E731
    listed = run("list", "--status", "failed").output
    assert "not_in_channel" in listed and "invalid_auth" in listed and TOKEN not in listed
    first = rows(cfg)[0].id
    assert "1 alert(s) requeued" in run("retry", str(first)).output
    bad = run("retry", "99999")
    assert bad.exit_code == 1 and "99999" in bad.output
    assert "1 sent, 0 to retry, 0 failed" in run("dispatch").output
    assert "1 alert(s) requeued" in run("retry", "--failed").output
    run("dispatch")
    assert [a.status for a in rows(cfg)] == ["sent", "sent"]
    assert len(slack.calls("conversations.history")) == 2  # each looked for an earlier copy first
    assert len(slack.posted()) == 2


def test_bot_tokens_never_reach_the_logs(db_url, slack, capfd):
    cfg = make_cfg(db_url, [bot(slack)])
    assert TOKEN in logs.secrets_of(cfg)
    logs.setup(cfg, verbose=True)
    try:
        logging.getLogger("repmon.test").error("token is %s", TOKEN)
        seed(cfg)
        outbox.dispatch(cfg)
    finally:
        logging.getLogger().handlers[:] = []
    err = capfd.readouterr().err
    assert "token is ***" in err and TOKEN not in err


# --- uploads -----------------------------------------------------------------------------

def test_upload_file_sends_a_report_to_a_bot_channel(slack, tmp_path):
    report = tmp_path / "report-2026-W47.html"
    report.write_bytes(b"<html>weekly</html>")
    ch = config.SlackChannel(**bot(slack))
    upload_file(ch, report, "Weekly report 2026-W47", comment="This week's report")
    upload_file(ch, b"%PDF-1.7 bytes", "As PDF", filename="report.pdf")
    (first, second) = slack.files.values()
    assert (first["filename"], first["title"], first["content"], first["channel"]) == (
        report.name, "Weekly report 2026-W47", b"<html>weekly</html>", "C0ALERTS1")
    assert second["content"] == b"%PDF-1.7 bytes" and second["filename"] == "report.pdf"
    assert slack.posted()[0]["text"] == "This week's report"
    slack.script_api("files.completeUploadExternal", slack_server.error("channel_not_found"))
    with pytest.raises(NotifierError) as err:
        upload_file(ch, report, "again")
    assert err.value.permanent
    hook = config.SlackChannel(name="oncall", webhook_url=f"{slack.url}/services/x")
    with pytest.raises(NotifierError, match="incoming webhooks cannot upload files") as err:
        upload_file(hook, report, "x")
    assert err.value.permanent
    with pytest.raises(NotifierError, match="no file at"):
        upload_file(ch, tmp_path / "missing.html", "x")


def test_alerts_test_command_reaches_bot_channels(slack, tmp_path, sqlite_url):
    path = tmp_path / "repmon.toml"
    path.write_text(f'[database]\nurl = "{sqlite_url}"\n'
                    f'[[alerts.slack]]\nname = "pr"\nbot_token = "{TOKEN}"\nchannel = "C0ALERTS1"\napi_url = "{slack.api_url}"\n'
                    f'[[alerts.slack]]\nname = "hidden"\nbot_token = "{TOKEN}"\nchannel = "C0NOTMEM1"\n'
                    f'api_url = "{slack.api_url}"\n')
    r = CliRunner().invoke(main, ["--config", str(path), "alerts", "test"], catch_exceptions=False)
    assert r.exit_code == 1
    assert "pr: sent" in r.output and "hidden: FAILED" in r.output and "/invite" in r.output
    assert "repmon test alert for channel 'pr'" in slack.posted()[0]["text"]
