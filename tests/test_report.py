"""The weekly report: its figures against the database (through a real PDF and pdftotext), the
HTML, email through a real local SMTP server (aiosmtpd), Slack upload, the once-a-week
guarantee, the scheduler's job and the `repmon report` command. Store tests run on SQLite and
PostgreSQL. Expected figures are counted here from the stored rows, never by the report's code."""

from __future__ import annotations

import asyncio
import base64
import email
import email.policy
import io
import math
import re
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from apscheduler.triggers.cron import CronTrigger
from click.testing import CliRunner
from PIL import Image
from sqlmodel import select

from reports import deliver, render, weekly
from repmon import config, pipeline, scheduler, store
from repmon.cli import main
from repmon.errors import RepmonError
from repmon.models import AlertOutbox, Case, Mention, Score
from tests.slack_server import TOKEN, SlackLike

UTC = timezone.utc
WEEK = "2026-W47"
START = datetime(2026, 11, 16, tzinfo=UTC)  # Monday
END = START + timedelta(days=7)
PREV = START - timedelta(days=7)
BRAND = {"name": "Acme Telecom", "keywords": ["acme"], "handles": ["@acmehelp"], "competitors": ["Rival", "Skyline"],
         "languages": ["en", "es", "fa"]}
OTHER = {"name": "Other Brand", "keywords": ["otherbrand"]}
PERSIAN = "اینترنت acme سه روز است قطع است و پشتیبانی جواب نمی‌دهد، واقعا افتضاح است"
LONG = "acme support is a disgrace. " + "I waited on hold for hours and nobody answered my calls. " * 20 + "THE END"
SCRIPT = "<script>alert('x')</script> acme charged twice and nobody cares"

pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
needs_pdftotext = pytest.mark.skipif(
    shutil.which("pdftotext") is None,
    reason="pdftotext not installed: apt-get install poppler-utils to check the PDF's figures")


def make_cfg(url: str, **reports) -> config.Config:
    return config.parse({"database": {"url": url}, "brands": [BRAND, OTHER], "sources": {}, "reports": reports},
                        "test")


def at(day: int, hour: int, week_start: datetime = START) -> datetime:
    return week_start + timedelta(days=day, hours=hour, minutes=7)


def posts() -> list[tuple]:
    """(brand, when, platform, lang, reach, text, is_own)."""
    a, o = BRAND["name"], OTHER["name"]
    charged = ["@acmehelp I was charged twice this month, fix it", "acme charged twice for the same bill, not ok",
               "Why am I charged twice by acme? Answer me", "acme charged twice AGAIN, I want my money back",
               "Just checked my bank: charged twice by acme, terrible", "acme charged twice and support ignores me",
               "charged twice on my card by acme, this is theft", "hello @acmehelp? charged twice and nobody answers"]
    rows = [(a, at(i % 7, 9 + i), ["x", "reddit", "x", "google_play"][i % 4], "en", [50, 9000, 10, 700][i % 4], t,
             False) for i, t in enumerate(charged)]
    rows += [(a, at(d, 14), "x", "en", 120, t, False) for d, t in enumerate([
        "acme no signal at home since monday, useless", "No signal in the whole village, acme please fix",
        "still no signal downtown with acme", "acme no signal again, worst network"])]
    rows += [(a, at(d, 18), "app_store", "en", 5, "Love acme, the new plan is great, thanks!", False) for d in range(5)]
    rows += [(a, at(2, 11), "reddit", "en", 300, "Switched from acme to Rival, Rival is cheaper and better", False),
             (a, at(3, 12), "x", "en", 40, "Rival outage again, glad I am with acme", False),
             (a, at(4, 13), "x", "en", 0, "Rival has the best coverage in town", False),
             (a, at(5, 10), "reddit", "en", 2, "Skyline or acme for a family plan?", False),
             (a, at(6, 10), "x", "en", 7, "Skyline prices went up again, awful", False),
             (a, at(1, 8), "google_play", "es", 30, "Acme me cobraron dos veces la factura, quiero mi dinero", False),
             (a, at(2, 8), "x", "es", 15, "Gracias acme, el nuevo plan funciona genial", False),
             (a, at(3, 21), "x", "fa", 250_000, PERSIAN, False),
             (a, at(4, 22), "reddit", "en", 80_000, LONG, False),
             (a, at(5, 23), "x", "en", 60_000, SCRIPT, False),
             (a, at(2, 15), "x", "en", 100_000, "@someone thanks for the kind words! DM us any time. acme", True),
             (o, at(1, 10), "x", "en", 1_000_000, "otherbrand is a total disaster, worst ever", False),
             (o, at(2, 10), "x", "en", 10, "otherbrand is fine", False)]
    # The week before: fewer mentions and another mix, so every change is non-zero.
    rows += [(a, at(d, 10, PREV), "x", "en", 100, "acme no signal at all today, awful service", False)
             for d in range(3)]
    rows += [(a, at(d, 12, PREV), "reddit", "en", 10, "acme is great, thanks for the upgrade", False) for d in range(4)]
    rows += [(a, at(4, 9, PREV), "x", "en", 5, "Rival is cheaper than acme", False),
             (a, at(5, 9, PREV), "x", "en", 5, "acme charged twice last month", False)]
    # Outside both weeks.
    rows += [(a, END + timedelta(hours=3), "x", "en", 10, "acme is awful today", False),
             (a, PREV - timedelta(days=3), "x", "en", 10, "acme no signal", False)]
    return rows


