"""Federated averaging of the failure model: it learns, it averages by rows, its messages are
fixed-size weight vectors validated on receipt, and raw rows never leave a region."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autoinfra.core.errors import ConfigError
from autoinfra.learning.fedavg import (
    FedAvgSettings,
    FederatedAggregator,
    MemoryHub,
    RegionTrainer,
    WeightMessage,
    fedavg,
    predict,
    run_rounds,
)


def _region_rows(seed: int, n: int = 600) -> tuple[np.ndarray, np.ndarray]:
    """Failure-feature-shaped rows: many past removals and a recent one mean a removal soon."""
    rng = np.random.default_rng(seed)
    x = np.column_stack(
        [
            rng.poisson(1.0, n),
            rng.poisson(1.0, n),
            rng.poisson(2.0, n),
            rng.exponential(0.1, n),
            rng.uniform(0, 172_800, n),
            rng.uniform(0, 172_800, n),
            rng.choice([0.25, 0.5, 1.0], n),
            rng.choice([0.25, 0.5, 1.0], n),
            rng.integers(0, 3, n),
        ]
    ).astype(np.float64)
    y = (x[:, 0] >= 3) & (x[:, 4] < 60_000)
    return x, y


def _federation(
    s: FedAvgSettings, data: list[tuple[np.ndarray, np.ndarray]]
) -> tuple[MemoryHub, np.ndarray]:
    hub = MemoryHub()
    agg = FederatedAggregator(hub.endpoint(f"fedavg.{s.model_id}.update"), s)
    regions = [
        RegionTrainer(i, x, y, hub.endpoint(f"fedavg.{s.model_id}.global"), s)
        for i, (x, y) in enumerate(data)
    ]
    return hub, run_rounds(agg, regions)


@pytest.mark.parametrize("model", ["linear", "mlp"])
def test_federated_model_learns_the_shared_signal(model: str) -> None:
    from sklearn.metrics import average_precision_score

    s = FedAvgSettings(model=model, rounds=8, seed=0)  # type: ignore[arg-type]
    _, w = _federation(s, [_region_rows(k) for k in range(3)])
    xt, yt = _region_rows(99)
    ap = average_precision_score(yt, predict(w, xt, s))
    assert ap > 3 * yt.mean()  # far above a random ranking


def test_messages_are_fixed_size_weights_only_and_raw_rows_stay_home() -> None:
    s = FedAvgSettings(model="mlp", hidden=8, rounds=3, seed=1)
    data = [_region_rows(k) for k in range(3)]
    # a canary row with values no weight would take: its bytes must never be sent
    canary = np.array([7.0, 11.0, 13.0, 0.123456789, 98765.4321, 54321.9876, 0.777, 0.333, 2.0])
    x0 = data[0][0].copy()
    x0[5] = canary
    data[0] = (x0, data[0][1])
    hub, _ = _federation(s, data)
    size = 16 + 8 * s.dim
    assert hub.sent and all(len(m) == size for _, m in hub.sent)
    assert {subj for subj, _ in hub.sent} == {
        f"fedavg.{s.model_id}.global",
        f"fedavg.{s.model_id}.update",
    }
    blob = b"".join(m for _, m in hub.sent)
    for v in canary[3:6]:
        assert struct.pack("<d", v) not in blob
        assert struct.pack("<f", v) not in blob
    assert canary.astype("<f8").tobytes() not in blob
    for _, m in hub.sent:
        msg = WeightMessage.decode(m, s.dim)
        assert msg.encode() == m  # the bytes are exactly header + weights, nothing else
        assert msg.rows in (0, 600)  # the global model carries 0; a region its row count


def test_perturbing_one_regions_rows_changes_only_its_weights() -> None:
    s = FedAvgSettings(rounds=2, seed=2)
    data = [_region_rows(k) for k in range(3)]
    hub_a, _ = _federation(s, data)
    x1 = data[1][0].copy()
    x1[:50, 5] += 1234.5  # region 1's raw rows change (same count)
    hub_b, _ = _federation(s, [data[0], (x1, data[1][1]), data[2]])
    a = [WeightMessage.decode(m, s.dim) for _, m in hub_a.sent]
    b = [WeightMessage.decode(m, s.dim) for _, m in hub_b.sent]
    # per round: the global model, then regions 0, 1, 2's updates
    assert [(m.region, m.round, m.rows) for m in a] == [(m.region, m.round, m.rows) for m in b]
    assert [m.region for m in a] == [0xFFFF, 0, 1, 2] * 2
    same = [np.array_equal(ma.weights, mb.weights) for ma, mb in zip(a, b, strict=True)]
    # round 0: only region 1's weights differ; round 1 differs everywhere, but only because the
    # global model (the average of round 0's weights) did
    assert same[:4] == [True, True, False, True]
    assert not any(same[4:])
    np.testing.assert_allclose(
        b[4].weights, fedavg([m.weights for m in b[1:4]], [m.rows for m in b[1:4]])
    )


@settings(max_examples=30, deadline=None)
@given(
    rows=st.lists(st.integers(1, 10_000), min_size=1, max_size=5),
    seed=st.integers(0, 2**16),
)
def test_fedavg_is_the_row_weighted_mean(rows: list[int], seed: int) -> None:
    rng = np.random.default_rng(seed)
    ws = [rng.normal(size=7) for _ in rows]
    got = fedavg(ws, rows)
    want = sum(w * n for w, n in zip(ws, rows, strict=True)) / sum(rows)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    # identical regions average to themselves, whatever their sizes
    np.testing.assert_allclose(fedavg([ws[0]] * len(rows), rows), ws[0], rtol=1e-12)


def test_bad_messages_are_refused() -> None:
    s = FedAvgSettings()
    good = WeightMessage(1, 0, 10, np.zeros(s.dim)).encode()
    with pytest.raises(ConfigError, match="bytes"):
        WeightMessage.decode(good + b"\x00", s.dim)
    with pytest.raises(ConfigError, match="weight message"):
        WeightMessage.decode(b"XXXX" + good[4:], s.dim)
    bad = WeightMessage(1, 0, 10, np.full(s.dim, np.nan)).encode()
    with pytest.raises(ConfigError, match="non-finite"):
        WeightMessage.decode(bad, s.dim)
    with pytest.raises(ConfigError, match="model"):
        FedAvgSettings(model="forest")  # type: ignore[arg-type]


def test_global_model_drives_the_drain_policy() -> None:
    import dataclasses

    from autoinfra.core.actions import DrainMachine
    from autoinfra.learning.fedavg import FederatedFailurePredictor
    from autoinfra.policies.failure import FailureDrainPolicy, machine_history, snapshot
    from tests.agents.fakes import FakeSim

    s = FedAvgSettings(rounds=3, seed=0)
    data = [_region_rows(k) for k in range(2)]
    _, w = _federation(s, data)
    history = machine_history()
    day = 86400.0
    # a region picks its threshold on its own earlier rows (here: half of a day-4 snapshot)
    _, x4, y4 = snapshot(history, 4 * day, 3600.0)
    thr = FederatedFailurePredictor.threshold_for(w, x4, y4, s, flag_share=0.5)
    pred = FederatedFailurePredictor(w, s, thr)
    ids, x, _ = snapshot(history, 6 * day, 3600.0)
    risk = pred.risk(x)
    order = np.argsort(risk, kind="stable")
    pick = np.concatenate([order[:4], order[-4:]])  # the four safest and the four riskiest
    obs = dataclasses.replace(
        FakeSim(n_machines=8).observe(), machine_ids=ids[pick].astype(np.int64)
    )
    out = FailureDrainPolicy(pred, history, trace_offset_s=6 * day, max_drains=8).decide(obs, [])
    want = {slot for slot, k in enumerate(pick.tolist()) if risk[k] >= thr}
    assert 0 < len(want) < 8  # the threshold separates them: the policy has a choice to make
    assert {p.action.machine for p in out if isinstance(p.action, DrainMachine)} == want
    with pytest.raises(ConfigError, match="weights"):
        FederatedFailurePredictor(np.zeros(3), s, 0.5)


def test_federation_over_a_real_nats_server_matches_the_in_memory_one(tmp_path: Path) -> None:
    from autoinfra.coordination.bus.endpoint import BusEndpoint
    from autoinfra.coordination.bus.nats import NatsBus
    from autoinfra.coordination.local_servers import NatsServer, available

    if not available("nats-server"):
        pytest.skip("nats-server is not installed (make test installs it)")
    s = FedAvgSettings(model="linear", rounds=3, seed=2)
    data = [_region_rows(k) for k in range(3)]
    _, expected = _federation(s, data)
    server = NatsServer(tmp_path / "nats")
    server.start()
    buses = [NatsBus(server.url, name=f"fed-{i}") for i in range(4)]  # aggregator + 3 regions
    try:
        update, glob = f"fedavg.{s.model_id}.update", f"fedavg.{s.model_id}.global"
        agg = FederatedAggregator(BusEndpoint(buses[0], update, wait_s=5.0), s)
        regions = [
            RegionTrainer(i, x, y, BusEndpoint(buses[i + 1], glob, wait_s=5.0), s)
            for i, (x, y) in enumerate(data)
        ]
        for _ in range(s.rounds):
            agg.broadcast()
            for r in regions:
                assert r.step() == 1  # each region answered this round's model
            assert agg.collect(expected=len(regions)) == len(regions)  # none lost on the way
        np.testing.assert_allclose(agg.weights, expected, rtol=1e-9, atol=1e-12)
    finally:
        for bus in buses:
            bus.close()
        server.stop()
