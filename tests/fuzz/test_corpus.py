"""Every reproducer in tests/data/fuzz fails with our own error, naming the file (and line)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from autoinfra.core.errors import AutoinfraError, ConfigError, TraceError
from autoinfra.experiments.spec import build_spec, load_spec_file
from autoinfra.faults import load_scenario
from autoinfra.traces import read_table

CORPUS = Path(__file__).resolve().parent.parent / "data" / "fuzz"
FILES = sorted(p.name for p in CORPUS.iterdir() if p.name != "README.md")
KNOWN = ["agents", "kubernetes-defaults", "human", "noop"]


def load(path: Path) -> object:
    """The reader a user reaches for this kind of file."""
    if path.name.startswith("scenario_"):
        return load_scenario(path)
    if path.name.startswith("spec_"):
        return build_spec(load_spec_file(path), known_systems=KNOWN, source=str(path)).runs()
    table = path.name.split("_")[0] + "_" + path.name.split("_")[1]
    return read_table(table, path, cache=False)


def test_the_corpus_is_small_and_complete() -> None:
    assert len(FILES) >= 15
    assert sum((CORPUS / f).stat().st_size for f in FILES) < 20_000
    readme = (CORPUS / "README.md").read_text()
    assert all(f"`{f}`" in readme for f in FILES)


@pytest.mark.timeout(10)
@pytest.mark.parametrize("name", FILES)
def test_each_reproducer_is_a_clean_error(name: str, tmp_path: Path) -> None:
    path = tmp_path / name
    shutil.copy(CORPUS / name, path)
    with pytest.raises(AutoinfraError) as info:
        load(path)
    err = info.value
    expected = TraceError if name.startswith(("task_", "job_", "machine_")) else ConfigError
    assert isinstance(err, expected)
    message = str(err)
    assert str(path) in message and "<unicode string>" not in message
    assert len(message) < 600  # nothing expanded, nothing echoed at length
    line = re.search(r"_line(\d+)", name)
    if line:
        assert f"line {line.group(1)}" in message


def test_what_each_reproducer_is_refused_for(tmp_path: Path) -> None:
    def message(name: str) -> str:
        path = tmp_path / name
        shutil.copy(CORPUS / name, path)
        with pytest.raises(AutoinfraError) as info:
            load(path)
        return str(info.value)

    assert "aliases" in message("scenario_billion_laughs_at_s.yaml")
    assert "aliases" in message("spec_billion_laughs_machines.yaml")
    assert "deeper than" in message("scenario_deep_nesting.yaml")
    assert "given twice (first on line 3)" in message("scenario_duplicate_key_line4.yaml")
    assert "twice" in message("spec_duplicate_key.json")
    assert "empty" in message("scenario_empty.yaml")
    assert "not UTF-8" in message("scenario_not_utf8_line2.yaml")
    assert "field 'seeds'" in message("spec_seeds_ten_million.yaml")
    headroom = message("spec_headroom_nan.yaml")
    assert "system_params.agents.min_headroom_share" in headroom and "finite" in headroom
    assert "field 'systems[0]'" in message("spec_misspelt_system.yaml")
    assert "field 'seed'" in message("spec_misspelt_key.json")
    assert "truncated" in message("task_events_truncated.csv.gz")
    assert "corrupt" in message("task_events_bad_crc.csv.gz")
    assert "not UTF-8" in message("task_events_user_not_utf8_line2.csv")
    assert "machine_id" in message("task_events_machine_id_above_2p53_line4.csv")