def cases(brand_id: int, other_id: int) -> list[Case]:
    def case(first_post, opened=None, responded=None, due_minutes=60, resolved=None, brand=brand_id, author="a"):
        return Case(brand_id=brand, platform="x", author=author, thread_key=f"k-{author}", status="new",
                    first_post_at=first_post, opened_at=opened or first_post + timedelta(minutes=2),
                    last_post_at=first_post, first_response_due=first_post + timedelta(minutes=due_minutes),
                    first_response_at=responded, resolved_at=resolved)

    return [
        case(at(0, 10), responded=at(0, 10) + timedelta(minutes=30), resolved=at(1, 9), author="c1"),
        case(at(1, 9), responded=at(1, 13), author="c2"),  # answered late
        case(at(2, 9), author="c3"),  # not answered yet
        case(at(6, 22, PREV), responded=at(0, 8), resolved=at(0, 20), author="c4"),  # opened last week
        case(at(3, 9, PREV), responded=at(3, 9, PREV) + timedelta(minutes=20), resolved=at(2, 9), author="c5"),
        # A backfill: the post is last week's, the case was opened this week
        case(at(4, 9, PREV), opened=at(3, 16), responded=at(3, 17), due_minutes=240, author="c6"),
        case(at(4, 9), responded=at(4, 9) + timedelta(minutes=45), due_minutes=240, author="c7"),
        case(at(6, 23), responded=END + timedelta(hours=2), author="c8"),  # answered next week
        case(at(1, 9), responded=at(1, 10), resolved=at(1, 11), brand=other_id, author="c9"),  # another brand
    ]


def load(url: str) -> config.Config:
    cfg = make_cfg(url)
    with store.session(url) as s:
        ids = store.sync_brands(s, cfg.brands)
        rows = [dict(brand_id=ids[b], platform=p, native_id=f"n{i}", source="test", text=text, created_at=when,
                     author=f"user{i}" if not own else "acmehelp", author_reach=reach, lang=lang, is_own=own,
                     url=f"https://example.com/{i}")
                for i, (b, when, p, lang, reach, text, own) in enumerate(posts())]
        store.upsert_mentions(s, rows)
    pipeline.score_pending(cfg)
    with store.session(url) as s:
        s.add_all(cases(ids[BRAND["name"]], ids[OTHER["name"]]))
    return cfg


# --- what the database says, counted here ------------------------------------------------

def stored(url: str, start: datetime, end: datetime) -> list[tuple]:
    with store.session(url) as s:
        brand_id = s.exec(select(Case.brand_id).where(Case.author == "c1")).one()
        return s.exec(select(Mention.author_reach, Score.sentiment, Score.label, Mention.platform, Mention.text,
                             Score.needs_response, Score.category, Mention.author)
                      .join(Score, Score.mention_id == Mention.id)
                      .where(Mention.brand_id == brand_id, Mention.is_own.is_(False),
                             Mention.created_at >= start, Mention.created_at < end)).all()


