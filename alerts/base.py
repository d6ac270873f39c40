"""The notifier interface: send one alert, say how it went. Retries and dedup are the
dispatcher's job (alerts.dispatcher), not the notifier's. Bot-token channels
(alerts.slack.SlackBotNotifier) add post / update / find for threads, edits and exact redelivery."""

from __future__ import annotations

from typing import Protocol


class Notifier(Protocol):
    name: str

    def send(self, payload: dict) -> None:
        """Deliver `payload` ({"text", "blocks"}); raise repmon.errors.NotifierError on failure."""
