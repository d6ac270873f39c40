"""The notifier interface: send one alert, say how it went. Retries and dedup are the
dispatcher's job (alerts.outbox), not the notifier's."""

from __future__ import annotations

from typing import Protocol


class Notifier(Protocol):
    name: str

    def send(self, payload: dict) -> None:
        """Deliver `payload` ({"text", "blocks"}); raise repmon.errors.NotifierError on failure."""
