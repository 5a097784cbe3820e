"""Kubernetes resource quantities, read (``"250m"``, ``"64Mi"``) and written from our units.

The observation normalises CPU and memory by the largest node's allocatable
(``ClusterState.norms``); right-sizing proposes requests in those units. ``template_requests``
turns one replica's normalised requests back into the quantities of each container of its pod
template: CPU in whole millicores (the API refuses finer), memory in whole Mi (finer than any step
right-sizing makes: its smallest change is 10 %), each at least 1, because a zero request is no
request at all to the scheduler. A pod's request is the sum over its containers, so a resize
splits the total in proportion to what the containers request now, in whole units that add up
to the total; the observation then reads the total back.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

__all__ = ["above_limit", "cpu_cores", "mem_bytes", "template_requests"]

_SUFFIX = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 1e3, "M": 1e6, "G": 1e9}
_MI = 2**20


def cpu_cores(q: str | None) -> float:
    if not q:
        return 0.0
    q = str(q)
    return float(q[:-1]) / 1000 if q.endswith("m") else float(q)


def mem_bytes(q: str | None) -> float:
    if not q:
        return 0.0
    q = str(q)
    for suf, mult in _SUFFIX.items():
        if q.endswith(suf):
            return float(q[: -len(suf)]) * mult
    return float(q)


def _request(container: Any, what: str) -> str | None:
    res = container.resources
    return ((res.requests if res is not None else None) or {}).get(what)


def above_limit(container: Any, cpu: str, mem: str) -> str:
    """What of the requests ``cpu`` / ``mem`` is above the container's limit ("" if none is):
    the API server refuses a request above a limit, and a resize does not move limits."""
    res = container.resources
    limits = (res.limits if res is not None else None) or {}
    for what, asked, parse in (("cpu", cpu, cpu_cores), ("memory", mem, mem_bytes)):
        if what in limits and parse(asked) > parse(limits[what]):
            return f"a {what} request of {asked} is above its limit {limits[what]}"
    return ""


def _split(total: int, now: Sequence[float]) -> list[int]:
    """``total`` whole units over containers in proportion to ``now`` (equally when nothing is
    requested), largest remainders first, each at least 1 (so ``max(total, n)`` in all)."""
    n = len(now)
    total = max(total, n)
    weight = float(sum(now))
    exact = [total * x / weight for x in now] if weight > 0 else [total / n] * n
    whole = [max(1, math.floor(x)) for x in exact]
    short = total - sum(whole)
    for i in sorted(range(n), key=lambda i: whole[i] - exact[i])[: max(short, 0)]:
        whole[i] += 1
    return whole


def template_requests(
    containers: Sequence[Any], cpu_request: float, mem_request: float, norm_cpu: float,
    norm_mem: float,
) -> tuple[list[str], list[str]]:  # fmt: skip
    """Each container's CPU and memory request quantities for one replica asking
    ``cpu_request`` / ``mem_request`` (normalised by ``norm_cpu`` cores / ``norm_mem`` bytes)."""
    millis = _split(round(cpu_request * norm_cpu * 1000),
                    [cpu_cores(_request(c, "cpu")) for c in containers])  # fmt: skip
    mebis = _split(round(mem_request * norm_mem / _MI),
                   [mem_bytes(_request(c, "memory")) for c in containers])  # fmt: skip
    return [f"{m}m" for m in millis], [f"{m}Mi" for m in mebis]
