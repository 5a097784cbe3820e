"""The simulator's numba kernels: the sequential inner loops, one module per job.

- ``slots``: moving tasks in and out of running-task slots (placement with preemption,
  completion, eviction); ``search``: the helpers of a placement round;
- ``queue``: merging the pending queue; ``usage``: re-spreading service demand, rebuilding usage;
- ``tick``: the per-tick pass (contention, network, power, service levels, cluster totals);
- ``observe``: what an ``Observation`` carries, in one pass over machines and services;
- ``probe``: one service's figures and the powered totals, for ``sim.probe`` (a learner's step);
- ``jit``: keeping numba's on-disk cache honest when a file a kernel compiles in changes.

Only ``autoinfra.sim.state``, ``autoinfra.sim.observe`` and ``autoinfra.sim.probe`` call these;
nothing outside the simulator should (the row layouts they read are private to it).
"""
