"""The conformance suite: what every backend behind ``core.cluster`` must do, as test functions.

Each check takes a ``BackendFactory`` (a callable returning a fresh, not yet started backend) and
raises ``AssertionError`` when the backend breaks the seam's promise. ``CHECKS`` lists them all;
a test module parametrises over backends and checks (see ``tests/backends/test_conformance.py``)::

    @pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
    @pytest.mark.parametrize("factory", [sim_factory, fake_factory], ids=["sim", "fake"])
    def test_conformance(factory, check):
        check(factory)

Real clusters change eventually, not at once: every effect is awaited with ``eventually``, which
calls ``advance()`` until the condition holds or ``timeout_s`` of wall time (and ``max_advances``
calls) have passed. A backend whose actions need longer sets ``SETTLE`` on its factory
(``factory.settle_timeout_s``).

What is checked: the observation's shape and internal consistency; the clock is monotonic and the
reader's ``now_s`` agrees with it; each write has its effect (scale, cordon and uncordon, drain,
power off and on, evict a failed machine's tasks, kill a rogue process, isolate, reroute);
idempotency of the actuator by request id; errors (an ``AutoinfraError``, never silence) on
impossible actions; and the fault ground truth (detection matched to the injected target, rows
with ``FAULT_COLUMNS``).
"""

from __future__ import annotations

import contextlib
import itertools
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from autoinfra.core.actions import ScaleService
from autoinfra.core.cluster import FAULT_COLUMNS, Backend, RouteRestoring
from autoinfra.core.errors import AutoinfraError
from autoinfra.core.observation import MachineState, Observation

__all__ = ["CHECKS", "BackendFactory", "InjectedFault", "eventually", "running"]

BackendFactory = Callable[[], Backend]


@dataclass(frozen=True, slots=True)
class InjectedFault:
    """A fault to inject now (the shape of ``faults.FaultSpec`` without importing it)."""

    kind: str
    target: str
    at_s: float = 0.0
    duration_s: float | None = None
    cpu_share: float = 1.0
    egress_mbps: float = 800.0
    load: float = 1.5


@contextlib.contextmanager
def running(factory: BackendFactory) -> Iterator[Backend]:
    backend = factory()
    backend.start()
    try:
        backend.advance()
        yield backend
    finally:
        backend.stop()


def eventually(
    backend: Backend,
    condition: Callable[[], bool],
    what: str,
    *,
    timeout_s: float = 20.0,
    max_advances: int = 400,
) -> None:
    """Advance ``backend`` until ``condition()`` holds; fail naming ``what`` otherwise."""
    deadline = time.monotonic() + timeout_s
    for _ in range(max_advances):
        if condition():
            return
        if time.monotonic() > deadline:
            break
        backend.advance()
        time.sleep(0.01)  # a real cluster moves by itself; give it the CPU
    assert condition(), f"{backend.name}: {what} did not happen within {timeout_s:g} s"


def _settle(factory: BackendFactory) -> float:
    return float(getattr(factory, "settle_timeout_s", 20.0))


def _obs(b: Backend) -> Observation:
    return b.reader.observe()


def _busy_machine(obs: Observation) -> int:
    ok = (obs.machine_state == MachineState.ON) & obs.schedulable & (obs.tasks_running > 0)
    idx = np.flatnonzero(ok)
    assert idx.size, "the backend should start with at least one ON machine that runs tasks"
    return int(idx[np.argmax(obs.tasks_running[idx])])


def _on_machines(obs: Observation) -> np.ndarray:
    return np.flatnonzero((obs.machine_state == MachineState.ON) & obs.schedulable)


def _raises(fn: Callable[[], Any], what: str) -> None:
    try:
        fn()
    except AutoinfraError as exc:
        assert str(exc), f"{what}: the error should say what was wrong"
        return
    raise AssertionError(f"{what}: expected an AutoinfraError, nothing was raised")


