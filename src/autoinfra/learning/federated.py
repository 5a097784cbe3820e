"""Federated averaging of Q-tables: agents in several cells pool what they learnt, not their data.

Paper section 4.1.3: "each agent trains a local model on its dataset ... models are aggregated
centrally to update a global model". For tabular Q-learning the natural aggregate is FedAvg
(McMahan et al., AISTATS 2017) with each entry weighted by how often its owner updated it: an
entry one cell tried a thousand times should outweigh a guess another cell made once, and an entry
nobody tried stays untried (so the merged policy still refuses to act on it).

Only tables that mean the same thing can be averaged: the same state encoding and the same reward.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from autoinfra.core.errors import ConfigError
from autoinfra.policies.scaling.qtable import QTablePolicy


def federated_average(tables: Sequence[QTablePolicy]) -> QTablePolicy:
    """Visit-weighted mean of the tables' Q-values; visits add up. Inputs are left untouched."""
    if not tables:
        raise ConfigError("no tables to average", field="tables")
    first = tables[0]
    for k, t in enumerate(tables[1:], start=1):
        if t.encoding.id != first.encoding.id or t.reward != first.reward:
            raise ConfigError(
                f"table {k} uses encoding {t.encoding.id!r} and reward {t.reward!r}; table 0 uses "
                f"{first.encoding.id!r} and {first.reward!r}: only like tables can be averaged",
                field=f"tables[{k}]",
            )
    visits = np.stack([t.visits for t in tables]).astype(np.float64)
    q = np.stack([t.q for t in tables])
    total = visits.sum(axis=0)
    merged = np.divide((q * visits).sum(axis=0), total, out=np.zeros_like(total), where=total > 0)
    return QTablePolicy(
        merged,
        total.astype(np.int64),
        encoding=first.encoding.id,
        reward=first.reward,
        provenance={
            "federated_average": [t.provenance for t in tables],
            "weighting": "per-entry visit counts (FedAvg, McMahan et al. 2017)",
        },
        agent=first.agent,
        priority=first.priority,
    )
