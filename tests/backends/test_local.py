"""The local backend beyond the conformance suite: nothing outlives it, ids apply once, refusals."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from autoinfra.backends.local import build
from autoinfra.backends.local.config import LocalSettings
from autoinfra.core.errors import ActionError, ConfigError
from autoinfra.testing import InjectedFault
from tests.backends.local_factory import WHY_NOT, local_factory

pytestmark = pytest.mark.skipif(bool(WHY_NOT), reason=WHY_NOT or "ok")

SRC = str(Path(__file__).resolve().parents[2] / "src")


def _descendants() -> list[psutil.Process]:
    return [p for p in psutil.Process().children(recursive=True) if p.status() != "zombie"]


def test_stop_leaves_no_process_namespace_or_cgroup() -> None:
    b = local_factory()
    b.start()
    try:
        b.inject(InjectedFault("cpu_hog", "machine:1", cpu_share=0.5))
        assert len(_descendants()) >= 4 + 4  # supervisors, replicas, hog, link traffic
        run = b.run_id
        limiter = b.limiter
    finally:
        b.stop()
    assert _descendants() == []
    ns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert f"ait{run}" not in ns
    if limiter is not None and limiter.root is not None:
        assert not limiter.root.exists()
    b.stop()  # idempotent


def test_kill_9_of_the_controller_takes_the_fleet_down(tmp_path: Path) -> None:
    # a controller process starts a fleet, prints its pids, then is killed with SIGKILL: no Python
    # handler runs, so only the kernel's parent-death signal and the deadlines can clean up
    script = tmp_path / "controller.py"
    script.write_text(
        "import json, sys, time\n"
        "from autoinfra.backends.local import build\n"
        "from autoinfra.testing import InjectedFault\n"
        "b = build(seed=0, scenario=None, options={'machines': 2, 'racks': 1, 'services': 1,"
        " 'network': False, 'duration_s': 60})\n"
        "b.start()\n"
        "b.inject(InjectedFault('cpu_hog', 'machine:0', duration_s=60))\n"
        "time.sleep(1.0)\n"  # stress-ng has forked its worker: a grandchild of the supervisor
        "print(json.dumps([p.pid for m in b.fleet.machines for p in m.members()]"
        " + b.procs.pids), flush=True)\n"
        "time.sleep(60)\n"
    )
    env = {**os.environ, "PYTHONPATH": SRC}
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, env=env)
    try:
        assert proc.stdout is not None
        pids = json.loads(proc.stdout.readline())
        assert len(pids) >= 6  # 2 supervisors, replicas, stress-ng and its worker
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        end = time.monotonic() + 10
        while time.monotonic() < end and any(psutil.pid_exists(p) for p in pids):
            time.sleep(0.1)
        alive = [p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != "zombie"]
        assert alive == [], f"processes outlived the controller: {alive}"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def test_request_ids_apply_once_even_after_a_restart(tmp_path: Path) -> None:
    journal = tmp_path / "writer.jsonl"
    opts = {"machines": 2, "racks": 1, "services": 1, "network": False, "duration_s": 60,
            "journal": str(journal)}  # fmt: skip
    b = build(seed=0, scenario=None, options=opts)
    b.start()
    try:
        b.writer.set_service_replicas(0, 3, "req-1")
        b.writer.set_service_replicas(0, 3, "req-1")
        assert len(b.fleet.replicas_of(0)) == 3  # type: ignore[union-attr]
        b.writer.set_service_replicas(0, 1, "req-2")
        b.writer.set_service_replicas(0, 4, "req-1")  # an old id again: no-op, not 4
        assert len(b.fleet.replicas_of(0)) == 1  # type: ignore[union-attr]
    finally:
        b.stop()
    rows = [json.loads(line) for line in journal.read_text().splitlines()]
    assert [(r["by"], r["op"]) for r in rows] == [("req-1", "set_service_replicas"),
                                                 ("req-2", "set_service_replicas")]  # fmt: skip
    again = build(seed=0, scenario=None, options=opts)
    again.start()
    try:
        again.writer.set_service_replicas(0, 4, "req-2")  # applied by the last run
        assert len(again.fleet.replicas_of(0)) == 2  # type: ignore[union-attr]
    finally:
        again.stop()


def test_observation_says_which_limiter_and_congestion_is_refused_without_a_lab() -> None:
    b = build(seed=0, scenario=None,
              options={"machines": 2, "racks": 1, "services": 1, "network": False,
                       "duration_s": 60})  # fmt: skip
    b.start()
    try:
        meta = b.observe().extra["meta"]
        assert meta["cpu_limiter"] in ("cgroup-v2", "cgroup-v1", "psutil")  # type: ignore[index]
        assert meta["cpu_limiter_why"]  # type: ignore[index]
        assert b.inject(InjectedFault("network_congestion", "random")) == ""
        assert "disabled" in b.skipped_faults[0]["why"]
        with pytest.raises(ActionError, match="network lab"):
            b.writer.reroute(0, 0, "r")
    finally:
        b.stop()


def test_bad_options_are_one_line_errors() -> None:
    with pytest.raises(ConfigError, match=r"'backend_options\.machiens': unknown key"):
        build(seed=0, scenario=None, options={"machiens": 3})
    with pytest.raises(ConfigError, match="machines"):
        LocalSettings(machines=0)
    with pytest.raises(ConfigError, match="duration_s"):
        build(seed=0, scenario=None, options={"duration_s": "forever"})


def test_throttling_a_hog_caps_it_without_killing_it() -> None:
    b = build(seed=0, scenario=None,
              options={"machines": 2, "racks": 1, "services": 1, "network": False,
                       "duration_s": 60})  # fmt: skip
    b.start()
    try:
        b.inject(InjectedFault("cpu_hog", "machine:1", duration_s=30))
        time.sleep(2.0)
        b.observe()
        time.sleep(1.5)
        assert float(b.observe().cpu_used[1]) > 0.5  # the hog takes most of the machine
        result = b.writer.throttle_rogue(1, "t1", cpu_share=0.05)  # type: ignore[attr-defined]
        assert "capped" in result or "reniced" in result
        b.observe()
        time.sleep(2.0)
        if b.limiter is not None and b.limiter.root is not None:  # a hard quota: measurable
            assert float(b.observe().cpu_used[1]) < 0.3
        assert b.fleet is not None and b.fleet.machines[1].unaccounted()  # alive, not killed
    finally:
        b.stop()
    if b.limiter is not None and b.limiter.root is not None:
        assert not b.limiter.root.exists()  # the rogue group and the machine groups are gone


def test_without_cgroups_machines_are_reniced_and_pinned_and_the_observation_says_so() -> None:
    b = build(seed=0, scenario=None,
              options={"machines": 2, "racks": 1, "services": 1, "network": False,
                       "duration_s": 60, "cpu_limiter": "psutil"})  # fmt: skip
    b.start()
    try:
        meta = b.observe().extra["meta"]
        assert meta["cpu_limiter"] == "psutil"  # type: ignore[index]
        assert b.fleet is not None
        for m in b.fleet.machines:
            sup = psutil.Process(m.pgid)
            assert sup.nice() == 5 and len(sup.cpu_affinity()) >= 1
            for rep in m.replicas.values():  # children inherit both
                assert psutil.Process(rep.pid).nice() == 5
        assert float(b.observe().cpu_throttled_share.max()) >= 0.0
    finally:
        b.stop()
