"""The local network lab: rack uplinks as veth pairs between two network namespaces.

Layout (``n_racks`` racks, ``links_per_rack`` uplinks each): namespace ``ait<run>r`` holds the rack
end of every uplink, ``ait<run>s`` the spine end; uplink ``j`` is a veth pair with a private /30
(169.254.<100+j>.1 and .2) that exists only inside those two namespaces, so nothing is reachable
from or leaks to the host's network. A sender in the rack namespace offers each rack's traffic
over its uplinks (split by weight); a sink in the spine namespace counts what arrives.

The saturated-link fault is a ``tbf`` qdisc on the rack end of one uplink (this kernel has no
netem), shaping it below the traffic offered to it; the bytes really queue and drop. Utilisation is
what a switch's counters give: offered bits per second over the link's rate, where the rate is the
shaping rate read back from ``tc`` when a tbf is installed, else the nominal ``capacity_mbps``.
Rerouting changes the rack's weights so the sender moves its traffic to the other uplinks.

Creating namespaces needs CAP_SYS_ADMIN; when ``ip netns add`` fails the lab is ``available =
False`` with the reason, the observation has no links, and the congestion fault is refused with
that reason instead of being faked.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from autoinfra.backends.local.procs import ProcessTable, child_argv
from autoinfra.core.errors import ActionError

__all__ = ["NetLab", "sweep_stale_namespaces"]

_STALE_AFTER_S = 30.0  # a lab namespace this old with no process in it belongs to a dead run


def sweep_stale_namespaces() -> list[str]:
    """Delete lab namespaces a killed run left behind (a ``kill -9`` runs no clean-up of ours:
    the processes die with it, the namespaces stay). Only ours (``ait<6 hex>r|s``), only empty
    ones, only older than a start takes, so a run starting beside us is never touched."""
    gone = []
    for entry in Path("/run/netns").glob("ait*"):
        name = entry.name
        if len(name) != 10 or name[-1] not in "rs" or not _is_hex(name[3:9]):
            continue
        try:
            if time.time() - entry.stat().st_mtime < _STALE_AFTER_S:
                continue
        except OSError:
            continue
        if _run("ip", "netns", "pids", name).stdout.strip():
            continue
        if _run("ip", "netns", "del", name).returncode == 0:
            gone.append(name)
    return gone


def _is_hex(s: str) -> bool:
    return all(c in "0123456789abcdef" for c in s)


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=10, check=False)


class NetLab:
    def __init__(
        self,
        run_id: str,
        n_racks: int,
        links_per_rack: int,
        procs: ProcessTable,
        deadline: float,
        *,
        capacity_mbps: float = 40.0,
        rack_mbps: float = 12.0,
    ) -> None:
        self.run_id = run_id
        self.ns_rack, self.ns_spine = f"ait{run_id}r", f"ait{run_id}s"
        self.n_links = n_racks * links_per_rack
        self.link_rack = np.repeat(np.arange(n_racks, dtype=np.int32), links_per_rack)
        self.capacity_mbps = capacity_mbps
        self.rack_mbps = rack_mbps
        # each rack's traffic starts spread evenly over its uplinks
        self.weights = np.full(self.n_links, 1.0 / links_per_rack)
        self.procs = procs
        self.deadline = deadline
        self.available = False
        self.why_not = ""
        self.shaped: dict[int, float] = {}  # link -> tbf rate Mbit/s (what we installed)
        self._offered = np.zeros(self.n_links)
        self._received = np.zeros(self.n_links)
        self._rate_hist: list[tuple[float, np.ndarray, np.ndarray]] = []
        self._lock = threading.Lock()
        self._sender: subprocess.Popen[bytes] | None = None

    # -- set-up and tear-down ---------------------------------------------------------------------
    def dev(self, link: int, end: str) -> str:
        return f"ai{self.run_id}{link}{end}"  # <= 15 characters: run_id is 6 hex digits

    def addr(self, link: int, end: int) -> str:
        return f"169.254.{100 + link}.{end}"

    def start(self) -> bool:
        sweep_stale_namespaces()
        made = _run("ip", "netns", "add", self.ns_rack)
        if made.returncode != 0:
            self.why_not = f"ip netns add refused: {made.stderr.strip() or made.returncode}"
            return False
        _run("ip", "netns", "add", self.ns_spine)
        cmds: list[list[str]] = []
        for ns in (self.ns_rack, self.ns_spine):
            cmds.append(["ip", "-n", ns, "link", "set", "lo", "up"])
        for j in range(self.n_links):
            a, b = self.dev(j, "a"), self.dev(j, "b")
            cmds += [
                ["ip", "link", "add", a, "netns", self.ns_rack, "type", "veth",
                 "peer", "name", b, "netns", self.ns_spine],
                ["ip", "-n", self.ns_rack, "addr", "add", f"{self.addr(j, 1)}/30", "dev", a],
                ["ip", "-n", self.ns_spine, "addr", "add", f"{self.addr(j, 2)}/30", "dev", b],
                ["ip", "-n", self.ns_rack, "link", "set", a, "up"],
                ["ip", "-n", self.ns_spine, "link", "set", b, "up"],
            ]  # fmt: skip
        for cmd in cmds:
            r = _run(*cmd)
            if r.returncode != 0:
                self.why_not = f"{' '.join(cmd)}: {r.stderr.strip()}"
                self.stop()
                return False
        py = child_argv("linktraffic")
        dl = ["--deadline", f"{self.deadline:.3f}"]
        binds = ",".join(self.addr(j, 2) for j in range(self.n_links))
        sink = self.procs.spawn(
            ["ip", "netns", "exec", self.ns_spine, *py, "sink", "--bind", binds, *dl],
            new_group=False, stdout=subprocess.PIPE,
        )  # fmt: skip
        sender = self.procs.spawn(
            ["ip", "netns", "exec", self.ns_rack, *py, "send", "--targets", binds,
             "--mbps", ",".join(f"{x:.3f}" for x in self.link_mbps()), *dl],
            new_group=False, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        )  # fmt: skip
        self._sender = sender
        threading.Thread(target=self._read, args=(sink, "received"), daemon=True).start()
        threading.Thread(target=self._read, args=(sender, "offered"), daemon=True).start()
        self.available = True
        return True

    def stop(self) -> None:
        for ns in (self.ns_rack, self.ns_spine):
            _run("ip", "netns", "del", ns)  # deleting a namespace deletes its veth ends
        self.available = False

    def _read(self, proc: subprocess.Popen[bytes], key: str) -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            with contextlib.suppress(ValueError, KeyError):
                values = np.asarray(json.loads(raw)[key], dtype=np.float64)
                with self._lock:
                    if key == "offered":
                        self._offered = values
                        self._rate_hist.append((time.monotonic(), values, self._received))
                        self._rate_hist = self._rate_hist[-8:]
                    else:
                        self._received = values

    # -- traffic ---------------------------------------------------------------------------------
    def link_mbps(self) -> np.ndarray:
        """Traffic each uplink is meant to carry now: the rack's total times the link's weight."""
        return self.rack_mbps * self.weights

    def _push_rates(self) -> None:
        if self._sender is None or self._sender.stdin is None:
            return
        msg = json.dumps({"mbps": [round(float(x), 3) for x in self.link_mbps()]}) + "\n"
        with contextlib.suppress(OSError, ValueError):
            self._sender.stdin.write(msg.encode())
            self._sender.stdin.flush()

    def reroute(self, rack: int, away_from_link: int) -> str:
        if not self.available:
            raise ActionError(f"no network lab to reroute in: {self.why_not}")
        if not 0 <= away_from_link < self.n_links or int(self.link_rack[away_from_link]) != rack:
            raise ActionError(f"link {away_from_link} is not an uplink of rack {rack}")
        links = np.flatnonzero(self.link_rack == rack)
        others = links[links != away_from_link]
        if others.size == 0:
            raise ActionError(f"rack {rack} has no other uplink")
        moved = float(self.weights[away_from_link])
        self.weights[others] += moved / others.size
        self.weights[away_from_link] = 0.0
        self._push_rates()
        return f"weight {moved:.2f} moved from link {away_from_link} to {others.tolist()}"

    def restore_routes(self, rack: int) -> str:
        """The rack's traffic split equally over all its uplinks again."""
        if not self.available:
            raise ActionError(f"no network lab to restore routes in: {self.why_not}")
        links = np.flatnonzero(self.link_rack == rack)
        if links.size == 0:
            raise ActionError(f"no rack {rack} in the network lab")
        before = self.weights[links].round(3).tolist()
        self.weights[links] = 1.0 / links.size
        self._push_rates()
        return f"weights {before} -> {1.0 / links.size:.2f} each"

    # -- the fault -------------------------------------------------------------------------------
    def shape(self, link: int, load: float) -> float:
        """A tbf on ``link`` so its offered traffic is ``load`` x its rate; returns the Mbit/s."""
        if not self.available:
            raise ActionError(f"saturated link skipped: {self.why_not}")
        offered = max(float(self.link_mbps()[link]), 0.5)
        rate = max(0.1, offered / max(load, 1e-3))
        r = _run("tc", "-n", self.ns_rack, "qdisc", "replace", "dev", self.dev(link, "a"),
                 "root", "tbf", "rate", f"{int(rate * 1000)}kbit", "burst", "16kb",
                 "latency", "50ms")  # fmt: skip
        if r.returncode != 0:
            raise ActionError(f"tc tbf on link {link} failed: {r.stderr.strip()}")
        self.shaped[link] = rate
        return rate

    def unshape(self, link: int) -> None:
        if self.available and link in self.shaped:
            _run("tc", "-n", self.ns_rack, "qdisc", "del", "dev", self.dev(link, "a"), "root")
        self.shaped.pop(link, None)

    # -- what monitoring sees --------------------------------------------------------------------
    def read_rates(self) -> tuple[np.ndarray, np.ndarray]:
        """Link rate in Mbit/s (tbf rate read back from tc, else nominal) and drops per link."""
        rates = np.full(self.n_links, self.capacity_mbps)
        drops = np.zeros(self.n_links)
        if not self.available:
            return rates, drops
        r = _run("tc", "-n", self.ns_rack, "-j", "-s", "qdisc", "show")
        with contextlib.suppress(ValueError):
            for q in json.loads(r.stdout or "[]"):
                dev = str(q.get("dev", ""))
                if not dev.startswith(f"ai{self.run_id}") or not dev.endswith("a"):
                    continue
                j = int(dev[len(f"ai{self.run_id}") : -1])
                drops[j] = float(q.get("drops", 0))
                if q.get("kind") == "tbf":
                    bps = float(q.get("options", {}).get("rate", 0))  # tc -j reports bytes/s
                    if bps > 0:
                        rates[j] = min(self.capacity_mbps, bps * 8 / 1e6)
        return rates, drops

    def utilization(self) -> tuple[np.ndarray, dict[str, Any]]:
        """Offered load / link rate per uplink, from the sender's counters over the last ~2 s."""
        rates, drops = self.read_rates()
        with self._lock:
            hist = list(self._rate_hist)
        if len(hist) >= 2:
            (t0, o0, r0), (t1, o1, r1) = hist[0], hist[-1]
            dt = max(t1 - t0, 1e-3)
            offered = (o1 - o0) * 8 / 1e6 / dt
            received = (r1 - r0) * 8 / 1e6 / dt
        else:
            offered = self.link_mbps()
            received = offered
        util = (offered / rates).astype(np.float32)
        return util, {
            "offered_mbps": offered.round(3).tolist(),
            "received_mbps": np.asarray(received).round(3).tolist(),
            "rate_mbps": rates.round(3).tolist(),
            "drops": drops.tolist(),
        }
