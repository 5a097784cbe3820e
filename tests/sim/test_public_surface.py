"""The simulator's and the faults' public names are exactly the documented ones."""

from __future__ import annotations

import inspect

import autoinfra.faults as faults
import autoinfra.sim as sim


def test_sim_exports() -> None:
    assert sorted(sim.__all__) == ["SimResults", "SimSettings", "Simulator"]


def test_fault_exports() -> None:
    assert sorted(faults.__all__) == sorted(
        [
            "DEFAULTS",
            "TARGET_KIND",
            "FaultKind",
            "FaultScenario",
            "FaultSpec",
            "builtin_scenarios",
            "draw_schedule",
            "load_scenario",
            "scenario_from_dict",
        ]
    )


def test_simulator_surface_matches_the_architecture_page() -> None:
    methods = {
        "step": [],
        "run": ["until_s", "on_tick", "progress", "skip_quiet"],
        "observe": [],
        "fork": [],
        "machine_state": ["machine"],
        "machine_task_count": ["machine"],
        "record_detection": ["target", "by", "kind"],
        "results": [],
    }
    for name, params in methods.items():
        sig = inspect.signature(getattr(sim.Simulator, name))
        assert list(sig.parameters)[1:] == params, name
    # what actors may change lives on ``sim.writer`` (``sim.mutations.Mutations``)
    from autoinfra.sim.mutations import Mutations

    mutations = {
        "set_service_replicas": ["service", "replicas", "by"],
        "power_on": ["machine", "by"],
        "power_off": ["machine", "by"],
        "cordon": ["machine", "schedulable", "by"],
        "drain": ["machine", "by"],
        "evict_stranded": ["machine", "by"],
        "kill_rogue": ["machine", "by"],
        "isolate": ["machine", "by"],
        "reroute": ["rack", "away_from_link", "by"],
        "restore_routes": ["rack", "by"],
    }
    for name, params in mutations.items():
        sig = inspect.signature(getattr(Mutations, name))
        assert list(sig.parameters)[1:] == params, name
    init = inspect.signature(sim.Simulator)
    assert list(init.parameters) == ["workload", "config", "scenario", "seed"]
    for prop in ("now_s", "done"):
        assert isinstance(getattr(sim.Simulator, prop), property)
