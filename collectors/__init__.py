"""Collectors: one module per source, each registering a `Collector` subclass by its `kind`."""

from __future__ import annotations

import importlib
import pkgutil

from collectors.base import REGISTRY, Batch, Collector

__all__ = ["REGISTRY", "Batch", "Collector", "collector_class", "known_kinds"]


_discovered = False


def _discover() -> None:
    global _discovered
    for mod in pkgutil.iter_modules(__path__):
        if mod.name not in ("base", "web"):
            importlib.import_module(f"{__name__}.{mod.name}")
    _discovered = True


def collector_class(kind: str) -> type[Collector]:
    if not _discovered:
        _discover()
    if kind not in REGISTRY:
        from repmon.errors import ConfigError

        raise ConfigError(f"unknown source kind {kind!r}; known kinds: {', '.join(sorted(REGISTRY))}")
    return REGISTRY[kind]


def known_kinds() -> list[str]:
    """Every source kind this installation can collect from (tests' own kinds excluded)."""
    if not _discovered:
        _discover()
    return sorted(k for k, cls in REGISTRY.items() if cls.__module__.startswith(__name__ + "."))
