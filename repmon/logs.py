"""Logging set-up: key=value lines on stderr, with every configured secret redacted."""

from __future__ import annotations

import logging
from typing import Iterable

import sqlalchemy as sa

from repmon.config import Config


_FORMAT = logging.Formatter("%(asctime)s level=%(levelname)s logger=%(name)s %(message)s")


class RedactSecrets(logging.Filter):
    def __init__(self, secrets: Iterable[str]):
        super().__init__()
        self.secrets = sorted({s for s in secrets if s and len(s) >= 6}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            record.msg, record.args = self.redact(record.getMessage()), None
            # A traceback can quote a secret too (a URL in an exception's message, a local in
            # a frame's source line): format it here, redacted, so the formatter reuses it.
            if record.exc_info and not record.exc_text:
                record.exc_text = _FORMAT.formatException(record.exc_info)
            if record.exc_text:
                record.exc_text = self.redact(record.exc_text)
            if record.stack_info:
                record.stack_info = self.redact(record.stack_info)
        return True


def secrets_of(cfg: Config) -> list[str]:
    found = [secret for ch in cfg.alerts.slack for secret in (ch.webhook_url, ch.bot_token) if secret]
    try:
        password = sa.engine.make_url(cfg.database.url).password
    except Exception:
        password = None
    if password:
        found.append(str(password))
    if cfg.reports.email is not None:
        found.append(cfg.reports.email.password)
    for src in cfg.sources.values():
        for key, value in (src.model_extra or {}).items():
            if isinstance(value, str) and any(w in key for w in ("token", "secret", "password", "key")):
                found.append(value)
    return found


def setup(cfg: Config, verbose: bool = False) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(_FORMAT)
    handler.addFilter(RedactSecrets(secrets_of(cfg)))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    for noisy in ("apscheduler", "urllib3", "alembic"):
        logging.getLogger(noisy).setLevel(logging.INFO if verbose else logging.WARNING)
