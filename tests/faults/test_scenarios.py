"""Fault scenarios: built-ins load; files validate strictly, errors naming file and field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from autoinfra.core.errors import ConfigError
from autoinfra.faults import (
    FaultKind,
    FaultScenario,
    builtin_scenarios,
    load_scenario,
    scenario_from_dict,
)

BUILTINS = ["cpu-hog", "intrusion", "network-congestion", "node-failure", "none", "storm"]


def test_builtin_names_are_the_documented_ones() -> None:
    assert builtin_scenarios() == BUILTINS


@pytest.mark.parametrize("name", BUILTINS)
def test_builtins_load_and_fit_a_one_hour_window(name: str) -> None:
    sc = load_scenario(name)
    assert isinstance(sc, FaultScenario)
    assert sc.name == name
    assert sc.source == f"builtin:{name}"
    for f in sc.faults:
        assert 0 < f.at_s < 3600
        assert f.target == "random"


def test_storm_is_the_papers_three_faults() -> None:
    kinds = {f.kind for f in load_scenario("storm").faults}
    assert kinds == {FaultKind.NODE_FAILURE, FaultKind.CPU_HOG, FaultKind.NETWORK_CONGESTION}


def test_defaults_are_filled_per_kind() -> None:
    sc = scenario_from_dict(
        {
            "faults": [
                {"kind": "intrusion", "at_s": 5},
                {"kind": "cpu_hog", "at_s": 1, "target": "machine:3"},
            ]
        }
    )
    hog, intr = sc.faults  # sorted by time
    assert hog.kind == FaultKind.CPU_HOG and hog.cpu_share == 1.0 and hog.target_index == 3
    assert intr.egress_mbps == 800.0 and intr.cpu_share == 0.25 and intr.duration_s is None


def test_yaml_and_json_files_round_trip(tmp_path: Path) -> None:
    data = {
        "name": "mine",
        "faults": [
            {
                "kind": "network_congestion",
                "at_s": 30,
                "target": "link:1",
                "duration_s": 60,
                "load": 2.0,
            }
        ],
    }
    (tmp_path / "s.json").write_text(json.dumps(data))
    (tmp_path / "s.yaml").write_text(
        "name: mine\nfaults:\n  - {kind: network_congestion, at_s: 30, target: 'link:1', "
        "duration_s: 60, load: 2.0}\n"
    )
    a = load_scenario(tmp_path / "s.json")
    b = load_scenario(str(tmp_path / "s.yaml"))
    assert a.faults == b.faults
    assert a.to_dict()["faults"][0] == {
        "kind": "network_congestion",
        "at_s": 30.0,
        "target": "link:1",
        "duration_s": 60.0,
        "load": 2.0,
    }


@pytest.mark.parametrize(
    ("text", "field", "words"),
    [
        ("faults:\n  - {kind: meteor, at_s: 1}\n", "faults[0].kind", "unknown kind"),
        ("faults:\n  - {kind: cpu_hog}\n", "faults[0]", "either at_s"),
        (
            "faults:\n  - {kind: cpu_hog, at_s: 1}\n  - {kind: cpu_hog, at_s: -4}\n",
            "faults[1].at_s",
            ">= 0",
        ),
        ("faults:\n  - {kind: cpu_hog, at_s: soon}\n", "faults[0].at_s", "a valid number"),
        (
            "faults:\n  - {kind: cpu_hog, at_s: 1, durtion_s: 5}\n",
            "faults[0].durtion_s",
            "unknown key",
        ),
        (
            "faults:\n  - {kind: cpu_hog, at_s: 1, load: 2}\n",
            "faults[0].load",
            "does not apply to cpu_hog",
        ),
        (
            "faults:\n  - {kind: cpu_hog, at_s: 1, target: 'link:2'}\n",
            "faults[0].target",
            "machine:<index>",
        ),
        (
            "faults:\n  - {kind: network_congestion, at_s: 1, target: 'machine:2'}\n",
            "faults[0].target",
            "link:<index>",
        ),
        (
            "faults:\n  - {kind: node_failure, at_s: 1, duration_s: 0}\n",
            "faults[0].duration_s",
            "> 0",
        ),
        ("faults:\n  - {kind: cpu_hog, at_s: 1, cpu_share: 0}\n", "faults[0].cpu_share", "> 0"),
        ("faults: 3\n", "faults", "list"),
        ("nme: x\n", "nme", "unknown key"),
    ],
)
def test_bad_scenarios_name_the_file_and_field(
    tmp_path: Path, text: str, field: str, words: str
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_scenario(path)
    assert info.value.source == str(path)
    assert info.value.field == field
    assert words in str(info.value)
    assert str(path) in str(info.value)


def test_unparseable_and_missing_files(tmp_path: Path) -> None:
    bad = tmp_path / "broken.json"
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_scenario(bad)
    with pytest.raises(ConfigError, match="built-ins are"):
        load_scenario(tmp_path / "nowhere.yaml")
    txt = tmp_path / "s.txt"
    txt.write_text("faults: []")
    with pytest.raises(ConfigError, match="unsupported scenario format"):
        load_scenario(txt)


def test_faults_are_sorted_by_time_keeping_file_order_for_ties() -> None:
    sc = scenario_from_dict(
        {
            "faults": [
                {"kind": "cpu_hog", "at_s": 9},
                {"kind": "node_failure", "at_s": 2},
                {"kind": "intrusion", "at_s": 9},
            ]
        }
    )
    assert [f.kind for f in sc.faults] == [
        FaultKind.NODE_FAILURE,
        FaultKind.CPU_HOG,
        FaultKind.INTRUSION,
    ]
