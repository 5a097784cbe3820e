"""Suite-wide test settings.

In CI (``CI=true``) every optional extra is installed, so a test skipped because an import failed
means a broken install, not a missing option: it is turned into a failure instead of passing
quietly.

Hypothesis: in CI the examples are derandomised (the same examples every run), so a red CI run
means the change broke something, never that the search happened on an old bug that day.
Elsewhere each run draws fresh examples and keeps finding new cases (``--hypothesis-seed N``
replays one draw); a case it finds becomes a plain regression test.
"""

from __future__ import annotations

import os
from collections.abc import Generator
from pathlib import Path

import pytest
from hypothesis import settings

_IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}

settings.register_profile("ci", derandomize=True, print_blob=True)
if _IN_CI:
    settings.load_profile("ci")


@pytest.fixture(autouse=True)
def _isolated_cache(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # every test session writes its trace cache under pytest's temp dir, never the user's home
    cache = tmp_path_factory.getbasetemp() / "autoinfra-cache"
    monkeypatch.setenv("AUTOINFRA_CACHE_DIR", str(cache))
    # tokens, server state and audit keys too: a test never reads or writes ~/.autoinfra
    home = tmp_path_factory.getbasetemp() / "autoinfra-home"
    monkeypatch.setenv("AUTOINFRA_HOME", str(home))
    monkeypatch.setenv("AUTOINFRA_KEY_DIR", str(home / "keys"))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None]:
    outcome = yield
    report = outcome.get_result()
    if _IN_CI and report.skipped and call.excinfo is not None:
        reason = str(call.excinfo.value)
        if "could not import" in reason or "No module named" in reason:
            report.outcome = "failed"
            report.longrepr = f"optional dependency missing in CI: {reason}"


def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent
