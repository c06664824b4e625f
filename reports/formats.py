"""How numbers are written in the reports: one Format per way of writing one, shared by every table and chart."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from common.units import mib

MISSING = "–"


def num(value: Any, digits: int = 3) -> str:
    """A number for a page table: thousands separators for big values, `digits` significant figures for small ones."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if value == 0:
        return "0"
    return f"{value:.{digits}g}"


def pct(value: Any) -> str:
    """A fraction as a percentage with one decimal: 0.5605 → '56.1 %'."""
    return MISSING if value is None else f"{value * 100:.1f} %"


def sci(value: Any, digits: int = 1) -> str:
    """Scientific notation: 3e-07 → '3.0e-07'."""
    return MISSING if value is None else f"{value:.{digits}e}"


def _same(value: float) -> float:
    return value


@dataclass(frozen=True)
class Format:
    """One way of writing a number; `unit` follows it where a column mixes metrics, `scale` is what a chart plots."""

    write: Callable[[Any], str]
    unit: str = ""
    scale: Callable[[float], float] = _same

    def __call__(self, value: Any, with_unit: bool = False) -> str:
        """The value written ('–' when missing; a string, such as a status, as it is)."""
        if value is None:
            return MISSING
        if isinstance(value, str):
            return value
        text = self.write(value)
        return f"{text} {self.unit}" if with_unit and self.unit else text


def fixed(decimals: int) -> Format:
    """A fixed number of decimals: fixed(3) writes 0.0403 as '0.040'."""
    return Format(f"{{:.{decimals}f}}".format)


COUNT = Format("{:,.0f}".format)
"""Whole numbers with thousands separators (samples/s in terminal tables)."""
FIXED2, FIXED3 = fixed(2), fixed(3)
PERCENT2 = Format("{:.2%}".format)
"""A fraction as a percentage with two decimals (terminal tables): 0.0108 → '1.08%'."""
MIB = Format(lambda value: f"{mib(value):,.0f}", unit="MiB", scale=mib)  # type: ignore[arg-type]
"""Bytes shown in whole MiB, in every table and chart."""
SIG3, SIG4 = Format(num), Format(partial(num, digits=4))
"""Page tables: 3 (or 4) significant figures, thousands separators from 1,000."""
PCT1 = Format(pct)
"""Page tables: a fraction as a percentage with one decimal."""
