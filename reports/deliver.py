"""Delivering the weekly report by email and to Slack, once per week and destination.

Each destination is marked in the alert outbox under a unique key, `report:<week>:email` or
`report:<week>:slack:<channel>` (so `repmon alerts list` shows deliveries too): "claimed" while
a run sends it, then "sent" or "failed". A run skips a destination that is sent, or claimed by a
run that is still within its lease; a failed or abandoned one is sent again by the next run. The
dispatcher never touches these rows: it only sends "pending" ones.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Optional

import sqlalchemy as sa
from sqlmodel import select

from reports import render, weekly
from repmon import store
from repmon.config import Config, EmailConfig
from repmon.errors import NotifierError, RepmonError
from repmon.models import AlertOutbox, utcnow

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=15)  # a claim older than this belongs to a run that died
MIME = {"pdf": ("application", "pdf"), "html": ("text", "html")}


@dataclass
class Outcome:
    destination: str  # "email" or "slack:<channel>"
    status: str  # sent | already sent | in progress | failed
    detail: str = ""


def destinations(cfg: Config) -> list[str]:
    found = ["email"] if cfg.reports.email is not None else []
    return found + [f"slack:{name}" for name in cfg.reports.slack_channels]


def marker_key(week: str, destination: str) -> str:
    return f"report:{week}:{destination}"


def undelivered(cfg: Config, week: str) -> list[str]:
    """The destinations that have not had this week's report."""
    keys = {marker_key(week, d): d for d in destinations(cfg)}
    with store.session(cfg.database.url) as s:
        sent = set(s.exec(select(AlertOutbox.key).where(AlertOutbox.key.in_(list(keys)),
                                                        AlertOutbox.status == "sent")).all())
    return [d for k, d in keys.items() if k not in sent]


def filename(d: weekly.WeeklyData, fmt: str) -> str:
    brand = "".join(c if c.isalnum() else "-" for c in d.brand.lower()).strip("-") or "brand"
    return f"{brand}-reputation-{d.week}.{fmt}"


def summary_text(d: weekly.WeeklyData, fmt: str) -> str:
    """The email body: the headline figures and what changed, for a reader who never opens the file."""
    n, b = d.now, d.before

    def index(v: Optional[float]) -> str:
        return "—" if v is None else f"{v:+.1f}"

    def pct(v: Optional[float]) -> str:
        return "—" if v is None else f"{v:.0%}"

    median = "—" if n.median_first_response_min is None else f"{n.median_first_response_min:.0f} min"
    lines = [
        f"{d.brand}: weekly reputation report {d.week}",
        f"{d.start:%a %d %b} to {d.end - timedelta(days=1):%a %d %b %Y} (UTC)",
        "",
        f"Reputation index: {index(n.index)} (last week {index(b.index)})",
        f"Mentions: {n.volume:,} (last week {b.volume:,})",
        f"Negative share: {pct(n.negative_share)} (last week {pct(b.negative_share)})",
        f"Cases opened / responded / resolved: {n.cases['opened']} / {n.cases['responded']} / {n.cases['resolved']}",
        f"Median first response: {median}; answered within SLA: {pct(n.within_sla)}",
        "",
        "What changed since last week:",
        *[f"- {c}" for c in d.changes],
        "",
        f"The full report is attached ({fmt.upper()}): charts, sources, languages, share of voice, complaint themes "
        "and the most-reached negative posts.",
    ]
    return "\n".join(lines) + "\n"


def send_email(email: EmailConfig, subject: str, body: str, content: bytes, name: str, fmt: str) -> None:
    msg = EmailMessage()
    msg["Subject"], msg["From"], msg["To"] = subject, email.sender, ", ".join(email.to)
    msg["Date"] = formatdate(usegmt=True)
    msg["Message-ID"] = make_msgid(domain=email.sender.rpartition("@")[2] or None)
    msg.set_content(body)
    maintype, subtype = MIME[fmt]
    msg.add_attachment(content, maintype=maintype, subtype=subtype, filename=name)
    where = f"SMTP {email.host}:{email.port}"
    try:
        if email.security == "ssl":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(email.host, email.port, timeout=email.timeout_seconds,
                                                  context=ssl.create_default_context())
        else:
            smtp = smtplib.SMTP(email.host, email.port, timeout=email.timeout_seconds)
        with smtp:
            if email.security == "starttls":
                smtp.ehlo()
                if not smtp.has_extn("starttls"):
                    raise NotifierError(f"{where} does not offer STARTTLS; set reports.email.security to \"ssl\" "
                                        "(usually port 465), or \"none\" for a relay on this machine", permanent=True)
                smtp.starttls(context=ssl.create_default_context())
            if email.username:
                smtp.login(email.username, email.password)
            refused = smtp.send_message(msg)
    except smtplib.SMTPAuthenticationError as exc:
        raise NotifierError(f"{where} refused the login for {email.username!r}: {exc.smtp_code}",
                            permanent=True) from None
    except (smtplib.SMTPException, OSError) as exc:
        # Messages name the server and the failure; smtplib never puts the password in them.
        raise NotifierError(f"{where}: {type(exc).__name__}: {exc}") from None
    if refused:
        raise NotifierError(f"{where} refused recipients: {', '.join(refused)}")


