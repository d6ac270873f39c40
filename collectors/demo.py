"""Replays the built-in demo data set as if it were a live source.

The cursor remembers the anchor time the data set was laid out against and how far the
replay got, so stopping half-way and starting again continues where it left off.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Iterator, Optional

from pydantic import Field

from collectors.base import Batch, Collector, Options
from repmon import demo


class DemoOptions(Options):
    page_size: int = Field(500, ge=1, le=10_000, description="mentions per page")
    pages_per_run: int = Field(0, ge=0, description="pages per collect run; 0 = all that are left")


class DemoCollector(Collector):
    kind = "demo"
    options_model = DemoOptions

    def fetch(self, cursor: Optional[str]) -> Iterator[Batch]:
        state = json.loads(cursor) if cursor else {}
        anchor = (
            datetime.fromisoformat(state["anchor"])
            if "anchor" in state
            else datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)
        )
        items = demo.generate(anchor)
        position = int(state.get("next", 0))
        pages = 0
        opts: DemoOptions = self.options  # type: ignore[assignment]
        while position < len(items) and (opts.pages_per_run == 0 or pages < opts.pages_per_run):
            page = items[position : position + opts.page_size]
            position += len(page)
            pages += 1
            yield Batch(
                mentions=page,
                cursor=json.dumps({"anchor": anchor.isoformat(), "next": position}),
                notes={"total": len(items), "position": position},
            )
