"""A TCP proxy between a worker and PostgreSQL, to "restart" the database for one worker only.

The shared test server is used by other tests (and people) at the same time, so it is never
restarted. A worker pointed at the proxy sees what a restart looks like from its side instead:
`down()` cuts every open connection (the server end of each is closed, as when PostgreSQL
shuts down) and refuses new ones (the port is closed: "connection refused"); `up()` opens the
same port again and forwards new connections to the real server.
"""

from __future__ import annotations

import socket
import threading
from typing import Optional

import sqlalchemy as sa


class PgProxy:
    def __init__(self, target: tuple[str, int] = ("127.0.0.1", 5432)) -> None:
        self.target = target
        self._lock = threading.Lock()
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._listener: Optional[socket.socket] = None
        self.port = 0
        self.accepted = 0  # connections forwarded, over the proxy's life
        self.cut_count = 0  # connections cut by down()

    def __enter__(self) -> "PgProxy":
        self.up()
        return self

    def __exit__(self, *exc) -> None:
        self.down()

    @classmethod
    def to(cls, url: str) -> "PgProxy":
        """A proxy to the server a SQLAlchemy URL names."""
        u = sa.engine.make_url(url)
        return cls((u.host or "127.0.0.1", u.port or 5432))

    def url(self, base: str) -> str:
        """`base` (a SQLAlchemy URL) with its host and port replaced by the proxy's."""
        return sa.engine.make_url(base).set(host="127.0.0.1", port=self.port).render_as_string(hide_password=False)

    # --- control -----------------------------------------------------------------------------

    def up(self) -> None:
        """Listen (on the same port as before, after a down()) and forward new connections."""
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        with self._lock:
            self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True, name="pg-proxy-accept").start()

    def down(self) -> int:
        """Refuse new connections and cut every open one; returns how many were cut."""
        with self._lock:
            listener, self._listener = self._listener, None
            pairs, self._pairs = self._pairs, []
        if listener is not None:
            _close(listener)
        for client, server in pairs:
            _close(server)
            _close(client)
        self.cut_count += len(pairs)
        return len(pairs)

    @property
    def open_connections(self) -> int:
        with self._lock:
            return len(self._pairs)

    # --- forwarding ----------------------------------------------------------------------------

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # closed by down()
            try:
                server = socket.create_connection(self.target, timeout=5)
                server.settimeout(None)
            except OSError:
                _close(client)
                continue
            with self._lock:
                if self._listener is not listener:  # went down meanwhile
                    _close(client)
                    _close(server)
                    return
                self._pairs.append((client, server))
                self.accepted += 1
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b, (client, server)), daemon=True,
                                 name="pg-proxy-pump").start()

    def _pump(self, src: socket.socket, dst: socket.socket, pair: tuple[socket.socket, socket.socket]) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        # One side closed: close both, as the end that closed would.
        with self._lock:
            if pair in self._pairs:
                self._pairs.remove(pair)
        _close(src)
        _close(dst)


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass
