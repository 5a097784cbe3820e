"""The local backend fixes every ``random`` fault target from the seed and its layout before the
run, so each system run on one seed meets the same fault on the same machine."""

from __future__ import annotations

import dataclasses

import numpy as np

from autoinfra.backends.local.backend import LocalBackend
from autoinfra.backends.local.config import LocalSettings
from autoinfra.faults.registry import load_scenario
from autoinfra.faults.schedule import draw_times
from autoinfra.faults.spec import FaultSpec


def _faults(seed: int) -> list[FaultSpec]:
    storm = load_scenario("storm")
    return list(draw_times(storm, np.random.default_rng(seed), run_end_s=600.0))


def _targets(seed: int, config: LocalSettings) -> list[tuple[str, float, str]]:
    scenario = dataclasses.replace(load_scenario("storm"), faults=tuple(_faults(seed)))
    backend = LocalBackend(config, seed=seed, scenario=scenario)  # not started: no processes
    return [(str(f.kind), float(f.at_s), f.target) for f in backend._pending_faults]


def test_random_targets_are_fixed_from_the_seed_and_the_layout() -> None:
    config = LocalSettings(machines=8, racks=2, links_per_rack=2)
    first, again = _targets(3, config), _targets(3, config)
    assert first == again  # a second system on the same seed: the same faults
    assert first and all(t != "random" for _, _, t in first)
    assert [at for _, at, _ in first] == sorted(at for _, at, _ in first)
    for kind, _, target in first:
        what, _, idx = target.partition(":")
        if kind == "network_congestion":
            assert what == "link" and 0 <= int(idx) < 4
        else:
            assert what == "machine" and 0 <= int(idx) < 8
    machines = [t for k, _, t in first if k != "network_congestion"]
    assert len(set(machines)) == len(machines)  # no machine struck twice while others were not
    seeds = {tuple(t for _, _, t in _targets(s, config)) for s in range(6)}
    assert len(seeds) > 1  # the seed decides


def test_a_named_target_is_kept() -> None:
    config = LocalSettings(machines=4)
    hog = next(f for f in _faults(0) if str(f.kind) == "cpu_hog")
    fixed = dataclasses.replace(hog, target="machine:2")
    scenario = dataclasses.replace(load_scenario("storm"), faults=(fixed,))
    backend = LocalBackend(config, seed=0, scenario=scenario)
    assert [f.target for f in backend._pending_faults] == ["machine:2"]
