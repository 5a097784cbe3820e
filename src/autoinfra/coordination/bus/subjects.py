"""Subject names on the bus: one hierarchy per region and cell.

``autoinfra.<region>.<cell>.<kind>``, for example ``autoinfra.eu-west.cell-a.finding``. A
subscriber names a pattern with NATS's wildcards: ``*`` matches one token, ``>`` the rest
(``autoinfra.eu-west.>`` is everything from one region). The in-process bus matches the same way,
so code tested on it behaves the same on NATS.
"""

from __future__ import annotations

import re

from autoinfra.core.errors import ConfigError

__all__ = ["KINDS", "matches", "subject"]

PREFIX = "autoinfra"
KINDS = ("finding", "proposal", "vote", "outcome", "offer", "shift")
_TOKEN = re.compile(r"^[a-z0-9-]{1,32}$")


def subject(region: str, cell: str, kind: str) -> str:
    for name, value in (("region", region), ("cell", cell)):
        if not _TOKEN.match(value):
            raise ConfigError(
                f"{name} {value!r} must be 1-32 of lowercase letters, digits and '-'", field=name
            )
    if kind not in KINDS:
        raise ConfigError(f"message kind {kind!r}; expected one of {KINDS}", field="kind")
    return f"{PREFIX}.{region}.{cell}.{kind}"


def matches(pattern: str, name: str) -> bool:
    """NATS subject matching: ``*`` is one token, a final ``>`` is one or more tokens."""
    want, have = pattern.split("."), name.split(".")
    for i, token in enumerate(want):
        if token == ">":
            return len(have) > i
        if i >= len(have) or (token != "*" and token != have[i]):
            return False
    return len(want) == len(have)
