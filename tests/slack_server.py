"""A local HTTP server that answers like Slack's incoming webhooks, for real slack_sdk traffic.

Script the next answers with `script(...)`: each entry is (status, body, headers); when the
script runs out every request gets 200 "ok". Every request body received is kept in `received`.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class SlackLike:
    def __init__(self) -> None:
        self.received: list[dict] = []
        self._script: list[tuple[int, str, dict]] = []
        self._lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with owner._lock:
                    owner.received.append({"path": self.path, "json": json.loads(body or b"{}")})
                    status, text, headers = owner._script.pop(0) if owner._script else (200, "ok", {})
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write(text.encode())

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def script(self, *answers: tuple[int, str, dict]) -> None:
        with self._lock:
            self._script.extend(answers)

    def __enter__(self) -> "SlackLike":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
