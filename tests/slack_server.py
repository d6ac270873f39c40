"""A local HTTP server that answers like Slack, for real slack_sdk traffic in tests.

Incoming webhooks: any path outside /api/ and /upload/. Script their next answers with
`script((status, body, headers), ...)`; when the script runs out they get 200 "ok".

Web API (base URL `api_url`): chat.postMessage, chat.update, conversations.history and
conversations.replies (with message metadata), auth.test, and files.getUploadURLExternal +
the upload URL + files.completeUploadExternal, so `files_upload_v2` works. Bodies may be
JSON, form-encoded or in the query string, as slack_sdk sends them. Only TOKEN is valid;
channels are CHANNELS (IDs; a name also works for chat.postMessage, as in Slack), and the
bot is not a member of NOT_MEMBER. Script errors per method with `script_api(method, ...)`
(`error("invalid_auth")`, `rate_limited(7)`, `server_error()`), and hold an answer back
with `delay(method, seconds, deliver=...)`.

Every request is kept in `received` ({"path", "method", "json"}), in arrival order.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Optional
from urllib.parse import parse_qsl, urlsplit

TOKEN = "xoxb-test-0000-secret-token"
CHANNELS = {"C0ALERTS1": "alerts", "C0PRESS01": "press", "C0NOTMEM1": "private-ish"}
NOT_MEMBER = {"C0NOTMEM1"}


@dataclass
class Answer:
    status: int = 200
    body: dict = field(default_factory=lambda: {"ok": True})
    headers: dict = field(default_factory=dict)


def error(code: str) -> Answer:
    return Answer(200, {"ok": False, "error": code})


def rate_limited(retry_after: int) -> Answer:
    return Answer(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(retry_after)})


def server_error(status: int = 500) -> Answer:
    return Answer(status, {"ok": False, "error": "internal_error"})


@dataclass
class Delay:
    seconds: float
    deliver: bool  # True: Slack acts on the request, then answers late; False: it never arrives


class SlackLike:
    def __init__(self) -> None:
        self.received: list[dict] = []
        self.delivered: list[dict] = []  # webhook messages that reached the channel
        self.messages: dict[str, list[dict]] = {cid: [] for cid in CHANNELS}
        self.files: dict[str, dict] = {}
        self._script: list[tuple[int, str, dict]] = []
        self._api_script: dict[str, list[Answer]] = {}
        self._delays: dict[str, list[tuple[Optional[int], Delay]]] = {}
        self._counts: dict[str, int] = {}
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._ids = itertools.count(1)
        self._last_ts = 0.0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                owner._handle(self)

            do_GET = do_POST  # noqa: N815

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.block_on_close = False
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/"

    def __enter__(self) -> "SlackLike":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._closing.set()
        self.server.shutdown()
        self.server.server_close()

    # --- scripting -------------------------------------------------------------------------

    def script(self, *answers: tuple[int, str, dict]) -> None:
        """The next answers to incoming-webhook requests."""
        with self._lock:
            self._script.extend(answers)

    def script_api(self, method: str, *answers: Answer) -> None:
        with self._lock:
            self._api_script.setdefault(method, []).extend(answers)

    def delay(self, method: str, seconds: float, deliver: bool = True, call: Optional[int] = None) -> None:
        """Hold back the answer to the next call of `method` ("webhook" for webhooks), or to its
        `call`-th call (1-based, counted from the start)."""
        with self._lock:
            self._delays.setdefault(method, []).append((call, Delay(seconds, deliver)))

    def _take_delay(self, method: str) -> Optional[Delay]:
        n = self._counts[method] = self._counts.get(method, 0) + 1
        pending = self._delays.get(method, [])
        for i, (call, delay) in enumerate(pending):
            if call is None or call == n:
                return pending.pop(i)[1]
        return None

    def calls(self, method: str) -> list[dict]:
        with self._lock:
            return [r["json"] for r in self.received if r["method"] == method]

    def posted(self, channel: str = "C0ALERTS1") -> list[dict]:
        """Messages in a channel, replies included, oldest first."""
        with self._lock:
            return list(self.messages[channel])

    # --- HTTP ------------------------------------------------------------------------------

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(h.path)
        raw = h.rfile.read(int(h.headers.get("Content-Length", 0) or 0))
        if parts.path.startswith("/upload/"):
            return self._upload(h, parts.path.rsplit("/", 1)[-1], raw)
        if not parts.path.startswith("/api/"):
            return self._webhook(h, raw)
        method = parts.path[len("/api/"):]
        params: dict[str, Any] = dict(parse_qsl(parts.query))
        ctype = h.headers.get("Content-Type", "")
        if raw and "json" in ctype:
            params.update(json.loads(raw))
        elif raw:
            params.update(parse_qsl(raw.decode()))
        with self._lock:
            self.received.append({"path": parts.path, "method": method, "json": params})
            scripted = self._api_script.get(method, [])
            answer = scripted.pop(0) if scripted else None
            delay = self._take_delay(method)
        if delay is not None and not delay.deliver:
            self._closing.wait(delay.seconds)
            answer = server_error(503)  # too late: the client gave up or died
        if answer is None:
            with self._lock:
                answer = self._api(method, params, h.headers.get("Authorization", ""))
        if delay is not None and delay.deliver:
            self._closing.wait(delay.seconds)
        self._reply(h, answer.status, json.dumps(answer.body), answer.headers, "application/json; charset=utf-8")

    def _reply(self, h: BaseHTTPRequestHandler, status: int, text: str, headers: dict, ctype: str) -> None:
        try:
            h.send_response(status)
            for k, v in headers.items():
                h.send_header(k, v)
            h.send_header("Content-Type", ctype)
            h.send_header("Content-Length", str(len(text.encode())))
            h.end_headers()
            h.wfile.write(text.encode())
        except OSError:
            pass  # the client is gone

    def _webhook(self, h: BaseHTTPRequestHandler, raw: bytes) -> None:
        """`received` holds every request; `delivered` only those Slack acted on."""
        with self._lock:
            self.received.append({"path": h.path, "method": "webhook", "json": json.loads(raw or b"{}")})
            status, text, headers = self._script.pop(0) if self._script else (200, "ok", {})
            delay = self._take_delay("webhook")
            if status == 200 and (delay is None or delay.deliver):
                self.delivered.append(json.loads(raw or b"{}"))
        if delay is not None:
            self._closing.wait(delay.seconds)
            if not delay.deliver:
                status, text, headers = 503, "too late", {}
        self._reply(h, status, text, headers, "text/plain")

    def _upload(self, h: BaseHTTPRequestHandler, file_id: str, raw: bytes) -> None:
        with self._lock:
            self.received.append({"path": h.path, "method": "upload", "json": {"file_id": file_id, "bytes": len(raw)}})
            known = file_id in self.files
            if known:
                self.files[file_id]["content"] = raw
        self._reply(h, 200 if known else 404, f"OK - {len(raw)}" if known else "not found", {}, "text/plain")

    # --- the Web API, called with the lock held --------------------------------------------

    def _ts(self) -> str:
        now = max(time.time(), self._last_ts + 0.000001)
        self._last_ts = now
        return f"{now:.6f}"

    def _channel(self, ref: Optional[str], by_name: bool = False) -> Optional[str]:
        if ref in CHANNELS:
            return ref
        if by_name and ref:
            return next((cid for cid, name in CHANNELS.items() if name == ref.lstrip("#")), None)
        return None

    def _find(self, cid: str, ts: Optional[str]) -> Optional[dict]:
        return next((m for m in self.messages[cid] if m["ts"] == ts), None)

    def _api(self, method: str, p: dict, auth: str) -> Answer:
        if not auth.startswith("Bearer "):
            return error("not_authed")
        if auth.removeprefix("Bearer ") != TOKEN:
            return error("invalid_auth")
        handler = getattr(self, "_m_" + method.replace(".", "_"), None)
        if handler is None:
            return error("unknown_method")
        return handler(p)

    def _m_auth_test(self, p: dict) -> Answer:
        return Answer(body={"ok": True, "team": "T", "user": "repmon", "bot_id": "B0REPMON"})

    def _m_chat_postMessage(self, p: dict) -> Answer:
        cid = self._channel(p.get("channel"), by_name=True)
        if cid is None:
            return error("channel_not_found")
        if cid in NOT_MEMBER:
            return error("not_in_channel")
        if not p.get("text") and not p.get("blocks"):
            return error("no_text")
        thread_ts = p.get("thread_ts") or None
        if thread_ts and self._find(cid, thread_ts) is None:
            return error("thread_not_found")
        blocks = json.loads(p["blocks"]) if isinstance(p.get("blocks"), str) else p.get("blocks")
        meta = json.loads(p["metadata"]) if isinstance(p.get("metadata"), str) else p.get("metadata")
        msg = {"ts": self._ts(), "text": p.get("text", ""), "blocks": blocks, "thread_ts": thread_ts,
               "metadata": meta, "bot_id": "B0REPMON"}
        self.messages[cid].append(msg)
        return Answer(body={"ok": True, "channel": cid, "ts": msg["ts"], "message": _public(msg, True)})

    def _m_chat_update(self, p: dict) -> Answer:
        cid = self._channel(p.get("channel"))  # chat.update takes IDs only
        if cid is None:
            return error("channel_not_found")
        msg = self._find(cid, p.get("ts"))
        if msg is None:
            return error("message_not_found")
        msg["text"] = p.get("text", msg["text"])
        msg["blocks"] = json.loads(p["blocks"]) if isinstance(p.get("blocks"), str) else p.get("blocks")
        msg["edited"] = msg.get("edited", 0) + 1
        return Answer(body={"ok": True, "channel": cid, "ts": msg["ts"], "text": msg["text"]})

    def _page(self, msgs: list[dict], p: dict) -> Answer:
        with_meta = str(p.get("include_all_metadata", "")).lower() in ("1", "true")
        start, limit = int(p.get("cursor") or 0), int(p.get("limit") or 100)
        page = msgs[start:start + limit]
        more = start + limit < len(msgs)
        return Answer(body={"ok": True, "messages": [_public(m, with_meta) for m in page], "has_more": more,
                            "response_metadata": {"next_cursor": str(start + limit) if more else ""}})

    def _m_conversations_history(self, p: dict) -> Answer:
        cid = self._channel(p.get("channel"))
        if cid is None:
            return error("channel_not_found")
        oldest, latest = float(p.get("oldest") or 0), float(p.get("latest") or 1e12)
        top = [m for m in self.messages[cid] if m["thread_ts"] in (None, m["ts"]) and oldest < float(m["ts"]) <= latest]
        return self._page(sorted(top, key=lambda m: float(m["ts"]), reverse=True), p)

    def _m_conversations_replies(self, p: dict) -> Answer:
        cid = self._channel(p.get("channel"))
        if cid is None:
            return error("channel_not_found")
        parent = self._find(cid, p.get("ts"))
        if parent is None:
            return error("thread_not_found")
        thread = [parent] + [m for m in self.messages[cid] if m["thread_ts"] == parent["ts"] and m is not parent]
        return self._page(thread, p)

    def _m_files_getUploadURLExternal(self, p: dict) -> Answer:
        if not p.get("filename") or not p.get("length"):
            return error("invalid_arguments")
        file_id = f"F{next(self._ids):08d}"
        self.files[file_id] = {"filename": p["filename"], "length": int(p["length"]), "content": None}
        return Answer(body={"ok": True, "file_id": file_id, "upload_url": f"{self.url}/upload/{file_id}"})

    def _m_files_completeUploadExternal(self, p: dict) -> Answer:
        files = json.loads(p["files"]) if isinstance(p.get("files"), str) else p.get("files") or []
        cid = p.get("channel_id")
        if cid is not None and self._channel(cid) is None:
            return error("channel_not_found")
        done = []
        for f in files:
            stored = self.files.get(f.get("id"))
            if stored is None or stored["content"] is None:
                return error("file_not_found")
            stored.update(title=f.get("title"), channel=cid)
            done.append({"id": f["id"], "name": stored["filename"], "title": f.get("title")})
        if cid is not None:
            self.messages[cid].append({"ts": self._ts(), "text": p.get("initial_comment", ""), "blocks": None,
                                       "thread_ts": p.get("thread_ts"), "metadata": None, "files": done})
        return Answer(body={"ok": True, "files": done})


def _public(msg: dict, with_meta: bool) -> dict:
    out = {k: v for k, v in msg.items() if v is not None and k != "metadata"}
    if with_meta and msg.get("metadata"):
        out["metadata"] = msg["metadata"]
    return out
