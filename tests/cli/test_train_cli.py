"""``autoinfra train``: trains on the training window only, writes a reproducible artifact."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from autoinfra.cli.train import train
from autoinfra.learning.pipeline import TrainSettings, training_windows
from autoinfra.policies.scaling.qtable import QTablePolicy
from autoinfra.traces import load_workload, split_windows

SMALL = ["--episodes", "2", "--machines", "40", "--episode-s", "600", "--seed", "3"]
MODELS = Path(__file__).resolve().parents[2] / "src" / "autoinfra" / "data" / "models"


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    a = typer.Typer()
    a.command()(train)
    return a


def test_same_command_same_bytes(app: typer.Typer, tmp_path: Path) -> None:
    runner = CliRunner()
    first = runner.invoke(app, [*SMALL, "--out", str(tmp_path / "a.json"), "--no-progress"])
    assert first.exit_code == 0, first.output
    second = runner.invoke(app, [*SMALL, "--out", str(tmp_path / "b.json"), "--no-progress"])
    assert second.exit_code == 0, second.output
    a, b = (tmp_path / "a.json").read_bytes(), (tmp_path / "b.json").read_bytes()
    assert a == b
    assert "train window" in first.output and "never trained on" in first.output
    policy = QTablePolicy.load(tmp_path / "a.json")
    prov = policy.provenance
    assert prov["command"] == (
        "autoinfra train --algo qlearning --episodes 2 --seed 3 --machines 40 "
        "--train-fraction 0.5 --episode-s 600 --decision-period-s 15"
    )
    assert prov["seed"] == 3 and prov["versions"]["autoinfra"]
    assert re.fullmatch(r"[0-9a-f]{64}", prov["code_sha256"])
    assert all(re.fullmatch(r"[0-9a-f]{64}", h) for h in prov["trace"]["files_sha256"].values())
    assert int(policy.visits.sum()) == prov["training"]["transitions"] > 0


def test_other_seed_other_table(app: typer.Typer, tmp_path: Path) -> None:
    runner = CliRunner()
    args = [*SMALL[:-1], "4", "--out", str(tmp_path / "c.json"), "--no-progress"]
    assert runner.invoke(app, args).exit_code == 0
    runner.invoke(app, [*SMALL, "--out", str(tmp_path / "a.json"), "--no-progress"])
    assert (tmp_path / "c.json").read_bytes() != (tmp_path / "a.json").read_bytes()


def test_training_never_reads_the_evaluation_window() -> None:
    spec = TrainSettings(episodes=1, machines=40, episode_s=600.0, seed=3)
    pieces, train_w, eval_w = training_windows(spec)
    full = load_workload(seed=3)
    split = split_windows(full.end_s - full.start_s, 0.5)
    assert train_w == tuple(split.train) and eval_w == tuple(split.evaluation)
    assert train_w[1] <= eval_w[0]
    base = float(full.meta["trace_offset_s"])
    for piece in pieces:
        start = float(piece.meta["trace_offset_s"]) - base
        assert train_w[0] <= start and start + piece.end_s <= train_w[1] + 1e-6


def test_bad_options_fail_clearly(app: typer.Typer, tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["--algo", "sarsa", "--out", str(tmp_path / "x.json")])
    assert result.exit_code != 0 and "qlearning or ppo" in result.output


def test_the_shipped_table_is_documented_and_loads() -> None:
    policy = QTablePolicy.default()
    readme = (MODELS / "README.md").read_text()
    assert policy.provenance["command"] in readme
    assert (
        policy.provenance["windows"]["train_s"][1]
        <= policy.provenance["windows"]["evaluation_s"][0]
    )
    doc = json.loads((MODELS / "qtable-scaling-v1.json").read_text())
    assert doc["version"] == 1 and doc["encoding"] == "scale-state-v1"


@pytest.mark.rl
def test_ppo_writes_a_model_the_experiment_accepts(app: typer.Typer, tmp_path: Path) -> None:
    pytest.importorskip("stable_baselines3")
    from autoinfra.experiments.models import check_windows, describe_model

    out = tmp_path / "ppo.zip"
    args = ["--algo", "ppo", "--episodes", "1", "--machines", "20", "--episode-s", "300"]
    result = CliRunner().invoke(app, [*args, "--out", str(out), "--no-progress"])
    assert result.exit_code == 0, result.output
    model = describe_model(out)
    assert model["kind"] == "ppo" and out.with_suffix(".json").is_file()
    prov = model["provenance"]
    assert prov["command"].startswith("autoinfra train --algo ppo")
    # trained on the first half: an experiment evaluating the second half may use it
    end = prov["windows"]["train_s"][1]
    files = prov["trace"]["files_sha256"]
    assert "before the evaluated window" in check_windows(model, files, (end, end + 1800.0))


def test_training_on_a_trace_cut_from_the_middle_warns(app: typer.Typer, tmp_path: Path) -> None:
    from tests.traces.midlife import mid_life_trace

    trace = mid_life_trace(tmp_path / "later", first_part=2)
    args = ["--episodes", "1", "--machines", "40", "--episode-s", "600", "--no-progress"]
    result = CliRunner().invoke(app, [*args, "--trace", str(trace), "--out",
                                      str(tmp_path / "m.json")])  # fmt: skip
    assert result.exit_code == 0, result.output  # parts 2-3 still hold services to learn on
    assert "warning:" in result.output and "mid-life" in result.output


def test_a_trace_span_is_part_of_the_artifacts_command() -> None:
    from autoinfra.core.errors import ConfigError

    spec = TrainSettings(trace_span=(10000.0, 18000.0))
    assert "--trace-span 10000:18000 " in spec.command()
    assert "--trace-span" not in TrainSettings().command()  # the shipped table's command stays
    assert "--silent-tasks none " in TrainSettings(silent_tasks="none").command()
    assert "--silent-tasks" not in TrainSettings().command()
    with pytest.raises(ConfigError, match="trace_span"):
        TrainSettings(trace_span=(5.0, 1.0))