# -- checks -------------------------------------------------------------------------------------
def check_observe_shape(factory: BackendFactory) -> None:
    with running(factory) as b:
        obs = _obs(b)
        n = obs.n_machines
        assert n >= 2, "a cluster of at least two machines"
        for name in (
            "machine_state",
            "schedulable",
            "cpu_capacity",
            "mem_capacity",
            "cpu_requested",
            "mem_requested",
            "cpu_used",
            "mem_used",
            "cpu_throttled_share",
            "tasks_running",
            "heartbeat_age_s",
            "egress_mbps",
            "rack",
        ):
            assert getattr(obs, name).shape == (n,), f"{name} has one entry per machine"
        k = obs.service_ids.shape[0]
        for name in (
            "service_replicas",
            "service_running",
            "service_cpu_request",
            "service_cpu_used",
            "service_min_replicas",
        ):
            assert getattr(obs, name).shape == (k,), f"{name} has one entry per service"
        assert obs.link_rack.shape == obs.link_utilization.shape
        assert not np.any(obs.machine_state == MachineState.FAILED), "FAILED is never reported"
        assert set(np.unique(obs.machine_state)) <= {int(s) for s in MachineState}
        assert not np.any(obs.schedulable & (obs.machine_state != MachineState.ON)), (
            "only ON machines are schedulable"
        )
        assert np.all(obs.tasks_running >= 0) and np.all(obs.cpu_capacity >= 0)
        assert np.all(obs.heartbeat_age_s >= 0)
        assert obs.link_rack.size == 0 or int(obs.link_rack.max()) <= int(obs.rack.max())
        assert obs.pending_tasks >= 0 and math.isfinite(obs.power_w)
        assert abs(obs.time_s - b.reader.now_s) <= 5.0 + 1e-6, "observation time is the reader's"
        assert len(set(obs.machine_ids.tolist())) == n, "machine ids are distinct"


def check_clock_monotonic(factory: BackendFactory) -> None:
    with running(factory) as b:
        seen = [b.clock.now_s()]
        for _ in range(5):
            b.advance()
            seen.append(b.clock.now_s())
            assert abs(b.reader.now_s - seen[-1]) < 5.0 + 1e-6, "reader and clock agree"
        assert all(x <= y for x, y in itertools.pairwise(seen)), f"went back: {seen}"
        assert seen[-1] > seen[0], "the clock moves"
        assert isinstance(b.done, bool)


def check_scale_service(factory: BackendFactory) -> None:
    with running(factory) as b:
        obs = _obs(b)
        assert obs.service_ids.shape[0] > 0, "at least one service to scale"
        want = int(obs.service_replicas[0]) + 1
        b.writer.set_service_replicas(0, want, "conformance-scale")
        eventually(
            b,
            lambda: int(_obs(b).service_replicas[0]) == want,
            "scale up",
            timeout_s=_settle(factory),
        )
        b.writer.set_service_replicas(0, want, "conformance-scale-again")  # same value: no-op
        assert int(_obs(b).service_replicas[0]) == want
        _raises(
            lambda: b.writer.set_service_replicas(obs.service_ids.shape[0] + 5, 1, "x"),
            "scaling a service that does not exist",
        )


def check_cordon(factory: BackendFactory) -> None:
    with running(factory) as b:
        m = int(_on_machines(_obs(b))[0])
        b.writer.cordon(m, False, "conformance-cordon")
        eventually(
            b, lambda: not bool(_obs(b).schedulable[m]), "cordon", timeout_s=_settle(factory)
        )
        b.writer.cordon(m, True, "conformance-uncordon")
        eventually(b, lambda: bool(_obs(b).schedulable[m]), "uncordon", timeout_s=_settle(factory))


def check_drain_and_power(factory: BackendFactory) -> None:
    with running(factory) as b:
        m = _busy_machine(_obs(b))
        _raises(lambda: b.writer.power_off(m, "x"), "power off of a busy machine")
        _raises(lambda: b.writer.power_on(m, "x"), "power on of a machine that is ON")
        b.writer.drain(m, "conformance-drain")
        eventually(
            b,
            lambda: b.writer.machine_task_count(m) == 0,
            "drain empties the machine",
            timeout_s=_settle(factory),
        )
        assert not bool(_obs(b).schedulable[m]), "a drained machine is not schedulable"
        b.writer.power_off(m, "conformance-off")
        eventually(
            b,
            lambda: b.writer.machine_state(m) == MachineState.OFF,
            "power off",
            timeout_s=_settle(factory),
        )
        b.writer.power_on(m, "conformance-on")
        eventually(
            b,
            lambda: b.writer.machine_state(m) == MachineState.ON,
            "power on (boot)",
            timeout_s=_settle(factory) * 3,
            max_advances=1000,
        )


