"""Scaling services: the shared action space and encodings, and the policies that decide with them.

Policy is kept apart from algorithm, as Stable-Baselines3 keeps its policies apart from its
algorithms: this package is what runs at decision time, ``autoinfra.learning`` is what trains.

- ``space``: the replica changes (``ACTIONS``), the per-service view, feasibility, replica bounds;
- ``encoding``: the Q-table's discrete states and the PPO actor's feature vector, versioned;
- ``artifacts``: the models' files, written atomically and read strictly (learners write here too);
- ``qtable``: ``QTablePolicy`` (``scaling.qtable-v1``), the greedy action of a learned Q-table;
- ``ppo``: ``PPOPolicy`` (``scaling.ppo-v1``), a trained PPO actor (the ``rl`` extra);
- ``target``: ``TargetTrackingPolicy`` (``scaling.target-v1``), the forecast-driven HPA rule.

Submodules are not imported here, so importing the package never loads torch.
"""
