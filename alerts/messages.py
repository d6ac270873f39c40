"""Block Kit alert messages, each with a plain-text fallback.

Post text is untrusted: `escape` neutralises &, < and > so a post cannot smuggle
<!channel>, @here mentions or disguised links into a live Slack message. Everything that
comes from a post or a person goes through it; only links repmon builds itself are raw.
"""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any, Optional

from repmon.models import utcnow

STATE_BLOCK = "repmon_state"  # block_id of the line chat.update rewrites
CLOSED = ("resolved", "dismissed", "gone")


def escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def clip(escaped: str, limit: int) -> str:
    """Shorten already-escaped text without cutting an entity such as &lt; in half."""
    if len(escaped) <= limit:
        return escaped
    cut = escaped[: limit - 1]
    amp = cut.rfind("&")
    if amp != -1 and ";" not in cut[amp:]:
        cut = cut[:amp]
    return cut + "…"


def _quote(text: str, limit: int = 600) -> str:
    text = escape(text if len(text) <= limit else text[: limit - 1] + "…")
    return "\n".join("> " + line for line in text.splitlines() or [""])


def case_link(dashboard_url: str, case_id: int) -> str:
    return f"{dashboard_url.rstrip('/')}/case?id={case_id}"


def _button(text: str, url: str, action_id: str) -> dict:
    return {"type": "actions", "elements": [{"type": "button", "text": {"type": "plain_text", "text": text},
                                             "url": url, "action_id": action_id}]}


def time_left(due: Optional[datetime], now: Optional[datetime] = None) -> str:
    if due is None:
        return "no deadline"
    seconds = int((due - (now or utcnow())).total_seconds())
    minutes = abs(seconds) // 60
    span = f"{minutes // 60} h {minutes % 60} min" if minutes >= 60 else f"{minutes} min"
    return f"{span} left" if seconds >= 0 else f"overdue by {span}"


def case_message(case: Any, mention: Any, score: Any, brand: str, dashboard_url: str) -> dict:
    """A new-case alert: what happened, the post, priority, SLA, the suggested reply, a link."""
    due = case.first_response_due.strftime("%Y-%m-%d %H:%M UTC") if case.first_response_due else "n/a"
    headline = f"{case.priority.upper()} {case.category} case #{case.id} for {brand} on {mention.platform}"
    who = f"{mention.author} ({mention.author_reach:,} followers)"
    fallback = f"{escape(headline)}: {escape(mention.text[:200])}"
    blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": headline[:150]}},
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*{escape(who)}* wrote:\n{_quote(mention.text)}"}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": escape(
            f"priority {case.priority} · first response due {due} ({time_left(case.first_response_due)}) · "
            f"why: {', '.join(score.reasons)}")}]},
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*Suggested reply*\n{_quote(case.suggested_reply)}"}},
        _button("Open case", case_link(dashboard_url, case.id), "open_case"),
    ]
    return {"text": fallback, "blocks": blocks}


def sla_message(case: Any, clock: Any, dashboard_url: str) -> dict:
    """A case's clock is at risk or breached: who owns it and what is due."""
    what = "breached" if clock.state == "breached" else "about to breach"
    text = (f"SLA {what}: {case.priority} {case.category} case #{case.id} on {case.platform}, {clock}; "
            f"owner {case.owner or 'nobody'}, status {case.status}.")
    return {"text": escape(text), "blocks": [
        {"type": "section", "text": {"type": "mrkdwn", "text": escape(text)}},
        _button("Open case", case_link(dashboard_url, case.id), "open_case"),
    ]}


def source_down_message(source: Any, dashboard_url: str) -> dict:
    since = source.failing_since.strftime("%Y-%m-%d %H:%M UTC")
    last_ok = source.last_success_at.strftime("%Y-%m-%d %H:%M UTC") if source.last_success_at else "never"
    text = (f"Source {source.name} ({source.kind}) has been failing since {since}; last success {last_ok}. "
            f"Mentions from it are not being collected. Last error: {source.last_error or 'unknown'}")
    return {"text": escape(text), "blocks": [
        {"type": "section", "text": {"type": "mrkdwn", "text": escape(text)}},
        _button("Sources", f"{dashboard_url.rstrip('/')}/sources", "open_sources"),
    ]}


def test_message(channel: str) -> dict:
    text = f"repmon test alert for channel '{channel}': if you can read this, alerts will reach you."
    return {"text": text, "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": escape(text)}}]}


def state_line(case: Any) -> str:
    parts = [f"status {case.status}", f"owner {case.owner or 'nobody'}", f"priority {case.priority}"]
    if case.status in CLOSED:
        parts.append(f"closed {case.resolved_at:%Y-%m-%d %H:%M UTC}" if case.resolved_at else "closed")
    elif case.first_response_at is None and case.first_response_due is not None:
        parts.append(_due("first response", case.first_response_due))
    elif case.resolution_due is not None:
        parts.append(_due("resolution", case.resolution_due))
    return escape(" · ".join(parts))


def _due(clock: str, due: datetime) -> str:
    # the message is edited only when the case changes, so "left" is as of this edit: give the time too
    now = utcnow()
    return f"{clock} due {due:%Y-%m-%d %H:%M} UTC ({time_left(due, now)} at {now:%H:%M})"


def with_state(payload: dict, case: Any) -> dict:
    """The case's parent message as it should read now: its alert plus a current-state line,
    which chat.update rewrites whenever the case changes."""
    out = copy.deepcopy(payload)
    blocks = [b for b in out.get("blocks", []) if b.get("block_id") != STATE_BLOCK]
    state = {"type": "context", "block_id": STATE_BLOCK, "elements": [{"type": "mrkdwn", "text": state_line(case)}]}
    at = next((i for i, b in enumerate(blocks) if b.get("type") == "actions"), len(blocks))
    blocks.insert(at, state)
    out["blocks"] = blocks
    if case.status in CLOSED:
        out["text"] = f"[{case.status}] {out.get('text', '')}"
    return out


def case_closed_message(case: Any, update: dict, dashboard_url: str) -> dict:
    """What a webhook channel, which cannot edit its earlier message, hears when a case closes."""
    why = f": {update['detail']}" if update.get("detail") and case.status == "dismissed" else ""
    text = escape(f"Case #{case.id} ({case.priority} {case.category} on {case.platform}) {case.status}"
                  f" by {update.get('actor') or 'repmon'}{why[:300]}")
    return {"text": text, "blocks": [
        {"type": "section", "text": {"type": "mrkdwn", "text": text}},
        _button("Open case", case_link(dashboard_url, case.id), "open_case"),
    ]}


def digest_message(folded: list[tuple[Optional[int], dict]], since: datetime, dashboard_url: str,
                   shown: int = 20) -> dict:
    """One message for the new cases that arrived during a flood, instead of one alert each."""
    lines = []
    for case_id, payload in folded[:shown]:
        summary = clip(payload.get("text", ""), 160)
        lines.append(f"• <{case_link(dashboard_url, case_id)}|#{case_id}> {summary}" if case_id else f"• {summary}")
    if len(folded) > shown:
        lines.append(f"…and {len(folded) - shown} more in the case queue")
    head = (f"{len(folded)} more new case(s) since {since:%H:%M UTC}: alerts are being batched "
            f"while this many arrive at once")
    return {"text": head, "blocks": [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*{head}*"}},
        {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)[:2900] or "-"}},
        _button("Case queue", f"{dashboard_url.rstrip('/')}/queue", "open_queue"),
    ]}