def expected(url: str, start: datetime = START, end: datetime = END) -> dict:
    rows = stored(url, start, end)
    weights = [(1 + math.log10(1 + reach), sentiment) for reach, sentiment, *_ in rows]
    names = {"Acme Telecom": ["acme telecom", "acme", "acmehelp"], "Rival": ["rival"], "Skyline": ["skyline"]}
    naming = {n: sum(any(t in text.lower() for t in terms) for _, _, _, _, text, *_ in rows)
              for n, terms in names.items()}
    with store.session(url) as s:
        all_cases = s.exec(select(Case).where(Case.brand_id == s.exec(
            select(Case.brand_id).where(Case.author == "c1")).one())).all()
    answered = [c for c in all_cases if c.first_response_at and start <= c.first_response_at < end]
    minutes = [(c.first_response_at - c.first_post_at).total_seconds() / 60 for c in answered]
    billing_complaints = [text for _, _, _, _, text, flagged, category, _ in rows if flagged and category == "billing"]
    negative = sorted([(reach, author) for reach, _, label, _, _, _, _, author in rows if label == "negative"],
                      reverse=True)
    return {
        "volume": len(rows),
        "negative_share": sum(label == "negative" for _, _, label, *_ in rows) / len(rows),
        "index": 100 * sum(w * x for w, x in weights) / sum(w for w, _ in weights),
        "platforms": {p: sum(r[3] == p for r in rows) for p in {r[3] for r in rows}},
        "share": {n: c / sum(naming.values()) for n, c in naming.items()},
        "naming": naming,
        "opened": sum(start <= c.first_post_at < end for c in all_cases),
        "responded": len(answered),
        "resolved": sum(bool(c.resolved_at) and start <= c.resolved_at < end for c in all_cases),
        "median_minutes": statistics.median(minutes),
        "within_sla": sum(c.first_response_at <= c.first_response_due for c in answered) / len(answered),
        "charged_twice": sum("charged twice" in t.lower() for t in billing_complaints),
        "top_negative_author": negative[0][1],
    }


def pdf_text(pdf: bytes) -> str:
    out = subprocess.run(["pdftotext", "-raw", "-enc", "UTF-8", "-", "-"], input=pdf, capture_output=True, check=True)
    return out.stdout.decode("utf-8")


def after(lines: list[str], label: str) -> str:
    """The line under a KPI card's label."""
    return lines[lines.index(label.upper()) + 1]


@pytest.fixture
def loaded(db_url) -> config.Config:
    return load(db_url)


# --- figures ---------------------------------------------------------------------------------

@needs_pdftotext
def test_pdf_figures_match_the_database(loaded):
    url = loaded.database.url
    want, before = expected(url), expected(url, PREV, START)
    assert want["volume"] > before["volume"] > 0 and want["charged_twice"] >= 5  # the data set is what the test needs
    pdf = render.render(weekly.build(loaded, WEEK), "pdf")
    assert pdf.startswith(b"%PDF")
    text = pdf_text(pdf)
    lines = [line.strip() for line in text.splitlines()]

    assert after(lines, "Reputation index") == f"{want['index']:+.1f}"
    assert after(lines, "Mentions") == f"{want['volume']:,}"
    assert after(lines, "Negative share") == f"{want['negative_share']:.0%}"
    assert after(lines, "Share of voice") == f"{want['share']['Acme Telecom']:.0%}"
    assert after(lines, "Cases") == f"{want['opened']} {want['responded']} {want['resolved']}"
    median = want["median_minutes"]
    assert after(lines, "Median first response") == (f"{median:.0f} min" if median < 90 else f"{median / 60:.1f} h")
    assert after(lines, "Answered within SLA") == f"{want['within_sla']:.0%}"
    assert f"last week {before['opened']} / {before['responded']} / {before['resolved']}" in lines

    for name in ("Acme Telecom", "Rival", "Skyline"):
        assert any(line.startswith(f"{name} {want['naming'][name]} {want['share'][name]:.1%} ") for line in lines), name
    names = {"x": "X", "reddit": "Reddit", "google_play": "Google Play", "app_store": "App Store"}
    for platform, count in want["platforms"].items():
        assert any(line.startswith(f"{names[platform]} {count} ") for line in lines), platform
    themes_at = lines.index("THEME POSTS WEEKS BEFORE TREND EXAMPLE")
    assert lines[themes_at + 1].startswith(f"billing · charged twice {want['charged_twice']} ")
    change = want["volume"] - before["volume"]
    assert (f"Mentions rose {change / before['volume']:.0%} to {want['volume']:,} (from {before['volume']:,})."
            in lines)
    assert (f"The reputation index {'rose' if want['index'] > before['index'] else 'fell'} "
            f"{abs(want['index'] - before['index']):.1f} points to {want['index']:+.1f}" in text)
    negative_at = lines.index("POST")
    assert lines[negative_at + 1] == want["top_negative_author"]
    # Persian is drawn with real glyphs: its words come back out of the PDF
    assert all(word in text for word in ("پشتیبانی", "اینترنت", "افتضاح"))
    assert "otherbrand" not in text and "kind words" not in text  # another brand's posts, the brand's own


