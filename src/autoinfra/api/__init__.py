"""The operator's face: an authenticated, role-checked web API over a running agent runtime.

``autoinfra serve`` builds the app (``autoinfra.api.app.create_app``) over a
:class:`~autoinfra.api.service.ClusterService` (the API never touches a simulator or a cluster
directly; ``SimClusterService`` is the simulated one). FastAPI and uvicorn are imported only inside
this package, and only when a server is built, so ``import autoinfra`` stays light. See
``src/autoinfra/api/README.md`` for authentication, sessions and CSRF.
"""
