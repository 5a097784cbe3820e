"""Policies: deciding, inference only. Forecasters, repair rules, consolidation, failure
prediction, scaling rules and (from their own modules) the Q-table, PPO and Kubernetes policies,
each under a versioned id in :mod:`autoinfra.policies.registry`.

Submodules are not imported here: each is loaded when used, so ``import autoinfra.policies`` stays
cheap and heavy dependencies (scikit-learn, torch) load only for the policies that need them.
"""

from autoinfra.policies.registry import (
    PolicySpec,
    list_policies,
    make_policy,
    policy_spec,
    register_policy,
)

__all__ = ["PolicySpec", "list_policies", "make_policy", "policy_spec", "register_policy"]
