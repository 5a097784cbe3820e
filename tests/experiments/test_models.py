"""``experiment --model FILE``: which files are models, the window rule, swapping into agents."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from autoinfra.agents.system import System
from autoinfra.core.errors import ConfigError
from autoinfra.experiments.models import check_windows, describe_model, model_params
from autoinfra.experiments.training import _shipped_path

FILES = {"task_events/part-0.csv.gz": "aa", "azure:vm.csv.gz": "bb"}


def _model(train_s: list[float] | None, files: dict[str, str] | None) -> dict[str, object]:
    prov: dict[str, object] = {"windows": {"train_s": train_s}} if train_s else {}
    if files is not None:
        prov["trace"] = {"files_sha256": files}
    return {"kind": "qtable", "path": "m.json", "provenance": prov}


def test_the_shipped_table_is_a_q_table_model() -> None:
    got = describe_model(_shipped_path())
    assert got["kind"] == "qtable" and "command" in got["provenance"]


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"a,b\n1,2\n", "neither JSON nor a zip"),
        (b"\x1f\x8b\x08\x00binary", "neither JSON nor a zip"),
        (b'{"format": "something-else"}', "field 'format'"),
        (b"PK\x03\x04 not really a zip", "a damaged zip"),
    ],
)
def test_files_that_are_not_models_are_refused(tmp_path: Path, content: bytes, needle: str) -> None:
    p = tmp_path / "m.bin"
    p.write_bytes(content)
    with pytest.raises(ConfigError) as err:
        describe_model(p)
    assert needle in str(err.value) and str(p) in str(err.value)
    with pytest.raises(ConfigError, match="no such file"):
        describe_model(tmp_path / "absent.json")


def test_a_zip_without_its_sidecar_is_refused(tmp_path: Path) -> None:
    import zipfile

    p = tmp_path / "ppo.zip"
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("data", "{}")
    with pytest.raises(ConfigError, match=r"missing metadata file ppo\.json"):
        describe_model(p)


def test_windows_are_compared_in_trace_seconds_across_trace_spans() -> None:
    # trained on 0-5000 s of a span that starts at trace second 10,000: 10,000-15,000
    model = _model([0.0, 5000.0], FILES)
    model["provenance"]["windows"]["trace_offset_s"] = 10_000.0  # type: ignore[index]
    # a default study (from 600 s) evaluating 10,022-20,044 s of its window: 10,622-20,644
    with pytest.raises(ConfigError, match="trace seconds 10000-15000"):
        check_windows(model, FILES, (10_022.0, 20_044.0), 600.0)
    # the same relative numbers on a study whose window starts at 20,000 are after the training
    assert "before the evaluated window" in check_windows(model, FILES, (0.0, 5000.0), 20_000.0)


def test_a_model_trained_on_the_evaluated_window_is_refused() -> None:
    evaluated = (1000.0, 2800.0)
    ok = check_windows(_model([0.0, 1000.0], FILES), FILES, evaluated)
    assert "before the evaluated window" in ok
    # in trace seconds: both windows count from the loader's default start, 600 s
    with pytest.raises(ConfigError, match="does not end before the evaluated window 1600-3400"):
        check_windows(_model([0.0, 1400.0], FILES), FILES, evaluated)
    other = {**FILES, "task_events/part-0.csv.gz": "zz"}
    assert "another trace" in check_windows(_model([0.0, 1400.0], other), FILES, evaluated)
    assert "another trace" in check_windows(_model(None, None), FILES, evaluated)
    with pytest.raises(ConfigError, match="no training window"):
        check_windows(_model(None, FILES), FILES, evaluated)


def _agents_with(path: str) -> System:
    from autoinfra.agents import make_system
    from autoinfra.experiments.systems import ensure_registered
    from autoinfra.sim import SimSettings, Simulator
    from tests.learning.factories import small_workload

    ensure_registered()
    sim = Simulator(small_workload(), config=SimSettings(tick_s=5.0), seed=0)
    system = make_system("agents", sim, seed=0, params=model_params(path))
    for _ in range(6):  # the model decides inside the running system
        sim.step()
        system.tick()
    return system


def test_a_q_table_model_is_built_into_the_agents() -> None:
    from autoinfra.policies.scaling.qtable import QTablePolicy

    path = str(_shipped_path())
    assert model_params(path) == {"qtable_path": path}
    system = _agents_with(path)
    # the one-step planner (policies.scaling.plan) decides with the table's targets
    tables = [getattr(getattr(a.policy, "source", None), "policy", a.policy) for a in system.agents]
    assert any(isinstance(t, QTablePolicy) for t in tables)
    assert "Q-table: qtable-scaling-v1.json" in system.description


@pytest.mark.rl
def test_a_ppo_model_from_train_is_used_by_the_agents(tmp_path: Path) -> None:
    pytest.importorskip("stable_baselines3")
    from autoinfra.learning.env import ClusterEnv
    from autoinfra.learning.ppo import PPOSettings, train_ppo
    from autoinfra.learning.scaling_env import ScalingEnvSettings
    from autoinfra.policies.scaling.ppo import PPOPolicy
    from tests.learning.factories import small_workload

    env = ClusterEnv(small_workload(), ScalingEnvSettings(episode_s=300.0))
    config = PPOSettings(total_timesteps=64, n_steps=32, batch_size=16, n_epochs=1)
    path = train_ppo(env, tmp_path / "ppo", seed=0, config=config)
    assert describe_model(path)["kind"] == "ppo"
    assert model_params(str(path)) == {"ppo_path": str(path)}
    system = _agents_with(str(path))
    assert any(isinstance(a.policy, PPOPolicy) for a in system.agents)
    assert "PPO actor: ppo.zip" in system.description


def test_cli_refuses_a_non_model_before_loading_the_trace(tmp_path: Path) -> None:
    bad = tmp_path / "notes.txt"
    bad.write_text("not a model\n")
    proc = subprocess.run(
        [sys.executable, "-c", "from autoinfra.cli.main import app; app()", "experiment",
         "--quick", "--model", str(bad), "--out", str(tmp_path / "o")],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert "notes.txt" in proc.stderr and "autoinfra train" in proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()
