"""The conformance suite of ``autoinfra.testing`` on every backend (sim and fake here; the local and
kubernetes backends add their factories to ``FACTORIES``)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from autoinfra.backends import make_backend
from autoinfra.core.cluster import Backend
from autoinfra.testing import CHECKS, FakeCluster


def sim_factory() -> Backend:
    # unpaced (one tick per advance) on a small synthetic cell: deterministic and fast
    return make_backend("sim", seed=0, scenario=None, options={"speed": None, "machines": 16})


def fake_factory() -> Backend:
    return FakeCluster()


FACTORIES: dict[str, Callable[[], Backend]] = {"sim": sim_factory, "fake": fake_factory}

from tests.backends.local_factory import local_factory  # noqa: E402

FACTORIES["local"] = local_factory  # real processes; skips where stress-ng or fork is missing

from tests.backends.k8s_factory import kubernetes_factory  # noqa: E402

FACTORIES["kubernetes"] = kubernetes_factory  # on kmock, an emulator of the API server


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__.removeprefix("check_"))
@pytest.mark.parametrize("backend", sorted(FACTORIES))
def test_conformance(backend: str, check: Callable[[Callable[[], Backend]], None]) -> None:
    why_not = getattr(FACTORIES[backend], "skips", {}).get(check.__name__)
    if why_not:
        pytest.skip(why_not)
    check(FACTORIES[backend])


def test_fake_is_a_backend() -> None:
    assert isinstance(FakeCluster(), Backend)
    assert isinstance(sim_factory(), Backend)
