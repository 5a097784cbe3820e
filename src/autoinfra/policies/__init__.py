"""Policies: deciding, inference only. Forecasters, repair rules, consolidation, failure
prediction, and scaling (``policies.scaling``: the Q-table, PPO and target-tracking policies with
their shared action space), and the Kubernetes controllers, each under a versioned id in
``POLICIES`` (:mod:`autoinfra.policies.registry`, one ``core.registry.Registry``).

Submodules are not imported here: each is loaded when used, so ``import autoinfra.policies`` stays
cheap and heavy dependencies (scikit-learn, torch) load only for the policies that need them.
"""

from autoinfra.policies.registry import (
    POLICIES,
    list_policies,
    make_policy,
    policy_spec,
    register_policy,
)

__all__ = ["POLICIES", "list_policies", "make_policy", "policy_spec", "register_policy"]
