"""``autoinfra.testing``: a public test kit for anything built on the cluster seam.

- ``FakeCluster``: a tiny, deterministic in-memory ``core.cluster.Backend`` (``testing.fake``);
- ``CHECKS``: the conformance suite every backend passes (``testing.conformance``), as functions
  taking a backend factory, to parametrise in a test module.

The models are httpx's ``MockTransport`` (the same surface, none of the machinery) and kopf's
``testing`` (run the real thing in a test, stop it for sure).
"""

from autoinfra.testing.conformance import CHECKS, BackendFactory, InjectedFault, eventually
from autoinfra.testing.fake import FakeCluster

__all__ = ["CHECKS", "BackendFactory", "FakeCluster", "InjectedFault", "eventually"]