def check_node_failure(factory: BackendFactory) -> None:
    with running(factory) as b:
        m = _busy_machine(_obs(b))
        healthy = int(next(i for i in _on_machines(_obs(b)) if i != m))
        _raises(lambda: b.writer.evict_stranded(healthy, "x"), "evicting a healthy machine")
        target = b.inject(InjectedFault("node_failure", f"machine:{m}"))
        assert target == f"machine:{m}", f"inject returns the target it hit, got {target!r}"
        eventually(
            b,
            lambda: b.writer.machine_state(m) == MachineState.FAILED,
            "failure",
            timeout_s=_settle(factory),
        )
        eventually(
            b,
            lambda: float(_obs(b).heartbeat_age_s[m]) > 0,
            "heartbeats stop",
            timeout_s=_settle(factory),
        )
        assert int(_obs(b).machine_state[m]) != MachineState.FAILED, "reported as last known"
        assert b.record_detection(f"machine:{m}", "conformance", "node_failure")
        assert not b.record_detection(f"machine:{healthy}", "conformance", "node_failure")
        b.writer.evict_stranded(m, "conformance-evict")
        eventually(
            b,
            lambda: b.writer.machine_task_count(m) == 0,
            "stranded tasks evicted",
            timeout_s=_settle(factory),
        )
        rows = list(b.fault_rows())
        assert rows and all(tuple(r) == FAULT_COLUMNS for r in rows), "rows in FAULT_COLUMNS"
        row = next(r for r in rows if r["target"] == f"machine:{m}")
        assert row["kind"] == "node_failure" and not math.isnan(row["detected_s"])
        assert row["mitigated_by"] == "conformance-evict", row


def _quiet_machine(b: Backend, factory: BackendFactory, below: float) -> tuple[int, float]:
    """An ON machine whose CPU has settled ``below`` a share of it, and its CPU then.

    A real machine is busy for seconds after a start (its processes import and warm up), and a
    baseline taken then hides a hog under the machine's limit; so wait until one is quiet.
    """
    found: list[tuple[int, float]] = []

    def settled() -> bool:
        obs = _obs(b)
        on = _on_machines(obs)
        if on.size:
            m = int(on[np.argmin(obs.cpu_used[on])])
            # judged on the fleet's median (the quietest machine is below it): during a start
            # one machine can read 0 between two clock ticks while the fleet is still busy
            if float(np.median(obs.cpu_used[on])) <= below:
                found[:] = [(m, float(obs.cpu_used[m]))]
        return bool(found)

    eventually(b, settled, f"an ON machine below {below:g} CPU", timeout_s=_settle(factory))
    return found[0]


def check_kill_rogue(factory: BackendFactory) -> None:
    share = 0.5
    with running(factory) as b:
        m, before = _quiet_machine(b, factory, below=share / 2)
        _raises(lambda: b.writer.kill_rogue(m, "x"), "killing a rogue process that is not there")
        # 0.4 of the hog's share: above a quiet machine's noise (the local backend measures in
        # clock ticks, 0.08 of a machine), below what a duty-cycled, throttled hog reaches
        shows = before + share * 0.4
        b.inject(InjectedFault("cpu_hog", f"machine:{m}", cpu_share=share))
        eventually(
            b,
            lambda: float(_obs(b).cpu_used[m]) > shows,
            f"the hog shows as CPU (above {shows:.2f})",
            timeout_s=_settle(factory),
        )
        assert b.record_detection(f"machine:{m}", "conformance", "cpu_hog")
        b.writer.kill_rogue(m, "conformance-kill")
        eventually(
            b,
            lambda: float(_obs(b).cpu_used[m]) < shows,
            f"the hog is gone (CPU below {shows:.2f})",
            timeout_s=_settle(factory),
        )
        row = next(r for r in b.fault_rows() if r["target"] == f"machine:{m}")
        assert row["mitigated_op"] == "kill_rogue", row


def check_isolate(factory: BackendFactory) -> None:
    with running(factory) as b:
        m = _busy_machine(_obs(b))
        b.inject(InjectedFault("intrusion", f"machine:{m}", cpu_share=0.25, egress_mbps=800.0))
        eventually(
            b,
            lambda: float(_obs(b).egress_mbps[m]) >= 400.0,
            "unusual egress shows",
            timeout_s=_settle(factory),
        )
        b.writer.isolate(m, "conformance-isolate")
        eventually(
            b,
            lambda: b.writer.machine_task_count(m) == 0 and float(_obs(b).egress_mbps[m]) < 400.0,
            "isolation",
            timeout_s=_settle(factory),
        )
        assert not bool(_obs(b).schedulable[m])


