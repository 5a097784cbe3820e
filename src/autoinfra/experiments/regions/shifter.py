"""The load shifter: offers, shifts and acknowledgements between regions over the bus.

Each region's shifter, every ``period_s``:

1. publishes an offer (its price now, the share of its powered CPU not in use);
2. reads the others' latest offers; if one is cheaper by more than ``hysteresis`` and has more
   than ``min_spare_share`` room, and nothing of ours is in flight, it asks that region to take
   ``step_share`` of our traffic (a ``shift`` message with a unique id, durable);
3. answers shifts addressed to it: it takes them (raises its share, acknowledges) if it still
   has room, or refuses with the reason;
4. on an acknowledgement of its own shift, lowers its share.

The receiver raises its share before the sender lowers its own, so for a moment the services are
served twice over rather than not at all; once both steps are done the shares add up to exactly
what they were. Every message is signed and validated on receipt; shifts are applied once per id.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from autoinfra.coordination.bus.base import Bus
from autoinfra.coordination.bus.messages import (
    Envelope,
    MessageRejected,
    OfferBody,
    ShiftAckBody,
    ShiftBody,
    open_envelope,
    seal,
)
from autoinfra.coordination.bus.subjects import subject
from autoinfra.core.errors import ConfigError
from autoinfra.security.signing import AgentKey, Keyring

_log = logging.getLogger(__name__)

__all__ = ["LoadShifter", "ShifterSettings"]


@dataclass(frozen=True, slots=True)
class ShifterSettings:
    period_s: float = 60.0
    step_share: float = 0.05  # of each service's traffic moved per shift
    hysteresis: float = 0.1  # the other region must be this much cheaper (relative)
    min_spare_share: float = 0.25  # and have this much of its powered CPU free
    min_share: float = 0.05  # never hand away the last of a service's traffic

    def __post_init__(self) -> None:
        for name in ("step_share", "hysteresis", "min_spare_share", "min_share"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise ConfigError(f"{name} must be in [0, 1], got {v}", field=name)
        if not self.period_s > 0:
            raise ConfigError("period_s must be > 0", field="period_s")


@dataclass
class LoadShifter:
    bus: Bus
    key: AgentKey
    keyring: Keyring
    region: str
    cell: str
    peers: tuple[str, ...]
    apply_share: Callable[[float], None]  # set this region's share of every geo service
    share: float
    settings: ShifterSettings = field(default_factory=ShifterSettings)
    offers: dict[str, OfferBody] = field(default_factory=dict)
    in_flight: ShiftBody | None = None
    log: list[dict[str, object]] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    _applied: set[str] = field(default_factory=set)
    _next_s: float = 0.0

    def __post_init__(self) -> None:
        self._offers = [self.bus.subscribe(subject(p, self.cell, "offer")) for p in self.peers]
        self._shifts = self.bus.subscribe(subject(self.region, self.cell, "shift"))

    def _send(self, to: str, kind: str, schema: str, body: Any, now_s: float) -> None:
        sealed = seal(self.key, schema, body, region=self.region, cell=self.cell, sent_at_s=now_s)
        self.bus.publish(subject(to, self.cell, kind), sealed.to_bytes(), durable=kind == "shift")

    def step(self, now_s: float, price: float, spare_share: float) -> None:
        self._read(now_s, spare_share)
        if now_s < self._next_s:
            return
        self._next_s = now_s + self.settings.period_s
        offer = OfferBody(price=price, spare_share=max(0.0, min(1.0, spare_share)), at_s=now_s)
        self._send(self.region, "offer", "offer/v1", offer, now_s)
        if (
            self.in_flight is not None
            or self.share - self.settings.step_share < self.settings.min_share
        ):
            return
        cheaper = [
            (o.price, region)
            for region, o in self.offers.items()
            if o.price < price * (1 - self.settings.hysteresis)
            and o.spare_share > self.settings.min_spare_share
        ]
        if not cheaper:
            return
        _, to = min(cheaper)
        shift = ShiftBody(
            shift_id=f"{self.region}/{secrets.token_hex(6)}",
            to_region=to,
            delta_share=self.settings.step_share,
        )
        self.in_flight = shift
        self._send(to, "shift", "shift/v1", shift, now_s)
        self.log.append({"at_s": now_s, "event": "asked", "to": to, "id": shift.shift_id})

    def settle(self, now_s: float, spare_share: float) -> None:
        """Answer shifts and take acknowledgements, without offering or asking (winding down)."""
        self._read(now_s, spare_share)

    def _read(self, now_s: float, spare_share: float) -> None:
        for sub in self._offers:
            for raw in sub.drain():
                envelope, body = self._open(raw)
                if isinstance(body, OfferBody) and envelope is not None:
                    self.offers[envelope.region] = body
        for raw in self._shifts.drain():
            envelope, body = self._open(raw)
            if envelope is None:
                continue
            if isinstance(body, ShiftBody):
                self._take(envelope.region, body, now_s, spare_share)
            elif isinstance(body, ShiftAckBody):
                self._acknowledged(body, now_s)

    def _open(self, raw: bytes) -> tuple[Envelope | None, BaseModel | None]:
        try:
            return open_envelope(raw, self.keyring)
        except MessageRejected as exc:
            self.rejected.append(str(exc))
            _log.warning("refused a message: %s", exc)
            return None, None

    def _take(self, sender: str, shift: ShiftBody, now_s: float, spare_share: float) -> None:
        if shift.to_region != self.region or sender not in self.peers:
            self.rejected.append(f"shift {shift.shift_id} not for us or from a stranger")
            return
        if shift.shift_id in self._applied:
            accepted, reason = True, "already taken"  # a redelivery: acknowledge again, once
        elif spare_share <= self.settings.min_spare_share:
            accepted, reason = False, f"only {spare_share:.0%} spare"
        else:
            self.share += shift.delta_share
            self.apply_share(self.share)
            self._applied.add(shift.shift_id)
            accepted, reason = True, ""
            self.log.append({"at_s": now_s, "event": "took", "from": sender, "id": shift.shift_id,
                             "share": self.share})  # fmt: skip
        ack = ShiftAckBody(shift_id=shift.shift_id, accepted=accepted, reason=reason)
        self._send(sender, "shift", "shift-ack/v1", ack, now_s)

    def _acknowledged(self, ack: ShiftAckBody, now_s: float) -> None:
        shift = self.in_flight
        if shift is None or ack.shift_id != shift.shift_id:
            return  # a duplicate acknowledgement of a shift already settled
        self.in_flight = None
        if ack.accepted:
            self.share -= shift.delta_share
            self.apply_share(self.share)
        self.log.append({"at_s": now_s, "event": "settled", "id": ack.shift_id,
                         "accepted": ack.accepted, "reason": ack.reason,
                         "share": self.share})  # fmt: skip