def test_html_is_one_offline_file_with_charts_and_safe_text(loaded):
    page = render.render_html(weekly.build(loaded, WEEK))
    want = expected(loaded.database.url)
    assert re.search(r'id="volume">([\d,]+)<', page).group(1) == f"{want['volume']:,}"
    assert re.search(r'id="index">([^<]+)<', page).group(1) == f"{want['index']:+.1f}"
    charts = re.findall(r'<img class=chart alt="([^"]+)" src="data:image/png;base64,([^"]+)"', page)
    assert [alt for alt, _ in charts] == ["Reputation index and mentions per day", "Sentiment by platform"]
    for _, data in charts:
        image = Image.open(io.BytesIO(base64.b64decode(data)))
        assert image.format == "PNG" and image.width > 600
    assert not re.search(r'(src|href)="(?!data:)', page)  # nothing to fetch: opens offline
    assert "<script>" not in page and "&lt;script&gt;alert(" in page
    assert LONG[:100] in page and LONG not in page and "…" in page  # long posts are cut
    assert 'dir="rtl">' + PERSIAN[:20] in page


def test_report_of_an_empty_week_says_so(cfg):
    page = render.render_html(weekly.build(cfg, "2020-W01"))
    assert 'id="volume">0<' in page and "No mentions this week." in page and "No complaints this week." in page


def test_missing_pdf_libraries_name_the_debian_packages(monkeypatch):
    monkeypatch.setitem(sys.modules, "weasyprint", None)  # as when Pango cannot be loaded
    with pytest.raises(RepmonError) as err:
        render.render_pdf("<p>x</p>")
    assert "libpango-1.0-0" in str(err.value) and "--format html" in str(err.value)


# --- delivery --------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Inbox:
    """An aiosmtpd handler that keeps every message, optionally slowly."""

    def __init__(self, delay: float = 0):
        self.messages: list[email.message.EmailMessage] = []
        self.envelopes: list = []
        self.delay = delay

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        if self.delay:
            await asyncio.sleep(self.delay)
        self.envelopes.append(envelope)
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        return "250 OK"


@pytest.fixture
def smtp():
    """Start a real SMTP server on a free local port: smtp(user=..., password=..., delay=...)."""
    started = []

    def start(user: str | None = None, password: str | None = None, delay: float = 0):
        inbox = Inbox(delay)
        kwargs = {}
        if user:
            def check(server, session, envelope, mechanism, auth_data):
                ok = auth_data.login.decode() == user and auth_data.password.decode() == password
                return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535
            kwargs = {"authenticator": check, "auth_required": True, "auth_require_tls": False}
        controller = Controller(inbox, hostname="127.0.0.1", port=free_port(), **kwargs)
        controller.start()
        started.append(controller)
        inbox.port = controller.port
        return inbox

    yield start
    for controller in started:
        controller.stop()


def email_cfg(url: str, port: int, fmt: str = "pdf", **extra) -> config.Config:
    mail = {"host": "127.0.0.1", "port": port, "security": "none", "sender": "repmon@acme.example",
            "to": ["lead@acme.example", "pr@acme.example"], "timeout_seconds": 10, **extra}
    return make_cfg(url, format=fmt, email=mail)


