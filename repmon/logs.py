"""Logging set-up: key=value lines on stderr, with every configured secret redacted."""

from __future__ import annotations

import logging
from typing import Iterable

import sqlalchemy as sa

from repmon.config import Config


class RedactSecrets(logging.Filter):
    def __init__(self, secrets: Iterable[str]):
        super().__init__()
        self.secrets = sorted({s for s in secrets if s and len(s) >= 6}, key=len, reverse=True)

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            message = record.getMessage()
            for secret in self.secrets:
                message = message.replace(secret, "***")
            record.msg, record.args = message, None
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
    handler.setFormatter(logging.Formatter("%(asctime)s level=%(levelname)s logger=%(name)s %(message)s"))
    handler.addFilter(RedactSecrets(secrets_of(cfg)))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    for noisy in ("apscheduler", "urllib3", "alembic"):
        logging.getLogger(noisy).setLevel(logging.INFO if verbose else logging.WARNING)
