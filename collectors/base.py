"""The collector interface. A collector only fetches: it yields pages of mention dicts and the
cursor that resumes after each page. The runner (repmon.pipeline.collect) stores each page and
its cursor in one transaction, keeps health, and retries; collectors never touch the database.

Adding a source is one new module in this package that defines a subclass with `kind` set.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Iterator, Optional

from pydantic import BaseModel, ConfigDict, ValidationError

from repmon.errors import ConfigError

REGISTRY: dict[str, type["Collector"]] = {}


@dataclass
class Batch:
    """One page: mention dicts (keys as repmon.models.Mention) and the cursor after it."""

    mentions: list[dict]
    cursor: Optional[str]
    notes: dict[str, Any] = field(default_factory=dict)


class Options(BaseModel):
    """Keys every source section has; a collector subclasses this with its own."""

    model_config = ConfigDict(extra="forbid")
    kind: Optional[str] = None
    enabled: bool = True
    brand: Optional[str] = None


class Collector:
    kind: ClassVar[str] = ""
    options_model: ClassVar[type[Options]] = Options
    # True where everything fetched is about the brand already (its app's reviews, its own
    # channel): the runner then skips keyword matching.
    prefiltered: ClassVar[bool] = False

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        if cls.kind:
            REGISTRY[cls.kind] = cls

    def __init__(self, name: str, options: Options, brand: Any):
        self.name, self.options, self.brand = name, options, brand

    @classmethod
    def from_config(cls, name: str, raw: dict, brand: Any) -> "Collector":
        try:
            options = cls.options_model.model_validate(raw)
        except ValidationError as exc:
            problems = "; ".join(
                f"sources.{name}.{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()
            )
            raise ConfigError(problems) from None
        return cls(name, options, brand)

    def fetch(self, cursor: Optional[str]) -> Iterator[Batch]:
        raise NotImplementedError

    # A collector that can re-check a post before a reply defines:
    #     def exists(self, native_id: str) -> bool
