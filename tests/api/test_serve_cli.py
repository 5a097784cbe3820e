"""``autoinfra serve``: bad options refused before anything starts; the non-demo build."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from autoinfra.api.build import ServeOptions, build_sim_service
from autoinfra.cli.main import typer_app


def test_tls_options_go_together(tmp_path: Path) -> None:
    cert = tmp_path / "cert.pem"
    cert.write_text("x")
    runner = CliRunner()
    # our ConfigError becomes one line naming the field and exit 2 (autoinfra.cli.errors)
    r = runner.invoke(typer_app, ["serve", "--tls-cert", str(cert)])
    assert r.exit_code == 2 and r.stderr.startswith("error: field 'tls': ")
    assert "go together" in r.stderr
    r = runner.invoke(typer_app, ["serve", "--tls-cert", str(cert), "--tls-key", "nope.pem"])
    assert r.exit_code == 2 and "'tls': no such file nope.pem" in r.stderr
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
