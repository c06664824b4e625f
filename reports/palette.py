"""Backend order and colours, assigned rather than hard-coded: the registry's order first, then any other backend
(an old record's, say) alphabetically; each backend's colour is the palette entry at its place in that order."""

from __future__ import annotations

from collections.abc import Iterable

from backends.registry import all_backends

PALETTE = ("#4e79a7", "#f28e2b", "#b07aa1", "#76b7b2", "#59a14f", "#9c755f", "#edc948", "#bab0ac")
"""Colour-blind-friendly (Tableau 10 without its red, which marks regressions), used in order, then cycled."""


def registered() -> tuple[str, ...]:
    """The registry's backend names in its order (the built-in ones, then $BENCH_EXTRA_BACKENDS)."""
    return tuple(all_backends())


def backend_key(backend: str | None) -> tuple[int, str]:
    """Sort key: registered backends in registry order, then the others alphabetically."""
    known = registered()
    return (known.index(backend), "") if backend in known else (len(known), backend or "")


class Palette:
    """The order and colour of every backend on one page: registered ones first, then `backends` not registered."""

    def __init__(self, backends: Iterable[str | None] = ()) -> None:
        known = registered()
        self.order: tuple[str, ...] = (*known, *sorted({str(b) for b in backends if b not in known}))

    def colour(self, backend: str | None) -> str:
        """The backend's colour, the same in every chart and table of the page and in its legend."""
        name = str(backend)
        index = self.order.index(name) if name in self.order else len(self.order)
        return PALETTE[index % len(PALETTE)]