def check_reroute(factory: BackendFactory) -> None:
    with running(factory) as b:
        obs = _obs(b)
        assert obs.link_rack.size > 0, "at least one uplink"
        racks, counts = np.unique(obs.link_rack, return_counts=True)
        _raises(lambda: b.writer.reroute(int(racks.max()) + 7, 0, "x"), "reroute of no rack")
        if not np.any(counts >= 2):
            _raises(lambda: b.writer.reroute(int(obs.link_rack[0]), 0, "x"), "single uplink")
            return
        rack = int(racks[np.argmax(counts >= 2)])
        link = int(np.flatnonzero(obs.link_rack == rack)[0])
        wrong = np.flatnonzero(obs.link_rack != rack)
        if wrong.size:
            _raises(lambda: b.writer.reroute(rack, int(wrong[0]), "x"), "link of another rack")
        b.inject(InjectedFault("network_congestion", f"link:{link}", load=1.5))
        eventually(
            b,
            lambda: float(_obs(b).link_utilization[link]) > 1.0,
            "congestion shows",
            timeout_s=_settle(factory),
        )
        assert b.record_detection(f"link:{link}", "conformance", "network_congestion")
        b.writer.reroute(rack, link, "conformance-reroute")
        eventually(
            b,
            lambda: any(
                r["target"] == f"link:{link}" and r["mitigated_op"] == "reroute"
                for r in b.fault_rows()
            ),
            "reroute mitigates",
            timeout_s=_settle(factory),
        )


def check_restore_routes(factory: BackendFactory) -> None:
    """A writer that can restore a rack's equal split (optional: ``core.cluster.RouteRestoring``)
    refuses a rack it does not have and, after a reroute, splits the rack's traffic equally
    again: with no background load, its uplinks carry the same."""
    with running(factory) as b:
        w = b.writer
        if not isinstance(w, RouteRestoring):
            return  # Kubernetes' writer has none: the actuator refuses the action
        obs = _obs(b)
        assert obs.link_rack.size > 0, "at least one uplink"
        racks, counts = np.unique(obs.link_rack, return_counts=True)
        _raises(lambda: w.restore_routes(int(racks.max()) + 7, "x"), "restore of no rack")
        if not np.any(counts >= 2):
            return
        rack = int(racks[np.argmax(counts >= 2)])
        links = np.flatnonzero(obs.link_rack == rack)

        def split() -> tuple[float, float]:
            u = _obs(b).link_utilization[links].astype(float)
            return float(u.min()), float(u.max())

        # the reroute must show first (one uplink carrying the rack, one not), or an equal split
        # afterwards would prove nothing
        b.writer.reroute(rack, int(links[0]), "conformance-away")
        eventually(
            b,
            lambda: split()[1] > 0 and split()[0] <= 0.5 * split()[1],
            "the reroute shows in the links' utilisation",
            timeout_s=_settle(factory),
        )
        w.restore_routes(rack, "conformance-back")
        eventually(
            b,
            lambda: split()[1] - split()[0] <= 0.2 * split()[1],
            "an equal split after restore_routes",
            timeout_s=_settle(factory),
        )


def check_actuator_idempotent(factory: BackendFactory) -> None:
    from autoinfra.actuators.backend import BackendActuator

    with running(factory) as b:
        act = BackendActuator(b.writer, b.reader, b.clock)
        start = int(_obs(b).service_replicas[0])
        act.submit("conformance-once", ScaleService(service=0, delta_replicas=1))
        act.submit("conformance-once", ScaleService(service=0, delta_replicas=1))
        outcomes = act.poll()
        outcomes += act.poll()
        assert [o.request_id for o in outcomes] == ["conformance-once"], outcomes
        assert len(act.applied) == 1
        eventually(
            b,
            lambda: int(_obs(b).service_replicas[0]) == start + 1,
            "one step, not two",
            timeout_s=_settle(factory),
        )


def check_errors_on_impossible(factory: BackendFactory) -> None:
    with running(factory) as b:
        n = _obs(b).n_machines
        w = b.writer
        for name, call in (
            ("power_on", lambda: w.power_on(n + 3, "x")),
            ("power_off", lambda: w.power_off(n + 3, "x")),
            ("cordon", lambda: w.cordon(n + 3, False, "x")),
            ("drain", lambda: w.drain(n + 3, "x")),
            ("evict_stranded", lambda: w.evict_stranded(n + 3, "x")),
            ("kill_rogue", lambda: w.kill_rogue(n + 3, "x")),
            ("isolate", lambda: w.isolate(n + 3, "x")),
            ("machine_state", lambda: w.machine_state(n + 3)),
            ("machine_task_count", lambda: w.machine_task_count(-1 - n)),
            ("set_service_replicas", lambda: w.set_service_replicas(0, -1, "x")),
        ):
            _raises(call, f"{name} on an impossible target")


CHECKS: tuple[Callable[[BackendFactory], None], ...] = (
    check_observe_shape,
    check_clock_monotonic,
    check_scale_service,
    check_cordon,
    check_drain_and_power,
    check_node_failure,
    check_kill_rogue,
    check_isolate,
    check_reroute,
    check_restore_routes,
    check_actuator_idempotent,
    check_errors_on_impossible,
)
