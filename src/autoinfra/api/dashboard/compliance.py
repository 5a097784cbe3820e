"""Compliance, read back from the record: did agents act within their scopes and limits, when were
they out of the loop, and did every override carry a justification.

Computed from the audit chain (the runtime's ``proposed``, ``verdict``, ``submitted``, ``denied``
events; the API's ``agent_paused`` / ``agent_resumed`` / ``override`` events) and the service's
agent and override lists, never from what the agents claim about themselves. The chain is read
from its newest record backwards up to ``max_records`` (a long run has many), and the page says
when it stopped early.

"Executed outside scope" counts actions that reached the executor although their kind or target
is outside the proposing agent's scope: it must be zero, since the runtime refuses such proposals
before the gate (those refusals are counted as "refused by scope"). "Safe mode" here means an
agent taken out of the loop by a person (paused or stopped) or a runtime event whose name starts
with ``safe_mode``; the runtime has no other safe mode.
"""

from __future__ import annotations

import fnmatch
from collections import Counter, defaultdict
from typing import Any

from autoinfra.api.service import ClusterService
from autoinfra.oversight.gate import GateSettings

__all__ = ["compliance_report"]

JSON = dict[str, Any]
_GUARDS = ("rate guard", "blast-radius guard", "headroom")


def _target(action: JSON) -> str:
    for key in ("machine", "service", "rack"):
        if key in action:
            return f"{key}:{action[key]}"
    return str(action.get("target", ""))


def _in_scope(scope: JSON, action: JSON) -> bool:
    kinds = set(scope.get("action_kinds", []))
    if "*" not in kinds and action.get("kind") not in kinds:
        return False
    target = _target(action)
    return any(fnmatch.fnmatchcase(target, pat) for pat in scope.get("targets", ["*"]))


def _limits(service: ClusterService) -> GateSettings:
    """The gate's settings if the service exposes its runtime (the simulated one does)."""
    gate = getattr(getattr(service, "runtime", None), "gate", None)
    settings = getattr(gate, "settings", None)
    return settings if isinstance(settings, GateSettings) else GateSettings()


def _over_limit(times: list[float], window_s: float, cap: int) -> int:
    """Most actions in any window of ``window_s`` above ``cap`` (0 when within the limit)."""
    times = sorted(times)
    worst, lo = 0, 0
    for hi, t in enumerate(times):
        while t - times[lo] >= window_s:
            lo += 1
        worst = max(worst, hi - lo + 1)
    return worst if worst > cap else 0


def read_chain(
    service: ClusterService, max_records: int, page: int = 1000
) -> tuple[list[JSON], int]:
    """The newest ``max_records`` records, oldest first, and the chain's total length."""
    total = int(service.audit(0, 1)["total"])
    start = max(0, total - max_records)
    out: list[JSON] = []
    offset = start
    while offset < total:
        chunk = service.audit(offset, min(page, total - offset))["entries"]
        if not chunk:
            break
        out.extend(chunk)
        offset += len(chunk)
    return out, total


