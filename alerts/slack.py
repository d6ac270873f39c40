"""Slack delivery through slack_sdk's incoming-webhook client, and Block Kit messages.

Post text is untrusted: `escape` neutralises &, < and > so a post cannot smuggle
<!channel>, @here mentions or disguised links into a live Slack message.
"""

from __future__ import annotations

from typing import Any, Optional

from slack_sdk.webhook import WebhookClient

from repmon.errors import NotifierError


def escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _quote(text: str, limit: int = 600) -> str:
    text = escape(text if len(text) <= limit else text[: limit - 1] + "…")
    return "\n".join("> " + line for line in text.splitlines() or [""])


def case_message(case: Any, mention: Any, score: Any, brand: str, dashboard_url: str) -> dict:
    """A new-case alert: what happened, the post, priority, SLA, the suggested reply, a link."""
    link = f"{dashboard_url.rstrip('/')}/case?id={case.id}"
    due = case.first_response_due.strftime("%Y-%m-%d %H:%M UTC") if case.first_response_due else "n/a"
    headline = f"{case.priority.upper()} {case.category} case #{case.id} for {brand} on {mention.platform}"
    who = f"{mention.author} ({mention.author_reach:,} followers)"
    fallback = f"{headline}: {escape(mention.text[:200])}"
    blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": headline[:150]}},
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*{escape(who)}* wrote:\n{_quote(mention.text)}"}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": escape(
            f"priority {case.priority} · first response due {due} · why: {', '.join(score.reasons)}")}]},
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*Suggested reply*\n{_quote(case.suggested_reply)}"}},
        {"type": "actions", "elements": [{"type": "button", "text": {"type": "plain_text", "text": "Open case"},
                                          "url": link, "action_id": "open_case"}]},
    ]
    return {"text": fallback, "blocks": blocks}


def sla_message(case: Any, clock: Any, dashboard_url: str) -> dict:
    """A case's first-response clock is at risk or breached: who owns it and what is due."""
    link = f"{dashboard_url.rstrip('/')}/case?id={case.id}"
    what = "breached" if clock.state == "breached" else "about to breach"
    text = (f"SLA {what}: {case.priority} {case.category} case #{case.id} on {case.platform}, {clock}; "
            f"owner {case.owner or 'nobody'}, status {case.status}.")
    return {"text": escape(text), "blocks": [
        {"type": "section", "text": {"type": "mrkdwn", "text": escape(text)}},
        {"type": "actions", "elements": [{"type": "button", "text": {"type": "plain_text", "text": "Open case"},
                                          "url": link, "action_id": "open_case"}]},
    ]}


def source_down_message(source: Any, dashboard_url: str) -> dict:
    since = source.failing_since.strftime("%Y-%m-%d %H:%M UTC")
    last_ok = source.last_success_at.strftime("%Y-%m-%d %H:%M UTC") if source.last_success_at else "never"
    text = (f"Source {source.name} ({source.kind}) has been failing since {since}; last success {last_ok}. "
            f"Mentions from it are not being collected. Last error: {source.last_error or 'unknown'}")
    return {"text": escape(text), "blocks": [
        {"type": "section", "text": {"type": "mrkdwn", "text": escape(text)}},
        {"type": "actions", "elements": [{"type": "button", "text": {"type": "plain_text", "text": "Sources"},
                                          "url": f"{dashboard_url.rstrip('/')}/sources", "action_id": "open_sources"}]},
    ]}


def test_message(channel: str) -> dict:
    text = f"repmon test alert for channel '{channel}': if you can read this, alerts will reach you."
    return {"text": text, "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": escape(text)}}]}


class SlackWebhookNotifier:
    def __init__(self, name: str, webhook_url: str, timeout: int = 10):
        self.name = name
        self._client = WebhookClient(webhook_url, timeout=timeout)

    def send(self, payload: dict) -> None:
        try:
            resp = self._client.send(text=payload.get("text"), blocks=payload.get("blocks"))
        except Exception as exc:  # connection refused, timeout, TLS: worth retrying
            raise NotifierError(f"slack channel {self.name}: {type(exc).__name__}: {exc}") from None
        if resp.status_code == 200:
            return
        retry_after: Optional[float] = None
        if resp.status_code == 429:
            header = {k.lower(): v for k, v in (resp.headers or {}).items()}.get("retry-after")
            retry_after = float(header[0] if isinstance(header, list) else header or 30)
        # 4xx other than 429 means the webhook is wrong or revoked: retrying will not help.
        permanent = 400 <= resp.status_code < 500 and resp.status_code != 429
        raise NotifierError(
            f"slack channel {self.name}: HTTP {resp.status_code} {resp.body!s:.200}",
            retry_after=retry_after, permanent=permanent,
        )