@needs_pdftotext
def test_email_carries_the_pdf_and_a_summary_once_a_week(loaded, smtp):
    inbox = smtp()
    cfg = email_cfg(loaded.database.url, inbox.port)
    data = weekly.build(cfg, WEEK)
    pdf = render.render(data, "pdf")
    first = deliver.deliver(cfg, data, pdf, "pdf")
    assert [(o.destination, o.status) for o in first] == [("email", "sent")]
    again = deliver.deliver(cfg, data, pdf, "pdf")
    assert [(o.destination, o.status) for o in again] == [("email", "already sent")]
    assert len(inbox.messages) == 1
    msg = inbox.messages[0]
    assert msg["Subject"] == f"Acme Telecom: weekly reputation report {WEEK}"
    assert sorted(inbox.envelopes[0].rcpt_tos) == ["lead@acme.example", "pr@acme.example"]
    (attachment,) = list(msg.iter_attachments())
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_filename() == f"acme-telecom-reputation-{WEEK}.pdf"
    sent = attachment.get_content()
    assert sent == pdf
    want = expected(loaded.database.url)
    assert after([line.strip() for line in pdf_text(sent).splitlines()], "Mentions") == f"{want['volume']:,}"
    body = msg.get_body(("plain",)).get_content()
    assert f"Mentions: {want['volume']:,}" in body and f"Reputation index: {want['index']:+.1f}" in body
    assert "What changed since last week:" in body
    with store.session(loaded.database.url) as s:
        marker = s.exec(select(AlertOutbox).where(AlertOutbox.key == f"report:{WEEK}:email")).one()
    assert marker.status == "sent" and marker.sent_at is not None and marker.kind == "report"


def test_failed_email_is_recorded_and_retried_without_a_duplicate(db_url, smtp):
    port = free_port()  # nothing listens here yet
    cfg = email_cfg(db_url, port, "html")
    data = weekly.build(cfg, WEEK)
    content = render.render(data, "html")
    (failed,) = deliver.deliver(cfg, data, content, "html")
    assert failed.status == "failed" and f"SMTP 127.0.0.1:{port}" in failed.detail
    with store.session(db_url) as s:
        assert s.exec(select(AlertOutbox.status).where(AlertOutbox.key == f"report:{WEEK}:email")).one() == "failed"
    inbox = smtp()
    cfg = email_cfg(db_url, inbox.port, "html")
    assert [o.status for o in deliver.deliver(cfg, data, content, "html")] == ["sent"]
    assert [o.status for o in deliver.deliver(cfg, data, content, "html")] == ["already sent"]
    assert len(inbox.messages) == 1
    (attachment,) = list(inbox.messages[0].iter_attachments())
    assert attachment.get_content_type() == "text/html" and "weekly reputation report" in attachment.get_content()


def test_two_runs_at_once_send_one_email(db_url, smtp):
    inbox = smtp(delay=1.5)
    cfg = email_cfg(db_url, inbox.port, "html")
    data = weekly.build(cfg, WEEK)
    content = render.render(data, "html")
    results = []

    def run():
        results.extend(deliver.deliver(cfg, data, content, "html"))

    first = threading.Thread(target=run)
    first.start()
    time.sleep(0.5)  # the first run has claimed the week and is talking to the server
    run()
    first.join()
    assert sorted(o.status for o in results) == ["in progress", "sent"]
    assert len(inbox.messages) == 1


def test_smtp_login_and_the_password_never_shows(sqlite_url, smtp, caplog):
    password = "s3cret-smtp-Pa55word"
    inbox = smtp(user="repmon", password=password)
    cfg = email_cfg(sqlite_url, inbox.port, "html", username="repmon", password=password)
    store.migrate(sqlite_url)
    data = weekly.build(cfg, WEEK)
    content = render.render(data, "html")
    caplog.set_level("DEBUG")
    assert [o.status for o in deliver.deliver(cfg, data, content, "html")] == ["sent"]
    wrong = email_cfg(sqlite_url, inbox.port, "html", username="repmon", password="wrong-" + password)
    with store.session(sqlite_url) as s:
        s.exec(select(AlertOutbox)).one().status = "failed"  # as if it had failed: send again
    (outcome,) = deliver.deliver(wrong, data, content, "html")
    assert outcome.status == "failed" and "refused the login for 'repmon'" in outcome.detail
    assert password not in caplog.text and password not in outcome.detail
    assert password not in repr(cfg.reports.email)
    assert len(inbox.messages) == 1


