"""The approval log's events, one JSON object per line, parsed strictly.

A request's life on disk is a short sequence of events, each appended once:

    asked ──► answered (approved: true) ──► executed (intent) ──► executed (done)
          ├─► answered (approved: false) ─┐
          └─► expired ────────────────────┴─► closed
    (an approved request the gate refuses on re-check is closed instead of executed)

The log is what decides whether an action may run after a restart, so a line that is not exactly
one of these events is an error that names the file and line, never a guess: ``approved`` must be
a JSON ``true`` or ``false`` (``"false"`` is refused, where ``bool("false")`` would approve),
unknown fields are refused (a misspelt ``aproved`` must not silently mean "no field"), every
required field must be there, and the action must decode under the strict codec.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from autoinfra.core.errors import ConfigError

__all__ = [
    "HEADER",
    "Answered",
    "Asked",
    "Closed",
    "Event",
    "Executed",
    "Expired",
    "dump_event",
    "parse_event",
]

# the first line of every log: names the format, so an old whole-file queue is refused clearly
HEADER = {"format": "autoinfra-approvals", "version": 2}


class _Event(BaseModel):
    # strict: no "1" for 1, no "false" for False; forbid: no field we do not know
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    request_id: str = Field(min_length=1, max_length=256)
    at_s: float = Field(allow_inf_nan=False)


class Asked(_Event):
    event: Literal["asked"] = "asked"
    agent: str
    action: dict[str, Any]  # decoded by core.action_codec, which knows the closed action set
    reason: str
    risk: float
    expected_effect: str = ""
    expires_at_s: float = Field(allow_inf_nan=False)
    priority: int = 0
    confidence: float | None = None


class Answered(_Event):
    event: Literal["answered"] = "answered"
    approved: bool
    by: str = Field(min_length=1)
    why: str


class Expired(_Event):
    event: Literal["expired"] = "expired"
    why: str


class Executed(_Event):
    event: Literal["executed"] = "executed"
    phase: Literal["intent", "done"]
    succeeded: bool | None = None  # done: what the actuator said; None: not known (see runtime)
    detail: str = ""


class Closed(_Event):
    event: Literal["closed"] = "closed"
    status: str
    why: str


Event = Annotated[Asked | Answered | Expired | Executed | Closed, Field(discriminator="event")]
_ADAPTER: TypeAdapter[Asked | Answered | Expired | Executed | Closed] = TypeAdapter(Event)


def _where(error: dict[str, Any]) -> str:
    loc = ".".join(str(p) for p in error.get("loc", ()) if p not in _TAGS)
    return f"field {loc!r}: " if loc else ""


_TAGS = {"asked", "answered", "expired", "executed", "closed"}


def parse_event(
    line: bytes, *, lineno: int, source: str
) -> Asked | Answered | Expired | Executed | Closed:
    """One line of the log to its event; a ConfigError naming ``source`` and ``lineno`` if not."""
    try:
        raw = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"line {lineno}: not JSON ({exc})", source=source) from None
    try:
        return _ADAPTER.validate_python(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        got = "" if first["type"] == "missing" else f" (got {first.get('input')!r})"
        raise ConfigError(
            f"line {lineno}: {_where(dict(first))}{first['msg']}{got}"[:500], source=source
        ) from None


def dump_event(event: Asked | Answered | Expired | Executed | Closed) -> bytes:
    """The line stored for ``event`` (compact JSON and a newline)."""
    return (json.dumps(event.model_dump(mode="json"), separators=(",", ":")) + "\n").encode()
