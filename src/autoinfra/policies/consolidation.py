"""Energy: pack the work onto fewer machines and power off what is left idle, without flapping.

Servers draw a large share of their peak power when idle (SPECpower: 26.7-73.5 % of peak for the
servers in ``published-figures.md``) and spend most of their time at 10-50 % load (Barroso and
Hoelzle, IEEE Computer 2007), so fewer, fuller machines save energy. Borg judges efficiency the same
way, by the fewest machines that fit the workload (Verma et al., EuroSys 2015).

Each decision:

1. **Need** = the larger of the CPU the scheduler needs now (requested CPU of placed tasks plus
   pending requests) and the cluster forecast ``cpu_forecast + k_std x cpu_std`` (from the
   ``demand_forecast`` finding on ``cluster``, when the agent runs a forecaster).
2. **Free share** = (schedulable CPU of live machines + CPU of booting machines - need) / that
   capacity. A band between ``on_free_share`` and ``off_free_share`` is hysteresis: below the band
   the policy powers machines on (largest first, until the free share is back at
   ``target_free_share``), above it removes capacity down to ``target_free_share``, inside it does
   nothing. Pending work that has waited ``pending_grace_s`` also powers machines on.
3. **Removing capacity**: first power off machines that have been empty for ``idle_s``; then drain
   lightly loaded machines (share taken below ``drain_below_share``, as placement counts it:
   requests, or reservations for work placed by them) when first-fit decreasing
   of their loads (requested CPU and memory, largest first) into the free room of the machines
   that stay (filled to at most ``1 - bin_headroom_share``) places every one. Drained machines
   empty out and are powered off once empty for ``idle_s``, in whatever band the cell is then
   (a drained machine is no capacity, only idle power).
4. **Dwell**: no machine is removed (powered off or drained) within ``min_dwell_s`` of its last
   power change (a drain is not a power change: a drained machine is powered off as soon as it
   has been empty for ``idle_s``). Powering on is never held back: a cell short of capacity
   takes a machine switched off a minute ago, as the Cluster Autoscaler delays scale-downs after
   a scale-up (``scale-down-delay-after-add``, ``published-figures.md``) but never a scale-up.
   Per-decision caps bound how much changes at once.

Thresholds are our choices for a cell that must absorb a burst while machines boot (about 3 min);
none is tuned toward a published energy figure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from autoinfra.core.actions import DrainMachine, SetMachinePower
from autoinfra.core.errors import ConfigError
from autoinfra.core.observation import MachineState, Observation, placement_counted
from autoinfra.core.proposal import Finding, Justification, Outcome, Proposal

__all__ = ["ConsolidationPolicy", "ConsolidationSettings", "first_fit_decreasing"]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class ConsolidationSettings:
    on_free_share: float = 0.10  # below this free share: power machines on
    target_free_share: float = 0.20  # what power-ons restore and reductions stop at
    off_free_share: float = 0.30  # above this free share: remove capacity
    k_std: float = 2.0  # forecast + k std is planned for
    min_dwell_s: float = 900.0  # between two power or drain decisions on one machine
    idle_s: float = 60.0  # empty this long before a power-off
    drain_below_share: float = 0.5  # as the Cluster Autoscaler: below half requested, a candidate
    bin_headroom_share: float = 0.10  # receiving machines are filled to at most 90 %
    pending_grace_s: float = 30.0  # pending work older than this asks for a machine
    heartbeat_limit_s: float = 30.0  # machines silent this long are not counted as capacity
    max_power_on: int = 20
    max_power_off: int = 10  # Cluster Autoscaler removes empty nodes up to 10 at a time
    max_drains: int = 5

    def __post_init__(self) -> None:
        if not 0 <= self.on_free_share < self.target_free_share < self.off_free_share < 1:
            raise ConfigError(
                "expected 0 <= on_free_share < target_free_share < off_free_share < 1, got "
                f"{self.on_free_share}, {self.target_free_share}, {self.off_free_share}",
                field="target_free_share",
            )


def first_fit_decreasing(
    items_cpu: F64, items_mem: F64, bins_cpu: F64, bins_mem: F64
) -> I64 | None:
    """Place items (largest CPU first) into the first bin with room for both resources.

    Returns the bin index of each item (in the items' order), or None when one does not fit.
    The free room arrays are copied, not changed.
    """
    free_cpu, free_mem = bins_cpu.copy(), bins_mem.copy()
    where = np.full(items_cpu.shape[0], -1, dtype=np.int64)
    for i in np.argsort(-items_cpu, kind="stable"):
        fits = (free_cpu >= items_cpu[i]) & (free_mem >= items_mem[i])
        if not fits.any():
            return None
        b = int(np.argmax(fits))
        free_cpu[b] -= items_cpu[i]
        free_mem[b] -= items_mem[i]
        where[i] = b
    return where


class ConsolidationPolicy:
    policy_id = "consolidation.ffd-v1"
    drain_planner = "FFD"  # named in the drain's reason

    def __init__(self, settings: ConsolidationSettings | None = None) -> None:
        self.settings = settings or ConsolidationSettings()
        self._changed_s: F64 = np.zeros(0)
        self._empty_since: F64 = np.zeros(0)
        self._pending_since: float | None = None
        self._drained: set[int] = set()  # machines this policy drained (and may power off)

    def decide(self, observation: Observation, findings: Sequence[Finding]) -> list[Proposal]:
        s = self.settings
        obs = observation
        now = obs.time_s
        on, usable, booting = self._track(obs)
        cap = obs.cpu_capacity.astype(np.float64)
        capacity = float(cap[usable].sum() + cap[booting].sum())
        demand = float(obs.cpu_requested[on].sum()) + float(obs.pending_cpu)
        forecast = next(
            (f for f in findings if f.kind == "demand_forecast" and f.target == "cluster"), None
        )
        need = demand
        if forecast is not None:
            fc = float(forecast.detail["cpu_forecast"]) + s.k_std * float(
                forecast.detail["cpu_std"]
            )
            need = max(need, fc)
        free_share = (capacity - need) / capacity if capacity > 0 else -1.0
        inputs = {
            "need_cpu": round(need, 4),
            "capacity_cpu": round(capacity, 4),
            "free_share": round(free_share, 4),
        }
        dwell_ok = now - self._changed_s >= s.min_dwell_s
        waited = self._pending_since is not None and now - self._pending_since >= s.pending_grace_s
        if free_share < s.on_free_share or (waited and not booting.any()):
            want = need / (1 - s.target_free_share) - capacity
            if waited:
                want = max(want, float(obs.pending_cpu), 1e-9)
            return self._power_on(obs, want, inputs) + self._drained_offs(obs, dwell_ok, inputs)
        if free_share > s.off_free_share:
            budget = capacity - need / (1 - s.target_free_share)
            return self._reduce(obs, budget, usable, dwell_ok, inputs)
        return self._drained_offs(obs, dwell_ok, inputs)

    def _track(
        self, obs: Observation
    ) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
        """Update what the policy remembers (empty since, pending since, its drains); returns
        the machines that are on (and heard from), usable for placement, and booting."""
        s = self.settings
        now = obs.time_s
        n = obs.n_machines
        if self._changed_s.shape[0] != n:
            self._changed_s = np.full(n, -np.inf)
            self._empty_since = np.full(n, np.nan)
        state = obs.machine_state
        alive = obs.heartbeat_age_s <= s.heartbeat_limit_s
        on = ((state == MachineState.ON) | (state == MachineState.DRAINING)) & alive
        usable = (state == MachineState.ON) & obs.schedulable & alive
        booting = state == MachineState.BOOTING
        # empty machines this policy may power off: schedulable ones, or ones it drained itself
        # (a machine someone else cordoned, drained or isolated is theirs to bring back)
        mine = np.zeros(n, dtype=bool)
        for m in self._drained:
            if m < n:
                mine[m] = True
        empty = on & (obs.tasks_running == 0) & (obs.schedulable | mine)
        self._drained = {m for m in self._drained if state[m] != MachineState.OFF}
        self._empty_since[empty & np.isnan(self._empty_since)] = now
        self._empty_since[~empty] = np.nan
        if obs.pending_tasks > 0:
            self._pending_since = self._pending_since if self._pending_since is not None else now
        else:
            self._pending_since = None
        return on, usable, booting

    def observe_outcomes(self, outcomes: Sequence[Outcome], proposals: Sequence[Proposal]) -> None:
        for outcome, proposal in zip(outcomes, proposals, strict=True):
            if isinstance(proposal.action, DrainMachine) and not outcome.succeeded:
                self._drained.discard(proposal.action.machine)

    def _drained_offs(
        self, obs: Observation, dwell_ok: npt.NDArray[np.bool_], inputs: dict[str, float]
    ) -> list[Proposal]:
        """Power off the machines this policy drained once they have been empty for ``idle_s``,
        whatever the band says: a drained machine is no capacity, only idle power. (Before,
        they were powered off only by a later reduction, so a cell that settled inside the band
        kept its drained machines on, empty, to the end of the run.)"""
        s = self.settings
        now = obs.time_s
        state = obs.machine_state
        out: list[Proposal] = []
        for m in sorted(self._drained):
            if len(out) >= s.max_power_off:
                break
            if m >= obs.n_machines or state[m] != MachineState.DRAINING or not dwell_ok[m]:
                continue
            since = self._empty_since[m]
            if np.isnan(since) or now - since < s.idle_s:
                continue
            reason = f"drained and empty for {now - since:.0f} s: no capacity, only idle power"
            out.append(self._proposal(SetMachinePower(machine=m, on=False), now, reason, inputs))
        return out

    # -- more capacity ---------------------------------------------------------------------------
    def _power_on(self, obs: Observation, want: float, inputs: dict[str, float]) -> list[Proposal]:
        # never held back by the dwell (see the module docstring)
        off = np.flatnonzero(obs.machine_state == MachineState.OFF)
        if want <= 0 or off.size == 0:
            return []
        cap = obs.cpu_capacity
        chosen = []
        got = 0.0
        for m in off[np.argsort(-cap[off], kind="stable")][: self.settings.max_power_on]:
            chosen.append(int(m))
            got += float(cap[m])
            if got >= want:
                break
        reason = f"free CPU share {inputs['free_share']:.1%} below the band; {want:.2f} CPU wanted"
        return [
            self._proposal(SetMachinePower(machine=m, on=True), obs.time_s, reason, inputs)
            for m in chosen
        ]

    # -- less capacity ---------------------------------------------------------------------------
    def _reduce(
        self,
        obs: Observation,
        budget: float,
        usable: npt.NDArray[np.bool_],
        dwell_ok: npt.NDArray[np.bool_],
        inputs: dict[str, float],
    ) -> list[Proposal]:
        s = self.settings
        now = obs.time_s
        cap = obs.cpu_capacity.astype(np.float64)
        out: list[Proposal] = []
        idle = np.flatnonzero(
            ~np.isnan(self._empty_since)
            & (now - np.nan_to_num(self._empty_since) >= s.idle_s)
            & dwell_ok
        )
        removed = np.zeros(obs.n_machines, dtype=bool)
        for m in idle[np.argsort(cap[idle], kind="stable")]:
            if len(out) >= s.max_power_off:
                break
            loss = float(cap[m]) if usable[m] else 0.0  # cordoned machines are not capacity
            if loss > budget:
                continue
            budget -= loss
            removed[m] = True
            reason = f"empty for {now - self._empty_since[m]:.0f} s with free share above the band"
            out.append(
                self._proposal(SetMachinePower(machine=int(m), on=False), now, reason, inputs)
            )
        # lightly loaded by what placement counts as taken (requests, or reservations for work
        # placed by them): a machine full of requests that use little is no fuller to a scheduler
        req_cpu = placement_counted(obs).astype(np.float64)
        light = usable & ~removed & dwell_ok & (obs.tasks_running > 0)
        light &= req_cpu < s.drain_below_share * cap
        drains = self._choose_drains(obs, np.flatnonzero(light), usable & ~removed, budget)
        for m in drains:
            self._drained.add(m)
            share = req_cpu[m] / cap[m]
            reason = (
                f"lightly loaded ({share:.0%} of its CPU taken); its tasks fit elsewhere "
                f"({self.drain_planner})"
            )
            out.append(self._proposal(DrainMachine(machine=m), now, reason, inputs))
        return out

    def _choose_drains(
        self, obs: Observation, candidates: I64, stay_base: npt.NDArray[np.bool_], budget: float
    ) -> list[int]:
        """Lightest candidates first, while FFD still places every drained machine's load into
        the room of the machines that stay (``policies.genetic`` overrides this choice)."""
        s = self.settings
        cap = obs.cpu_capacity.astype(np.float64)
        req_cpu = obs.cpu_requested.astype(np.float64)
        req_mem = obs.mem_requested.astype(np.float64)
        candidates = candidates[np.argsort(req_cpu[candidates], kind="stable")]
        drains: list[int] = []
        for m in candidates:
            if len(drains) >= s.max_drains or float(cap[m]) > budget:
                break
            trial = [*drains, int(m)]
            stay = stay_base.copy()
            stay[trial] = False
            room = 1.0 - s.bin_headroom_share
            bins_cpu = np.maximum(0.0, cap * room - req_cpu)[stay]
            bins_mem = np.maximum(0.0, obs.mem_capacity.astype(np.float64) * room - req_mem)[stay]
            if first_fit_decreasing(req_cpu[trial], req_mem[trial], bins_cpu, bins_mem) is None:
                break
            drains.append(int(m))
            budget -= float(cap[m])
        return drains

    def _proposal(
        self,
        action: SetMachinePower | DrainMachine,
        now: float,
        reason: str,
        inputs: dict[str, float],
    ) -> Proposal:
        if isinstance(action, SetMachinePower):
            self._changed_s[action.machine] = now
        effect = {
            "set_machine_power": "capacity follows demand; idle machines draw nothing",
            "drain_machine": "the machine empties and can be powered off",
        }[action.kind]
        return Proposal(action, "", 0, Justification(reason, dict(inputs), effect), 0.8)