def test_starttls_is_required_when_configured(sqlite_url, smtp):
    inbox = smtp()  # offers no STARTTLS
    store.migrate(sqlite_url)
    cfg = email_cfg(sqlite_url, inbox.port, "html", security="starttls")
    data = weekly.build(cfg, WEEK)
    (outcome,) = deliver.deliver(cfg, data, render.render(data, "html"), "html")
    assert outcome.status == "failed" and "does not offer STARTTLS" in outcome.detail
    assert inbox.messages == []


def test_upload_to_slack_once(db_url):
    with SlackLike() as slack:
        cfg = config.parse({
            "database": {"url": db_url}, "brands": [BRAND], "sources": {},
            "alerts": {"slack": [{"name": "reports", "bot_token": TOKEN, "channel": "C0ALERTS1",
                                  "api_url": slack.api_url}]},
            "reports": {"format": "html", "slack_channels": ["reports"]}}, "test")
        data = weekly.build(cfg, WEEK)
        content = render.render(data, "html")
        assert [(o.destination, o.status) for o in deliver.deliver(cfg, data, content, "html")] == \
            [("slack:reports", "sent")]
        assert [o.status for o in deliver.deliver(cfg, data, content, "html")] == ["already sent"]
        (uploaded,) = slack.files.values()
        assert uploaded["content"] == content and uploaded["channel"] == "C0ALERTS1"
        assert uploaded["filename"] == f"acme-telecom-reputation-{WEEK}.html"
        (message,) = slack.posted("C0ALERTS1")
        assert message["text"].startswith(f"Acme Telecom: weekly reputation report {WEEK}")


def test_report_channels_must_be_bot_channels():
    with pytest.raises(config.ConfigError, match="incoming webhook, which cannot carry files"):
        config.parse({"alerts": {"slack": [{"name": "oncall", "webhook_url": "https://hooks.example/x"}]},
                      "reports": {"slack_channels": ["oncall"]}}, "test")
    with pytest.raises(config.ConfigError, match="no \\[\\[alerts.slack\\]\\] channel named 'press'"):
        config.parse({"reports": {"slack_channels": ["press"]}}, "test")
    with pytest.raises(config.ConfigError, match="weekly.enabled needs"):
        config.parse({"reports": {"weekly": {"enabled": True}}}, "test")
    with pytest.raises(config.ConfigError, match="unencrypted"):
        config.parse({"reports": {"email": {"host": "mail.example.com", "security": "none", "password": "x",
                                            "sender": "a@b.c", "to": ["d@e.f"]}}}, "test")


# --- the scheduler ---------------------------------------------------------------------------

def weekly_cfg(url: str, port: int, day: str = "tue") -> config.Config:
    return make_cfg(url, format="html", weekly={"enabled": True, "day": day, "time": "07:30",
                                                "timezone": "Europe/Bucharest"},
                    email={"host": "127.0.0.1", "port": port, "security": "none", "sender": "r@acme.example",
                           "to": ["lead@acme.example"]})


def test_scheduler_runs_the_report_weekly_at_the_configured_time(sqlite_url, monkeypatch):
    monday_noon = datetime(2026, 11, 23, 12, tzinfo=UTC)
    monkeypatch.setattr(scheduler, "utcnow", lambda: monday_noon)
    job = scheduler.build(weekly_cfg(sqlite_url, 25)).get_job("report")
    assert isinstance(job.trigger, CronTrigger)
    fields = {f.name: str(f) for f in job.trigger.fields}
    assert (fields["day_of_week"], fields["hour"], fields["minute"]) == ("tue", "7", "30")
    assert str(job.trigger.timezone) == "Europe/Bucharest"
    # 07:30 in Bucharest (UTC+2 in November) is 05:30 UTC, and once a week
    first = job.trigger.get_next_fire_time(None, monday_noon)
    assert first == datetime(2026, 11, 24, 5, 30, tzinfo=UTC)
    assert job.trigger.get_next_fire_time(first, first + timedelta(seconds=1)) == first + timedelta(days=7)
    assert getattr(job, "next_run_time", None) is None  # this week's time is still ahead
    assert "report" not in scheduler.jobs(weekly_cfg(sqlite_url, 25))  # not in `repmon run --once`
    assert scheduler.build(make_cfg(sqlite_url)).get_job("report") is None  # off by default


