"""The local backend as the conformance suite and the local tests build it: small and bounded.

Each factory call is a fresh fleet (2 racks x 2 machines, 2 services of 2 replicas, a short life),
so a failing check cannot leave processes behind for the next: every process carries a deadline of
``duration_s`` and the backend's ``stop`` kills its groups.
"""

from __future__ import annotations

import os
import shutil
import sys

import pytest

from autoinfra.backends.local import build
from autoinfra.backends.local.backend import LocalBackend

# why the local backend cannot run here, or "" when it can
WHY_NOT = (
    "the local backend needs Linux" if not sys.platform.startswith("linux")
    else "the local backend's CPU hog needs stress-ng on PATH" if shutil.which("stress-ng") is None
    else ""
)  # fmt: skip


# namespaces need CAP_SYS_ADMIN: without them the backend runs without links (and says so)
NO_LINKS = "" if os.geteuid() == 0 and shutil.which("ip") else "no netns here: not root or no ip"


def local_factory() -> LocalBackend:
    if WHY_NOT:
        pytest.skip(WHY_NOT)
    return build(
        seed=0,
        scenario=None,
        options={
            "machines": 4,
            "services": 2,
            "replicas": 2,
            "duration_s": 60,
            "rps_per_service": 4,
        },
    )


local_factory.settle_timeout_s = 15.0  # type: ignore[attr-defined]
local_factory.skips = (  # type: ignore[attr-defined]
    {"check_reroute": NO_LINKS, "check_restore_routes": NO_LINKS} if NO_LINKS else {}
)
