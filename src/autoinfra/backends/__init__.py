"""Backends: clusters the agents can run against, each behind the ``core.cluster.Backend`` seam.

``sim`` paces the simulator on the wall clock; ``local`` runs real worker processes on this
machine with real faults; ``kubernetes`` drives an API server (kmock in the tests). Entries are
lazy ``"module:function"`` strings, so choosing ``sim`` never imports the kubernetes client.

Every factory has one signature::

    build(*, seed: int, scenario: FaultScenario, options: Mapping[str, Any]) -> Backend

``options`` are the backend's own settings (``speed``, ``machines``, ``dry_run``...); a factory
refuses keys it does not know with a ``ConfigError`` naming them. The backend is returned not yet
started: the caller owns ``start()`` / ``stop()``.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from autoinfra.core.cluster import Backend
from autoinfra.core.errors import ConfigError

__all__ = ["BACKENDS", "make_backend"]

BACKENDS: dict[str, str] = {
    "sim": "autoinfra.backends.sim:build",
    "local": "autoinfra.backends.local:build",
    "kubernetes": "autoinfra.backends.kubernetes:build",
}


def make_backend(
    name: str, *, seed: int, scenario: Any, options: Mapping[str, Any] | None = None
) -> Backend:
    """Build (not start) the backend ``name`` for one run."""
    entry = BACKENDS.get(name)
    if entry is None:
        raise ConfigError(
            f"unknown backend {name!r}; expected one of {sorted(BACKENDS)}", field="backend"
        )
    module_name, func_name = entry.split(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"backend {name!r} is not available: {exc}", field="backend") from exc
    factory = getattr(module, func_name)
    backend: Backend = factory(seed=seed, scenario=scenario, options=dict(options or {}))
    return backend