def test_a_scheduler_down_at_the_hour_sends_on_start(sqlite_url, monkeypatch):
    wednesday = datetime(2026, 11, 25, 9, tzinfo=UTC)
    monkeypatch.setattr(scheduler, "utcnow", lambda: wednesday)
    assert scheduler.build(weekly_cfg(sqlite_url, 25, "tue")).get_job("report").next_run_time == wednesday
    assert getattr(scheduler.build(weekly_cfg(sqlite_url, 25, "thu")).get_job("report"), "next_run_time", None) is None


def test_the_scheduled_job_twice_sends_once(db_url, smtp):
    inbox = smtp()
    cfg = weekly_cfg(db_url, inbox.port)
    job = scheduler.build(cfg).get_job("report")
    job.func()
    job.func()
    assert len(inbox.messages) == 1
    last_full_week, _, _ = weekly.week_bounds(None)
    assert inbox.messages[0]["Subject"].endswith(last_full_week)
    assert deliver.scheduled(cfg) == f"report {last_full_week}: already delivered"


# --- the command -----------------------------------------------------------------------------

def invoke(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def toml_file(tmp_path, url: str, extra: str = "", name: str = "repmon.toml") -> str:
    path = tmp_path / name
    path.write_text(f'[database]\nurl = "{url}"\n{extra}')
    return str(path)


def test_help_teaches_week_format_output_and_send():
    out = invoke("report", "--help").output
    for example in ("repmon report --week 2026-W47 --output w47.pdf", "repmon report --format pdf",
                    "repmon report --send", "--format [html|pdf]", "libpango-1.0-0"):
        assert example in out, example


def test_report_command_writes_pdf_or_html_by_extension_or_format(tmp_path, sqlite_url):
    path = toml_file(tmp_path, sqlite_url)
    r = invoke("--config", path, "report", "--week", WEEK, "--output", str(tmp_path / "w.pdf"))
    assert r.exit_code == 0, r.output
    assert (tmp_path / "w.pdf").read_bytes().startswith(b"%PDF")
    r = invoke("--config", path, "report", "--week", WEEK, "--format", "html", "--output", str(tmp_path / "w.out"))
    assert r.exit_code == 0 and (tmp_path / "w.out").read_text().startswith("<!doctype html>")
    r = invoke("--config", path, "report", "--week", WEEK)
    assert r.exit_code == 0 and (tmp_path / f"report-{WEEK}.html").exists()  # the default: html in the folder


def test_report_send_from_the_command_line(tmp_path, sqlite_url, smtp):
    inbox = smtp(user="repmon", password="smtp-secret-123")
    path = toml_file(tmp_path, sqlite_url, f'[reports.email]\nhost = "127.0.0.1"\nport = {inbox.port}\n'
                     'security = "none"\nusername = "repmon"\npassword = "${SMTP_PASSWORD}"\n'
                     'sender = "r@acme.example"\nto = ["lead@acme.example"]\n')
    nowhere = invoke("--config", toml_file(tmp_path, sqlite_url, name="bare.toml"), "report", "--send")
    assert nowhere.exit_code == 1 and "nowhere to send the report" in nowhere.output
    env = {"SMTP_PASSWORD": "smtp-secret-123"}
    r = CliRunner().invoke(main, ["-v", "--config", path, "report", "--week", WEEK, "--send"], env=env)
    assert r.exit_code == 0, r.output
    assert "email: sent (lead@acme.example)" in r.output and not list(tmp_path.glob("report-*"))
    (attachment,) = list(inbox.messages[0].iter_attachments())
    assert attachment.get_content_type() == "application/pdf"  # reports.format's default
    r = CliRunner().invoke(main, ["--config", path, "report", "--week", WEEK, "--send"], env=env)
    assert r.exit_code == 0 and "email: already sent" in r.output and len(inbox.messages) == 1
    r = CliRunner().invoke(main, ["--config", path, "report", "--week", "2026-W46", "--send"],
                           env={"SMTP_PASSWORD": "wrong-password"})
    assert r.exit_code == 1 and "email: failed" in r.output and "run the same command again" in r.output
    assert "wrong-password" not in r.output and "smtp-secret-123" not in r.output
