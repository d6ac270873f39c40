"""What the HTTP-based collectors share: one User-Agent, markup to text, and the translation of
HTTP failures into repmon's error tree (429 -> RateLimited, 401/403 -> AuthError, 5xx and
network trouble -> TransientError)."""

from __future__ import annotations

import html
import re
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from html.parser import HTMLParser
from typing import Any, Callable, Optional

import httpx

from repmon.errors import AuthError, CollectorError, RateLimited, TransientError

USER_AGENT = "repmon/0.1 (self-hosted reputation monitor)"


class _Text(HTMLParser):
    """Markup to plain text: block tags start a paragraph, links keep their text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag in ("p", "pre", "div", "blockquote", "li", "ul", "ol", "h1", "h2", "h3", "h4", "tr"):
            self.parts.append("\n\n")
        elif tag == "br":
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def html_to_text(markup: Optional[str]) -> str:
    """Unescape entities, drop tags, keep paragraph breaks."""
    if not markup:
        return ""
    parser = _Text()
    parser.feed(markup)
    parser.close()
    text = html.unescape("".join(parser.parts)).replace("\xa0", " ")
    text = re.sub(r"[ \t\r\f\v]+", " ", text)
    text = re.sub(r" *\n *", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def retry_after(resp: httpx.Response, default: float = 60) -> datetime:
    """When a 429 says to come back: Retry-After in seconds or as an HTTP date."""
    now = datetime.now(timezone.utc)
    value = resp.headers.get("Retry-After", "").strip()
    if value.isdigit():
        return now + timedelta(seconds=int(value))
    if value:
        try:
            when = parsedate_to_datetime(value)
            return when if when.tzinfo else when.replace(tzinfo=timezone.utc)
        except (TypeError, ValueError):
            pass
    return now + timedelta(seconds=default)


def check_response(resp: httpx.Response, what: str, *,
                   reset_at: Callable[[httpx.Response], datetime] = retry_after, auth_hint: str = "") -> None:
    """Translate an HTTP status into repmon's error tree; `reset_at` reads the API's own reset header."""
    code = resp.status_code
    if code < 400:
        return
    if code == 429:
        reset = reset_at(resp)
        raise RateLimited(f"{what}: rate limited (HTTP 429) until {reset:%H:%M:%S} UTC", reset_at=reset)
    if code in (401, 403):
        raise AuthError(f"{what}: access refused (HTTP {code}){auth_hint}")
    if code >= 500:
        raise TransientError(f"{what}: server error (HTTP {code})")
    raise CollectorError(f"{what}: HTTP {code}: {resp.text[:200]}")


def get(client: httpx.Client, url: str, what: str, **kw: Any) -> httpx.Response:
    try:
        return client.get(url, **kw)
    except httpx.TimeoutException as exc:
        raise TransientError(f"{what}: timed out") from exc
    except httpx.TransportError as exc:
        raise TransientError(f"{what}: {type(exc).__name__}: {exc}") from exc
