"""Rendering the dashboard's pages: one Jinja2 environment, autoescaped, with the filters they use.

Autoescaping is on for every template (``autoescape=True``, not by file extension), so text from
agents, incidents and people is always escaped. Templates never contain a script: each page names
the static JavaScript files it needs, which the Content-Security-Policy (``script-src 'self'``)
allows and nothing else.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader

__all__ = ["NAV", "TEMPLATES_DIR", "environment"]

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"

# (path, label) of every page, in the order of the side bar
NAV: tuple[tuple[str, str], ...] = (
    ("/ui/", "Overview"),
    ("/ui/approvals", "Approvals"),
    ("/ui/incidents", "Incidents"),
    ("/ui/agents", "Agents"),
    ("/ui/overrides", "Overrides"),
    ("/ui/audit", "Audit chain"),
    ("/ui/compliance", "Compliance"),
)


def _clock(seconds: Any) -> str:
    """Cluster seconds as h:mm:ss (the simulator's clock starts at the trace's start)."""
    try:
        s = float(seconds)
    except (TypeError, ValueError):
        return "—"
    if not math.isfinite(s):
        return "—"
    sign, s = ("-" if s < 0 else ""), abs(s)
    return f"{sign}{int(s // 3600)}:{int(s % 3600 // 60):02d}:{int(s % 60):02d}"


def _dur(seconds: Any) -> str:
    try:
        s = float(seconds)
    except (TypeError, ValueError):
        return "—"
    if s < 0:
        return "expired"
    if s < 90:
        return f"{s:.0f} s"
    if s < 5400:
        return f"{s / 60:.0f} min"
    return f"{s / 3600:.1f} h"


def _pct(value: Any) -> str:
    try:
        return f"{100 * float(value):.0f}%"
    except (TypeError, ValueError):
        return "—"


def _kw(watts: Any) -> str:
    try:
        return f"{float(watts) / 1000:.1f} kW"
    except (TypeError, ValueError):
        return "—"


def _target(action: Any) -> str:
    """The target of an action dict (``{"kind": "drain_machine", "machine": 3}`` -> machine:3)."""
    if not isinstance(action, dict):
        return "?"
    for key in ("machine", "service", "rack"):
        if key in action:
            return f"{key}:{action[key]}"
    return str(action.get("target", "?"))


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    text = str(value)
    return text if len(text) <= 40 else text[:39] + "…"


_STATUS_CLASS = {
    "succeeded": "ok",
    "approved": "ok",
    "running": "ok",
    "outcome": "ok",
    "recovered": "ok",
    "mitigated": "ok",
    "failed": "bad",
    "rejected": "bad",
    "denied": "bad",
    "stopped": "bad",
    "expired": "bad",
    "rolled_back": "warn",
    "paused": "warn",
    "awaiting_approval": "warn",
    "vote": "warn",
    "override": "warn",
    "escalated": "warn",
}


def _status_class(status: Any) -> str:
    return _STATUS_CLASS.get(str(status), "")


def _pretty(value: Any) -> str:
    # one line per record: the audit table stays scannable; the cell scrolls when it is long
    return json.dumps(value, sort_keys=True, separators=(", ", ": "), default=str)


def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        clock=_clock, dur=_dur, pct=_pct, kw=_kw, target=_target, short=_short,
        status_class=_status_class, tojson_pretty=_pretty,
    )  # fmt: skip
    env.globals.update(nav=NAV, static=lambda name: f"/static/{name}", api="/api/v1")
    return env
