"""Energy prices by region over the day: a stated synthetic shape, not market data.

Wholesale day-ahead prices follow a daily cycle, low at night and highest in the early evening
(for example the day-ahead auctions of European power exchanges); we ship no price data, so the
campaign uses that shape: ``base x (1 + amplitude x sin(2 pi (local_hour - 12) / 24))``, which
peaks at 18:00 and bottoms at 06:00 local time. Regions differ by their UTC offset, so at any
moment some are cheaper than others. The shape is what the shifter reacts to; no result depends
on its particular numbers beyond that.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from autoinfra.core.errors import ConfigError

__all__ = ["DiurnalPrice"]


@dataclass(frozen=True, slots=True)
class DiurnalPrice:
    utc_offset_h: float
    base: float = 1.0
    amplitude: float = 0.4

    def __post_init__(self) -> None:
        if not -12 <= self.utc_offset_h <= 14:
            raise ConfigError(f"utc_offset_h {self.utc_offset_h} outside [-12, 14]", field="tz")
        if not (self.base > 0 and 0 <= self.amplitude < 1):
            raise ConfigError("price needs base > 0 and amplitude in [0, 1)", field="amplitude")

    def at(self, utc_s: float) -> float:
        local_h = (utc_s / 3600.0 + self.utc_offset_h) % 24.0
        return self.base * (1.0 + self.amplitude * math.sin(2 * math.pi * (local_h - 12.0) / 24.0))