def upload_to_slack(cfg: Config, channel_name: str, content: bytes, name: str, title: str, comment: str) -> None:
    from alerts.messages import escape
    from alerts.slack import upload_file

    channel = next(ch for ch in cfg.alerts.slack if ch.name == channel_name)
    # The summary quotes complaint themes, i.e. words from posts: no <!channel> or links from them.
    upload_file(channel, content, title, comment=escape(comment), filename=name)


def _claim(url: str, key: str, destination: str, fmt: str) -> Optional[str]:
    """None when this run may send; otherwise why not ("already sent" or "in progress")."""
    now = utcnow()
    try:
        with store.session(url) as s:
            row = s.exec(select(AlertOutbox).where(AlertOutbox.key == key)).first()
            if row is None:
                s.add(AlertOutbox(key=key, kind="report", channel=destination, status="claimed", attempts=1,
                                  next_attempt_at=now + LEASE, payload={"format": fmt}))
                return None
            if row.status == "sent":
                return "already sent"
            if row.status == "claimed" and row.next_attempt_at > now:
                return "in progress"
            # Only the run whose update still sees the row as it read it takes it over.
            taken = s.execute(sa.update(AlertOutbox)
                            .where(AlertOutbox.id == row.id, AlertOutbox.status == row.status,
                                   AlertOutbox.attempts == row.attempts)
                            .values(status="claimed", attempts=row.attempts + 1, next_attempt_at=now + LEASE,
                                    last_error=None)).rowcount
            return None if taken == 1 else "in progress"
    except sa.exc.IntegrityError:  # another run inserted the same key first
        return "in progress"


def _finish(url: str, key: str, error: Optional[str]) -> None:
    with store.session(url) as s:
        row = s.exec(select(AlertOutbox).where(AlertOutbox.key == key)).one()
        row.status = "failed" if error else "sent"
        row.last_error = error[:2000] if error else None
        row.sent_at = None if error else utcnow()
        s.add(row)


def deliver(cfg: Config, d: weekly.WeeklyData, content: bytes, fmt: str) -> list[Outcome]:
    """Send the rendered report to every configured destination that has not had this week's."""
    if not destinations(cfg):
        raise RepmonError("nowhere to send the report: add [reports.email] or reports.slack_channels to the config")
    name = filename(d, fmt)
    title = f"{d.brand}: weekly reputation report {d.week}"
    body = summary_text(d, fmt)
    outcomes = []
    for dest in destinations(cfg):
        key = marker_key(d.week, dest)
        busy = _claim(cfg.database.url, key, dest, fmt)
        if busy:
            outcomes.append(Outcome(dest, busy))
            continue
        try:
            if dest == "email":
                send_email(cfg.reports.email, title, body, content, name, fmt)
            else:
                upload_to_slack(cfg, dest.removeprefix("slack:"), content, name, title, body)
        except Exception as exc:  # any failure is this destination's: the others still get the report
            error = str(exc) if isinstance(exc, RepmonError) else f"{type(exc).__name__}: {exc}"
            _finish(cfg.database.url, key, error)
            log.error("report=%s destination=%s failed: %s", d.week, dest, error)
            outcomes.append(Outcome(dest, "failed", error))
            continue
        _finish(cfg.database.url, key, None)
        log.info("report=%s destination=%s sent", d.week, dest)
        outcomes.append(Outcome(dest, "sent", ", ".join(cfg.reports.email.to) if dest == "email" else ""))
    return outcomes


def scheduled(cfg: Config) -> str:
    """The scheduler's weekly job: last full week's report, to each destination that lacks it."""
    week, _, _ = weekly.week_bounds(None)
    if not undelivered(cfg, week):
        return f"report {week}: already delivered"
    data = weekly.build(cfg, week)
    fmt = cfg.reports.format
    outcomes = deliver(cfg, data, render.render(data, fmt), fmt)
    return f"report {week}: " + ", ".join(f"{o.destination} {o.status}" for o in outcomes)
