"""Slack delivery through slack_sdk: incoming webhooks, and a Slack app's bot token.

Every failure becomes a NotifierError the dispatcher can act on: `retry_after` from a 429,
`permanent` when retrying cannot help (bad token, unknown channel), otherwise transient.
Neither client retries on its own except for a short 429 wait: a silent retry after a
timeout could post twice, and the outbox decides about resending.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any, Optional

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.webhook import WebhookClient

from repmon.config import SlackChannel
from repmon.errors import NotifierError

METADATA_EVENT = "repmon_alert"
# ok:false errors that no retry will fix: the token, the app's access or the channel is wrong.
PERMANENT = {
    "invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired", "no_permission",
    "missing_scope", "channel_not_found", "not_in_channel", "is_archived", "restricted_action",
    "invalid_blocks", "invalid_arguments", "msg_too_long", "message_not_found", "cant_update_message",
    "team_access_not_granted", "ekm_access_denied", "org_login_required", "invalid_metadata_format",
}
HINTS = {
    "invalid_auth": "the bot token is wrong: check bot_token",
    "not_authed": "no bot token was sent: check bot_token",
    "account_inactive": "the app or its bot user was deactivated: reinstall the app",
    "token_revoked": "the bot token was revoked: reinstall the app and update bot_token",
    "channel_not_found": "no such channel for this app: check channel (an ID such as C0123ABCD)",
    "not_in_channel": "invite the app to the channel (/invite @yourapp) or grant chat:write.public",
    "missing_scope": "the app lacks a scope: it needs chat:write, channels:history (groups:history for "
                     "private channels) and files:write",
}


class ShortRateLimitRetry(RateLimitErrorRetryHandler):
    """Waits out a short 429 inside the call; a longer one comes back to the outbox, which
    reschedules the alert for Retry-After instead of blocking the dispatcher."""

    def __init__(self, max_wait: float):
        super().__init__(max_retry_count=1)
        self.max_wait = max_wait

    def _can_retry(self, *, state: Any, request: Any, response: Any = None, error: Any = None) -> bool:
        if response is None or response.status_code != 429:
            return False
        return _retry_after(response.headers) <= self.max_wait


def _retry_after(headers: Any) -> float:
    value = {k.lower(): v for k, v in (headers or {}).items()}.get("retry-after")
    value = value[0] if isinstance(value, list) else value
    try:
        return float(value)
    except (TypeError, ValueError):
        return 30.0


class SlackWebhookNotifier:
    def __init__(self, name: str, webhook_url: str, timeout: float = 10):
        self.name = name
        self._client = WebhookClient(webhook_url, timeout=max(1, int(timeout)),
                                     retry_handlers=[ShortRateLimitRetry(min(5.0, timeout / 2))])

    def send(self, payload: dict) -> None:
        try:
            resp = self._client.send(text=payload.get("text"), blocks=payload.get("blocks"))
        except Exception as exc:  # connection refused, timeout, TLS: worth retrying
            raise NotifierError(f"slack channel {self.name}: {type(exc).__name__}: {exc}") from None
        if resp.status_code == 200:
            return
        retry_after = _retry_after(resp.headers) if resp.status_code == 429 else None
        # 4xx other than 429 means the webhook is wrong or revoked: retrying will not help.
        permanent = 400 <= resp.status_code < 500 and resp.status_code != 429
        raise NotifierError(
            f"slack channel {self.name}: HTTP {resp.status_code} {resp.body!s:.200}",
            retry_after=retry_after, permanent=permanent,
        )


class SlackBotNotifier:
    """chat.postMessage / chat.update with a bot token. Each post carries the outbox key as
    message metadata, so `find` can tell afterwards whether an interrupted post landed."""

    def __init__(self, ch: SlackChannel, timeout: float = 10):
        self.name, self.channel = ch.name, ch.channel
        self._client = WebClient(token=ch.bot_token, base_url=ch.api_url, timeout=max(1, int(timeout)),
                                 retry_handlers=[ShortRateLimitRetry(min(5.0, timeout / 2))])

    def _call(self, what: str, fn: Any, **kw: Any) -> Any:
        try:
            return fn(**kw)
        except SlackApiError as exc:
            raise _api_error(self.name, what, exc) from None
        except Exception as exc:  # connection refused, timeout: the call may or may not have landed
            raise NotifierError(f"slack channel {self.name}: {what}: {type(exc).__name__}: {exc}") from None

    def send(self, payload: dict) -> None:
        self.post(payload)

    def post(self, payload: dict, key: Optional[str] = None, thread_ts: Optional[str] = None) -> tuple[str, str]:
        """Returns (channel ID, message ts)."""
        meta = {"event_type": METADATA_EVENT, "event_payload": {"key": key}} if key else None
        resp = self._call("chat.postMessage", self._client.chat_postMessage, channel=self.channel,
                          text=payload.get("text", ""), blocks=payload.get("blocks"), thread_ts=thread_ts,
                          metadata=meta, unfurl_links=False, unfurl_media=False)
        return resp["channel"], resp["ts"]

    def update(self, channel_id: str, ts: str, payload: dict) -> None:
        self._call("chat.update", self._client.chat_update, channel=channel_id, ts=ts,
                   text=payload.get("text", ""), blocks=payload.get("blocks"))

    def find(self, key: str, oldest: datetime, thread_ts: Optional[str] = None, pages: int = 5) -> Optional[str]:
        """The ts of the message posted under `key` since `oldest`, or None if there is none.
        Looks at the channel and, when given, the thread (replies are not in the history)."""
        calls = [("conversations.history", self._client.conversations_history, {})]
        if thread_ts:
            calls.append(("conversations.replies", self._client.conversations_replies, {"ts": thread_ts}))
        for what, fn, extra in calls:
            cursor = None
            for _ in range(pages):
                resp = self._call(what, fn, channel=self.channel, oldest=f"{oldest.timestamp():.6f}", limit=200,
                                  include_all_metadata=True, cursor=cursor, **extra)
                for msg in resp.get("messages", []):
                    meta = msg.get("metadata") or {}
                    if meta.get("event_type") == METADATA_EVENT and (meta.get("event_payload") or {}).get("key") == key:
                        return msg["ts"]
                cursor = (resp.get("response_metadata") or {}).get("next_cursor")
                if not cursor:
                    break
        return None

    def upload(self, file: str | bytes, filename: str, title: str, comment: Optional[str] = None) -> None:
        self._call("files_upload_v2", self._client.files_upload_v2, channel=self.channel, file=file,
                   filename=filename, title=title, initial_comment=comment)


def _api_error(name: str, what: str, exc: SlackApiError) -> NotifierError:
    resp = exc.response
    status = getattr(resp, "status_code", None)
    code = resp.data.get("error") if isinstance(getattr(resp, "data", None), dict) else None
    said = " ".join(filter(None, (f"HTTP {status}" if status != 200 else None, code))) or "no answer"
    message = f"slack channel {name}: {what}: {said}"
    if code in HINTS:
        message += f" ({HINTS[code]})"
    if status == 429 or code == "ratelimited":
        return NotifierError(message, retry_after=_retry_after(resp.headers))
    return NotifierError(message, permanent=code in PERMANENT)


def notifier(ch: SlackChannel, timeout: float = 10) -> Any:
    if ch.is_bot:
        return SlackBotNotifier(ch, timeout)
    return SlackWebhookNotifier(ch.name, ch.webhook_url or "", timeout)


def upload_file(channel_cfg: SlackChannel, file: str | Path | bytes, title: str, comment: Optional[str] = None,
                filename: Optional[str] = None, timeout: float = 60) -> None:
    """Upload a file (e.g. the weekly report) to a bot-token channel: a path, or the content as
    bytes with `filename`. `comment` is Slack mrkdwn sent as written: escape anything in it
    that came from a post. Raises NotifierError; webhooks cannot carry files."""
    if not channel_cfg.is_bot:
        raise NotifierError(f"slack channel {channel_cfg.name}: incoming webhooks cannot upload files; "
                            "configure this channel with bot_token and channel (a Slack app with files:write)",
                            permanent=True)
    if isinstance(file, bytes):
        if not filename:
            raise NotifierError("upload_file: content given as bytes needs a filename", permanent=True)
    else:
        path = Path(file)
        if not path.is_file():
            raise NotifierError(f"slack channel {channel_cfg.name}: no file at {path}", permanent=True)
        file, filename = str(path), filename or path.name
    SlackBotNotifier(channel_cfg, timeout).upload(file, filename, title, comment)
