"""Spec validation (clear errors naming the field) and the report renderers."""

from __future__ import annotations

from pathlib import Path

import pytest

from autoinfra.core.errors import ConfigError
from autoinfra.experiments.render import (
    Bullets,
    Figure,
    Heading,
    Paragraph,
    Table,
    to_html,
    to_markdown,
)
from autoinfra.experiments.spec import SCALES, RunSpec, build_spec, load_spec_file

KNOWN = ["agents", "kubernetes-defaults", "human", "noop"]


def test_defaults_and_the_run_grid() -> None:
    spec = build_spec({}, known_systems=KNOWN)
    assert spec.scale == SCALES["default"] and spec.seeds == (0, 1, 2, 3, 4) and spec.jobs == 2
    runs = spec.runs()
    assert len(runs) == 4 * 5 * 5
    assert len({r.run_id for r in runs}) == len(runs)


def test_options_override_the_scale() -> None:
    spec = build_spec(
        {
            "scale": "quick",
            "machines": 12,
            "seeds": "3,5",
            "systems": "noop,human",
            "faults": ["none"],
            "window_s": 600,
        },
        known_systems=KNOWN,
    )
    assert spec.scale.machines == 12 and spec.scale.window_s == 600.0
    # the report describes the scale that runs, not the named one it started from
    assert spec.scale.description == "12 machines sampled from the cell, 10 min"
    assert spec.seeds == (3, 5) and spec.systems == ("noop", "human")
    big = build_spec({"machines": 600}, known_systems=KNOWN).scale
    assert big.description == "600 machines sampled from the cell, 1 h"
    assert build_spec({"window_s": 90}, known_systems=KNOWN).scale.description == (
        "300 machines sampled from the cell, 90 s"
    )
    cell = build_spec({"scale": "cell", "window_s": 7200}, known_systems=KNOWN).scale
    assert cell.description == "the whole cell, 2 h"
    assert build_spec({"seeds": 2}, known_systems=KNOWN).seeds == (0, 1)


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"systems": "agents,skynet"}, "systems[1]"),
        ({"scale": "galaxy"}, "scale"),
        ({"seeds": "1,-2"}, "seeds"),
        ({"seeds": "1,1"}, "seeds"),
        ({"jobs": 0}, "jobs"),
        ({"jobs": 1.5}, "jobs"),
        ({"executor": "slurm"}, "executor"),
        ({"machines": "many"}, "machines"),
        ({"train_fraction": 1.0}, "train_fraction"),
        ({"colour": "blue"}, "colour"),
        ({"system_params": {"human": 3}}, "system_params.human"),
        ({"faults": []}, "faults"),
    ],
)
def test_bad_input_names_the_field(data: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigError) as info:
        build_spec(data, known_systems=KNOWN, source="spec.yaml")
    assert info.value.field == field
    assert "spec.yaml" in str(info.value)


def test_spec_files(tmp_path: Path) -> None:
    good = tmp_path / "s.yaml"
    good.write_text("scale: quick\nsystems: [noop]\n")
    assert load_spec_file(good) == {"scale": "quick", "systems": ["noop"]}
    bad = tmp_path / "b.yaml"
    bad.write_text("scale: [quick\n")
    with pytest.raises(ConfigError, match=r"b\.yaml"):
        load_spec_file(bad)
    listy = tmp_path / "l.json"
    listy.write_text("[1, 2]")
    with pytest.raises(ConfigError, match="mapping"):
        load_spec_file(listy)
    with pytest.raises(ConfigError, match="cannot read"):
        load_spec_file(tmp_path / "missing.yaml")


def test_run_id_of_a_scenario_file() -> None:
    assert RunSpec("noop", "/tmp/x/my-storm.yaml", 2).run_id == "noop__my-storm__seed2"


def test_markdown_and_html_say_the_same_things(tmp_path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    fig.savefig(tmp_path / "p.png")
    plt.close(fig)
    blocks = [
        Heading("Title", 1),
        Paragraph("a `code` <b>not bold</b>"),
        Bullets(("one", "two | three")),
        Table(("a", "b"), (("1", "x|y"),), "cap"),
        Figure("p.png", "a line"),
    ]
    md = to_markdown(blocks)
    assert "# Title" in md and "- two | three" in md and "| 1 | x\\|y |" in md
    assert "![a line](p.png)" in md
    html = to_html(blocks, base_dir=tmp_path, title="t")
    assert "<code>code</code>" in html and "&lt;b&gt;not bold&lt;/b&gt;" in html
    assert "data:image/png;base64," in html and "<caption>cap</caption>" in html