def compliance_report(service: ClusterService, *, max_records: int = 50_000) -> JSON:
    records, total = read_chain(service, max_records)
    agents = service.agents()
    scopes = {a["agent_id"]: a.get("scope", {}) for a in agents}
    proposer: dict[str, tuple[str, JSON]] = {}
    proposed: Counter[str] = Counter()
    executed: Counter[str] = Counter()
    executed_at: dict[str, list[float]] = defaultdict(list)
    executed_on: dict[tuple[str, str], list[float]] = defaultdict(list)
    outside: Counter[str] = Counter()
    scope_refused: Counter[str] = Counter()
    guarded: Counter[str] = Counter()
    safe: list[JSON] = []
    open_spans: dict[str, JSON] = {}

    for r in records:
        event, data = r["event"], r.get("data", {})
        rid = str(data.get("request_id", ""))
        if event == "proposed":
            proposer[rid] = (r["actor"], dict(data.get("action", {})))
            proposed[r["actor"]] += 1
        elif event == "submitted" and rid in proposer:
            agent, action = proposer[rid]
            executed[agent] += 1
            executed_at[agent].append(float(r["at_s"]))
            executed_on[(agent, _target(action))].append(float(r["at_s"]))
            if agent in scopes and not _in_scope(scopes[agent], action):
                outside[agent] += 1
        elif event in ("rejected", "denied") and rid in proposer:
            why = str(data.get("why", ""))
            agent = proposer[rid][0]
            if "permission denied" in why:
                scope_refused[agent] += 1
        elif event == "verdict" and rid in proposer:
            reason = str(data.get("reason", ""))
            if data.get("decision") == "reject" and any(g in reason for g in _GUARDS):
                guarded[proposer[rid][0]] += 1
        elif event in ("agent_paused", "agent_resumed") or event.startswith("safe_mode"):
            agent = str(data.get("agent", data.get("agent_id", "runtime")))
            starts = event == "agent_paused" or event in ("safe_mode", "safe_mode_entered")
            if starts and agent not in open_spans:
                span = {"agent": agent, "from_s": r["at_s"], "to_s": None, "by": r["actor"],
                        "why": str(data.get("why", data.get("reason", "")))}  # fmt: skip
                open_spans[agent] = span
                safe.append(span)
            elif not starts and agent in open_spans:
                open_spans.pop(agent)["to_s"] = r["at_s"]

    overrides = service.overrides(1000)
    by_kind: dict[str, list[JSON]] = defaultdict(list)
    for o in overrides:
        by_kind[str(o.get("kind"))].append(o)
    override_rows: list[JSON] = []
    unjustified = 0
    for kind, rows in sorted(by_kind.items()):
        justified = sum(1 for o in rows if len(str(o.get("justification", "")).strip()) >= 5)
        unjustified += len(rows) - justified
        override_rows.append({"kind": kind, "count": len(rows), "justified": justified})
    agent_rows = [
        {
            "agent": a["agent_id"],
            "kinds": sorted(a.get("scope", {}).get("action_kinds", [])),
            "proposed": proposed[a["agent_id"]],
            "executed": executed[a["agent_id"]],
            "outside": outside[a["agent_id"]],
            "scope_refused": scope_refused[a["agent_id"]],
            "guarded": guarded[a["agent_id"]],
        }
        for a in agents
    ]
    limits = _limits(service)
    status = service.status()
    size = int(status.get("machines", {}).get("total", 0)) + int(status.get("services", 0))
    cap = max(limits.max_actions_per_agent, int(limits.max_actions_share * size))
    breaches = [
        f"{agent}: {n} in {limits.window_s:g} s (limit {cap})"
        for agent, times in executed_at.items()
        if (n := _over_limit(times, limits.window_s, cap))
    ] + [
        f"{agent} on {target}: {n} (limit {limits.max_actions_per_target})"
        for (agent, target), times in executed_on.items()
        if (n := _over_limit(times, limits.window_s, limits.max_actions_per_target))
    ]
    chain = service.verify_audit()
    n_outside = sum(outside.values())
    checks = [
        {"name": "Audit chain", "ok": bool(chain.get("valid")),
         "detail": f"{chain.get('records')} records verified" if chain.get("valid")
         else f"broken at record {chain.get('first_invalid')}"},
        {"name": "Within scope", "ok": n_outside == 0,
         "detail": f"{sum(executed.values())} executed, {n_outside} outside scope, "
                   f"{sum(scope_refused.values())} refused"},
        {"name": "Within limits", "ok": not breaches,
         "detail": "; ".join(breaches[:3]) if breaches else
         f"no window over the rate limits; {sum(guarded.values())} held by the gate's guards"},
        {"name": "Overrides justified", "ok": unjustified == 0,
         "detail": f"{len(overrides)} overrides, {unjustified} without a justification"},
        {"name": "Out of the loop", "ok": None,
         "detail": f"{len(safe)} safe-mode periods, {len(open_spans)} still open"},
    ]  # fmt: skip
    return {
        "records_checked": len(records),
        "records_total": total,
        "truncated": len(records) < total,
        "checks": checks,
        "agents": agent_rows,
        "safe_mode": safe,
        "overrides": override_rows,
        "limit_breaches": breaches,
    }
