"""The Kubernetes API as the backend uses it: one client, errors turned into one-line errors.

This package is the only place that imports the official ``kubernetes`` client (an import-linter
contract says so). ``connect`` builds the API objects from a kubeconfig (``KUBECONFIG`` or the
path given; in-cluster config when running in a pod) or from an explicit ``host`` (tests point it
at kmock). ``call`` wraps every request so that a failure surfaces as an ``AutoinfraError`` that
names the object and what was expected: 403 -> ``PermissionDenied`` ("no permission to patch
nodes/n1"), 404 -> ``ActionError``, connection refused -> ``ActionError`` naming the server. The
CLI turns those into one line and exit code 2.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import kubernetes.client as k8s
import kubernetes.config as k8s_config
import urllib3
from kubernetes.client.exceptions import ApiException

from autoinfra.core.errors import ActionError, ConfigError, PermissionDenied

__all__ = ["Api", "ApiException", "call", "connect"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Api:
    core: k8s.CoreV1Api
    apps: k8s.AppsV1Api
    policy: k8s.PolicyV1Api
    host: str
    client: k8s.ApiClient

    def close(self) -> None:
        self.client.close()


def connect(*, kubeconfig: str | None = None, host: str | None = None,
            context: str | None = None, timeout_s: float = 5.0) -> Api:  # fmt: skip
    """API objects for one cluster; ConfigError (one line) when there is no config to use."""
    cfg = k8s.Configuration()
    if host:
        cfg.host = host
    else:
        path = kubeconfig or os.environ.get("KUBECONFIG")
        if path:
            first = path.split(os.pathsep)[0]
            if not Path(first).is_file():
                raise ConfigError(f"kubeconfig {first} does not exist", field="kubeconfig")
            try:
                k8s_config.load_kube_config(config_file=first, context=context,
                                            client_configuration=cfg)  # fmt: skip
            except (k8s_config.ConfigException, OSError, ValueError) as exc:
                raise ConfigError(f"kubeconfig {first} is not usable: {exc}",
                                  field="kubeconfig") from exc  # fmt: skip
        elif os.environ.get("KUBERNETES_SERVICE_HOST"):
            k8s_config.load_incluster_config(client_configuration=cfg)
        else:
            raise ConfigError(
                "no kubeconfig: set KUBECONFIG or pass --backend-opt kubeconfig=PATH",
                field="kubeconfig",
            )
    cfg.retries = urllib3.Retry(total=1, connect=1, read=0, backoff_factor=0.1)
    client = k8s.ApiClient(cfg)
    client.rest_client.pool_manager.connection_pool_kw["timeout"] = urllib3.Timeout(
        connect=timeout_s, read=timeout_s
    )
    return Api(k8s.CoreV1Api(client), k8s.AppsV1Api(client), k8s.PolicyV1Api(client),
               str(cfg.host), client)  # fmt: skip


def call(what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run one API request; ``what`` names it in errors ("patch nodes/n1")."""
    try:
        return fn(*args, **kwargs)
    except ApiException as exc:
        if exc.status == 403:
            raise PermissionDenied(
                f"no permission to {what} (HTTP 403 from the API server)"
            ) from exc
        if exc.status == 401:
            raise PermissionDenied(f"not authenticated to {what} (HTTP 401)") from exc
        if exc.status == 404:
            raise ActionError(f"cannot {what}: not found (HTTP 404)") from exc
        raise
    except urllib3.exceptions.HTTPError as exc:
        raise ActionError(f"cannot {what}: the API server does not answer ({exc})") from exc
