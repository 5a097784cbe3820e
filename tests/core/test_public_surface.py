"""The top-level package stays light and exports exactly what it means to."""

from __future__ import annotations

import subprocess
import sys

import autoinfra
import autoinfra.core


def test_top_level_exports() -> None:
    assert autoinfra.__all__ == ["__version__"]
    assert isinstance(autoinfra.__version__, str)


def test_core_exports_resolve() -> None:
    for name in autoinfra.core.__all__:
        assert hasattr(autoinfra.core, name), name


def test_import_is_light() -> None:
    # importing the package and its vocabulary must not drag in heavy or optional libraries
    code = (
        "import sys, autoinfra, autoinfra.core; "
        "heavy = [m for m in ('torch','stable_baselines3','ray','matplotlib','numba','sklearn') "
        "if m in sys.modules]; print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
