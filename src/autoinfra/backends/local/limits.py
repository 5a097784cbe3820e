"""CPU limits of a local machine: cgroup v2 where writable, else cgroup v1, else psutil.

A "machine" is a process group; what makes it a machine with a capacity is a CPU limit on that
group. The kernel decides which mechanism we get, so :func:`detect_cpu_limiter` probes, in order:

- ``cgroup-v2``: a cgroup2 mount whose ``cgroup.controllers`` lists ``cpu`` and in which we can
  create a child group; the limit is ``cpu.max``, throttling is read from ``cpu.stat``
  (``nr_throttled / nr_periods``) and freezing uses ``cgroup.freeze``.
- ``cgroup-v1``: the legacy ``cpu`` hierarchy, writable; limit ``cpu.cfs_quota_us`` over
  ``cpu.cfs_period_us``, throttling from its ``cpu.stat``.
- ``psutil``: no writable cgroup: the machine's processes are reniced (nice 5) and pinned to a
  share of the cores with ``cpu_affinity``; there is no hard quota and no throttling counter, so
  the observation reports a throttled share of 0 and says ``cpu_limiter: psutil``.

Which one ran is in ``Observation.extra["meta"]["cpu_limiter"]``, with the reason the better
ones were not used.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

__all__ = ["CpuLimiter", "MachineGroup", "detect_cpu_limiter"]

_V2_ROOTS = (Path("/sys/fs/cgroup"), Path("/sys/fs/cgroup/unified"))
_V1_CPU = Path("/sys/fs/cgroup/cpu")
_PERIOD_US = 100_000


@dataclass(frozen=True, slots=True)
class CpuLimiter:
    kind: str  # "cgroup-v2" | "cgroup-v1" | "psutil"
    root: Path | None  # the parent group we create machine groups under
    why: str  # why this one (and not a better one)


def _try_child(parent: Path, name: str) -> Path | None:
    child = parent / name
    try:
        child.mkdir(exist_ok=True)
        return child
    except OSError:
        return None


_STALE_AFTER_S = 30.0  # a run's groups are filled within a second of being made


def sweep_stale_groups() -> None:
    """Remove the empty machine groups of runs that were killed (rmdir fails on a busy group),
    only those older than a start takes, so a run starting beside us keeps its new groups."""
    for parent in (*_V2_ROOTS, _V1_CPU):
        for root in parent.glob("autoinfra-*"):
            try:
                if time.time() - root.stat().st_mtime < _STALE_AFTER_S:
                    continue
            except OSError:
                continue
            for child in root.glob("m*"):
                with contextlib.suppress(OSError):
                    (child / "rogue").rmdir()
                with contextlib.suppress(OSError):
                    child.rmdir()
            with contextlib.suppress(OSError):
                root.rmdir()


def detect_cpu_limiter(run_id: str, prefer: str = "auto") -> CpuLimiter:
    """The best CPU limit mechanism this kernel lets us use, with a group for this run
    (``prefer="psutil"`` skips the cgroups: for hosts where they must not be touched)."""
    if prefer == "psutil":
        return CpuLimiter("psutil", None, "psutil asked for (option cpu_limiter=psutil)")
    sweep_stale_groups()
    notes: list[str] = []
    for root in _V2_ROOTS:
        ctl = root / "cgroup.controllers"
        if not ctl.exists():
            continue
        controllers = ctl.read_text().split()
        if "cpu" not in controllers:
            notes.append(
                f"{root} is cgroup v2 without the cpu controller ({' '.join(controllers)})"
            )
            continue
        group = _try_child(root, f"autoinfra-{run_id}")
        if group is None:
            notes.append(f"{root} is not writable")
            continue
        try:
            (group / "cgroup.subtree_control").write_text("+cpu")
        except OSError as exc:
            notes.append(f"cannot enable cpu under {group}: {exc}")
            with contextlib.suppress(OSError):
                group.rmdir()
            continue
        return CpuLimiter("cgroup-v2", group, "; ".join(notes) or "cgroup v2 cpu controller")
    if (_V1_CPU / "cpu.cfs_quota_us").exists():
        group = _try_child(_V1_CPU, f"autoinfra-{run_id}")
        if group is not None:
            notes.append("using the cgroup v1 cpu hierarchy")
            return CpuLimiter("cgroup-v1", group, "; ".join(notes))
        notes.append(f"{_V1_CPU} is not writable")
    notes.append("no writable cgroup: nice + cpu_affinity through psutil")
    return CpuLimiter("psutil", None, "; ".join(notes))


class MachineGroup:
    """The CPU limit of one machine's processes, whatever the mechanism."""

    def __init__(self, limiter: CpuLimiter, machine: int, cores: float) -> None:
        self.limiter = limiter
        self.machine = machine
        self.cores = cores
        self.path: Path | None = None
        if limiter.root is not None:
            self.path = limiter.root / f"m{machine}"
            self.path.mkdir(exist_ok=True)
            self.set_cores(cores)
        self._last_periods = (0, 0)

    def set_cores(self, cores: float) -> None:
        """Cap the machine at ``cores`` CPUs (cgroups) or at a share of the cores (psutil)."""
        self.cores = cores
        quota = max(1000, int(cores * _PERIOD_US))
        if self.limiter.kind == "cgroup-v2" and self.path is not None:
            (self.path / "cpu.max").write_text(f"{quota} {_PERIOD_US}")
        elif self.limiter.kind == "cgroup-v1" and self.path is not None:
            (self.path / "cpu.cfs_period_us").write_text(str(_PERIOD_US))
            (self.path / "cpu.cfs_quota_us").write_text(str(quota))

    def add(self, pid: int) -> None:
        """Put a process (and so every child it starts later) under this machine's limit."""
        if self.path is not None:
            with contextlib.suppress(OSError):
                (self.path / "cgroup.procs").write_text(str(pid))
            return
        with contextlib.suppress(psutil.Error):
            proc = psutil.Process(pid)
            proc.nice(5)
            n = os.cpu_count() or 1
            # pin to a slice of the cores proportional to the machine's share (at least one)
            cpus = [(self.machine + k) % n for k in range(max(1, min(n, round(self.cores))))]
            proc.cpu_affinity(cpus)

    def throttle(self, pids: list[int], share: float) -> str:
        """Cap ``pids`` at ``share`` of the machine: a child group ``rogue`` with its own quota
        (cgroups), or nice 19 (psutil: no quota to give). Returns what was done."""
        if self.path is None:
            for pid in pids:
                with contextlib.suppress(psutil.Error):
                    psutil.Process(pid).nice(19)
            return f"{len(pids)} process(es) reniced to 19 (no writable cgroup)"
        rogue = self.path / "rogue"
        rogue.mkdir(exist_ok=True)
        quota = max(1000, int(share * self.cores * _PERIOD_US))
        if self.limiter.kind == "cgroup-v2":
            (rogue / "cpu.max").write_text(f"{quota} {_PERIOD_US}")
        else:
            (rogue / "cpu.cfs_period_us").write_text(str(_PERIOD_US))
            (rogue / "cpu.cfs_quota_us").write_text(str(quota))
        moved = 0
        for pid in pids:
            with contextlib.suppress(OSError):
                (rogue / "cgroup.procs").write_text(str(pid))
                moved += 1
        return f"{moved} process(es) capped at {share:.0%} of the machine ({self.limiter.kind})"

    def throttled_share(self) -> float:
        """Share of CFS periods in which the group was throttled since the last call."""
        if self.path is None:
            return 0.0
        try:
            stats = dict(
                (k, int(v))
                for k, v in (
                    line.split() for line in (self.path / "cpu.stat").read_text().splitlines()
                )
                if v.isdigit()
            )
        except OSError:
            return 0.0
        periods, throttled = stats.get("nr_periods", 0), stats.get("nr_throttled", 0)
        p0, t0 = self._last_periods
        self._last_periods = (periods, throttled)
        dp = periods - p0
        return float(throttled - t0) / dp if dp > 0 and p0 > 0 else 0.0

    def remove(self) -> None:
        """Delete the group (its processes must be gone; they are killed first)."""
        if self.path is None:
            return
        # killed processes leave their group only once reaped by their parent: retry briefly
        for _ in range(40):
            with contextlib.suppress(OSError):
                (self.path / "rogue").rmdir()
            try:
                self.path.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError:
                time.sleep(0.05)


def remove_root(limiter: CpuLimiter) -> None:
    if limiter.root is not None:
        for child in limiter.root.glob("m*"):
            with contextlib.suppress(OSError):
                (child / "rogue").rmdir()
            with contextlib.suppress(OSError):
                child.rmdir()
        with contextlib.suppress(OSError):
            limiter.root.rmdir()
