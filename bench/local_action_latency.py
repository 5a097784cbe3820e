"""Agent decision to action applied, on the local backend (real processes), p50 and p99.

    PYTHONPATH=src .venv/bin/python bench/local_action_latency.py [--samples 20] [--json PATH]

Starts the local fleet (4 machines of half a core, 2 services; the load generator running),
then for each action kind times ``--samples`` actions from the moment an agent's decision is
handed to the actuator (``BackendActuator.submit``, what the runtime's executor does with an
approved proposal) to:

- **applied**: the actuator's ``poll`` has made the backend call and it returned (the replica
  process is started and has reported its port; the hog is SIGKILLed and reaped; the cordon is
  set), and
- **visible**: the effect shows in what monitoring sees: the new replica answers ``/health``; the
  machine's hog processes are gone from its process group; the observation shows the machine
  unschedulable.

Kinds: scale a service up by one (then back down, untimed), kill a CPU hog injected just before
(stress-ng in the machine's group), cordon a machine (then uncordon, untimed). Prints the figures
with the machine, writes JSON, and replaces the "Local action latency" section of
``bench/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import http.client
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from autoinfra.actuators.backend import BackendActuator
from autoinfra.backends.local import build
from autoinfra.backends.local.backend import LocalBackend
from autoinfra.core.actions import Action, KillProcess, ScaleService
from autoinfra.testing import InjectedFault
from machine import machine_info
from output import update_section, write_json

SECTION_START = "<!-- local-action-latency:start -->"
SECTION_END = "<!-- local-action-latency:end -->"


def _healthy(port: int) -> bool:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=0.5)
    try:
        conn.request("GET", "/health")
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


def _wait(cond: Callable[[], bool], timeout_s: float = 10.0) -> bool:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.002)
    return False


def _timed(
    act: BackendActuator, rid: str, action: Action, visible: Callable[[], bool]
) -> tuple[float, float]:
    t0 = time.perf_counter()
    act.submit(rid, action)
    outcomes = act.poll()
    t_applied = time.perf_counter()
    if any(not o.succeeded for o in outcomes):
        raise RuntimeError(f"{rid} failed: {[o.detail for o in outcomes]}")
    if not _wait(visible):
        raise RuntimeError(f"{rid}: the effect never showed")
    return (t_applied - t0) * 1000, (time.perf_counter() - t0) * 1000


def measure(samples: int) -> dict[str, Any]:
    b: LocalBackend = build(seed=0, scenario=None, options={
        "machines": 4, "services": 2, "replicas": 1, "max_replicas": 8, "duration_s": 600,
    })  # fmt: skip
    b.start()
    try:
        act = BackendActuator(b.writer, b.reader, b.clock)
        fleet = b.fleet
        assert fleet is not None
        out: dict[str, dict[str, list[float]]] = {}

        def record(kind: str, ms: tuple[float, float]) -> None:
            d = out.setdefault(kind, {"applied_ms": [], "visible_ms": []})
            d["applied_ms"].append(ms[0])
            d["visible_ms"].append(ms[1])

        for i in range(samples):
            before = {r.key for r in fleet.replicas_of(0)}

            def new_replica_healthy(before: set[str] = before) -> bool:
                new = [r for r in fleet.replicas_of(0) if r.key not in before]
                return bool(new) and _healthy(new[0].port)

            record("scale_up", _timed(act, f"up{i}", ScaleService(service=0, delta_replicas=1),
                                      new_replica_healthy))  # fmt: skip
            act.submit(f"down{i}", ScaleService(service=0, delta_replicas=-1))
            act.poll()

        for i in range(samples):
            m = i % 4
            b.inject(InjectedFault("cpu_hog", f"machine:{m}", duration_s=60, cpu_share=0.5))
            machine = fleet.machines[m]
            _wait(lambda machine=machine: bool(machine.unaccounted()))  # type: ignore[misc]
            record("kill_rogue", _timed(act, f"kill{i}", KillProcess(machine=m),
                                        lambda machine=machine: not machine.unaccounted()))  # type: ignore[misc]  # fmt: skip
            b.advance()

        for i in range(samples):
            m = i % 4
            t0 = time.perf_counter()
            b.writer.cordon(m, False, f"cordon{i}")
            t1 = time.perf_counter()
            _wait(lambda m=m: not bool(b.reader.observe().schedulable[m]))  # type: ignore[misc]
            record("cordon", ((t1 - t0) * 1000, (time.perf_counter() - t0) * 1000))
            b.writer.cordon(m, True, f"uncordon{i}")
        meta = b.observe().extra["meta"]
    finally:
        b.stop()

    figures: dict[str, Any] = {}
    for kind, d in out.items():
        figures[kind] = {
            f"{k.removesuffix('_ms')}_p{q}_ms": round(float(np.percentile(v, q)), 2)
            for k, v in d.items()
            for q in (50, 99)
        } | {"samples": len(d["applied_ms"])}
    return {"figures": figures, "backend_meta": meta}


def render(result: dict[str, Any]) -> str:
    m = result["machine"]
    lines = [
        SECTION_START,
        "## Local action latency (agent decision to action applied, real processes)",
        "",
        f"`PYTHONPATH=src python bench/local_action_latency.py --samples {result['samples']}` on "
        f"{m['cpu']} ({m['cores']} cores, load {m.get('load_average_1m')}); CPU limits through "
        f"{result['backend_meta']['cpu_limiter']}. From `BackendActuator.submit` to the backend "
        "call returning (applied) and to the effect showing in what monitoring sees (visible).",
        "",
        "| action | applied p50 ms | applied p99 ms | visible p50 ms | visible p99 ms | n |",
        "|---|---|---|---|---|---|",
    ]
    for kind, f in result["figures"].items():
        cells = [kind, f["applied_p50_ms"], f["applied_p99_ms"], f["visible_p50_ms"],
                 f["visible_p99_ms"], f["samples"]]  # fmt: skip
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    lines.append(SECTION_END)
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--samples", type=int, default=20)
    ap.add_argument("--json", type=Path, default=Path("out/local_action_latency.json"))
    ap.add_argument("--results", type=Path, default=Path(__file__).with_name("RESULTS.md"))
    ap.add_argument("--no-results", action="store_true", help="do not touch RESULTS.md")
    args = ap.parse_args(argv)
    result = measure(args.samples) | {"samples": args.samples, "machine": machine_info()}
    write_json(args.json, result)
    section = render(result)
    if not args.no_results:
        update_section(args.results, SECTION_START, SECTION_END, section)
    print(section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
