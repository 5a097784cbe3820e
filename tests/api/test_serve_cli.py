"""``autoinfra serve``: bad options refused before anything starts; the non-demo build."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from autoinfra.api.build import ServeOptions, build_sim_service
from autoinfra.cli.main import typer_app
from autoinfra.core.errors import ConfigError


def test_tls_options_go_together(tmp_path: Path) -> None:
    cert = tmp_path / "cert.pem"
    cert.write_text("x")
    runner = CliRunner()
    # typer_app raises our ConfigError; the console entry turns it into one line and exit 2
    r = runner.invoke(typer_app, ["serve", "--tls-cert", str(cert)])
    assert isinstance(r.exception, ConfigError) and "go together" in str(r.exception)
    r = runner.invoke(typer_app, ["serve", "--tls-cert", str(cert), "--tls-key", "nope.pem"])
    assert isinstance(r.exception, ConfigError) and "no such file" in str(r.exception)
    assert runner.invoke(typer_app, ["serve", "--port", "70000"]).exit_code == 2


def test_non_demo_build_uses_the_scenario_and_study_threshold(tmp_path: Path) -> None:
    service = build_sim_service(
        ServeOptions(state_dir=tmp_path, demo=False, hours=1.0, scenario="node-failure")
    )
    assert service.sim.scenario.name == "node-failure"
    assert service.runtime.gate.inner.settings.escalate_risk == 0.7  # the PinGate wraps it
    for _ in range(5):
        service.step()
    assert service.status()["ticks"] == 5 and service.status()["mode"] == "simulated"
    service.store.close()
