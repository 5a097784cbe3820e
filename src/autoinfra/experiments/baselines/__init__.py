"""The systems the autonomous agents are compared with: Kubernetes defaults, a human operator, and
a control that does nothing. Each module has a ``build(sim, *, seed, params=None) -> System``
factory, registered lazily by name in ``autoinfra.experiments.systems``.
"""
