"""Federated averaging of the failure model: each region learns on its own machines, only weights
travel.

Paper section 4.1.3 (federated learning) and McMahan et al., "Communication-Efficient Learning of
Deep Networks from Decentralized Data" (AISTATS 2017): every round the aggregator sends the global
weights; each region starts from them, runs ``local_epochs`` of mini-batch SGD on its own rows
(features of ``policies.failure``: a machine's event history) and sends back its weights and how
many rows it trained on; the new global model is the row-weighted mean. A region's rows never
leave ``RegionTrainer``: what it sends is a fixed-size ``WeightMessage``.

The model is a logistic regression (``"linear"``) or a one-hidden-layer tanh network (``"mlp"``),
written here in numpy so that its weights are one explicit vector of known size (what goes on the
wire) and local training is deterministic for a seed. Features are transformed by a fixed,
data-independent map (``log1p`` over nominal scales) so regions need not share statistics either.
Classes are balanced locally (positives are ~0.1 % of machine-hours).

Transport: anything with ``publish(subject, data: bytes)`` and ``drain() -> list[bytes]`` (the
messages received on its subscriptions since the last drain), so the lead can wire it to the bus
(coordination.bus on branch ``coord``); ``MemoryHub`` is the in-memory one the tests and the
bench use. Subjects: ``fedavg.<model_id>.global`` (aggregator to regions) and
``fedavg.<model_id>.update`` (regions to the aggregator).
"""

from __future__ import annotations

import struct
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np
import numpy.typing as npt

from autoinfra.core.errors import ConfigError
from autoinfra.policies.failure import FailurePredictor

__all__ = [
    "FedAvgSettings",
    "FederatedAggregator",
    "FederatedFailurePredictor",
    "MemoryHub",
    "RegionTrainer",
    "Transport",
    "WeightMessage",
    "features_to_inputs",
    "fedavg",
    "init_weights",
    "predict",
    "run_rounds",
    "train_local",
]

F64 = npt.NDArray[np.float64]
Bool = npt.NDArray[np.bool_]
# nominal scale of each failure feature (policies.failure.FEATURES): log1p(x) / log1p(scale)
_SCALES = np.array([10.0, 10.0, 50.0, 5.0, 172_800.0, 172_800.0, 1.0, 1.0, 10.0])
_MAGIC = b"FAV1"
_HEADER = struct.Struct("<4sBxHII")  # magic, version, region, round, rows trained on
_VERSION = 1


@dataclass(frozen=True, slots=True)
class FedAvgSettings:
    model: Literal["linear", "mlp"] = "linear"
    hidden: int = 16  # mlp hidden units
    rounds: int = 20
    local_epochs: int = 2  # passes over a region's rows per round
    batch: int = 256
    lr: float = 0.1  # SGD step
    l2: float = 1e-4
    seed: int = 0

    def __post_init__(self) -> None:
        if self.model not in ("linear", "mlp"):
            raise ConfigError(f"expected 'linear' or 'mlp', got {self.model!r}", field="model")
        for name in ("hidden", "rounds", "local_epochs", "batch"):
            if getattr(self, name) < 1:
                raise ConfigError(f"expected >= 1, got {getattr(self, name)}", field=name)
        if not (self.lr > 0 and self.l2 >= 0):
            raise ConfigError("expected lr > 0 and l2 >= 0", field="lr")

    @property
    def dim(self) -> int:
        d = _SCALES.shape[0]
        return d + 1 if self.model == "linear" else d * self.hidden + 2 * self.hidden + 1

    @property
    def model_id(self) -> str:
        return "failure-linear" if self.model == "linear" else f"failure-mlp{self.hidden}"


def features_to_inputs(x: F64) -> F64:
    """The fixed map from failure features to model inputs (no statistics of anyone's data)."""
    if x.ndim != 2 or x.shape[1] != _SCALES.shape[0]:
        raise ConfigError(f"expected rows of {_SCALES.shape[0]} features, got {x.shape}", field="x")
    return np.log1p(np.maximum(x, 0.0)) / np.log1p(_SCALES)


def init_weights(s: FedAvgSettings) -> F64:
    rng = np.random.default_rng(s.seed)
    w = np.zeros(s.dim)
    if s.model == "mlp":
        d, h = _SCALES.shape[0], s.hidden
        w[: d * h] = rng.normal(0.0, 1.0 / np.sqrt(d), d * h)
        w[d * h + h : d * h + 2 * h] = rng.normal(0.0, 1.0 / np.sqrt(h), h)
    return w


def _forward(w: F64, z: F64, s: FedAvgSettings) -> tuple[F64, F64 | None]:
    d = _SCALES.shape[0]
    if s.model == "linear":
        return z @ w[:d] + w[d], None
    h = s.hidden
    w1, b1 = w[: d * h].reshape(d, h), w[d * h : d * h + h]
    w2, b2 = w[d * h + h : d * h + 2 * h], w[-1]
    a = np.tanh(z @ w1 + b1)
    return a @ w2 + b2, a


def predict(w: F64, x: F64, s: FedAvgSettings) -> F64:
    """Risk in (0, 1) for feature rows."""
    logit, _ = _forward(w, features_to_inputs(x), s)
    return 1.0 / (1.0 + np.exp(-np.clip(logit, -50, 50)))


def _grad(w: F64, z: F64, y: F64, sw: F64, s: FedAvgSettings) -> F64:
    logit, a = _forward(w, z, s)
    p = 1.0 / (1.0 + np.exp(-np.clip(logit, -50, 50)))
    r = sw * (p - y) / max(1e-12, float(sw.sum()))  # d loss / d logit, weighted mean
    d = _SCALES.shape[0]
    g = np.zeros_like(w)
    if s.model == "linear":
        g[:d], g[d] = z.T @ r, r.sum()
    else:
        assert a is not None
        h = s.hidden
        w2 = w[d * h + h : d * h + 2 * h]
        g[d * h + h : d * h + 2 * h], g[-1] = a.T @ r, r.sum()
        da = np.outer(r, w2) * (1 - a * a)
        g[: d * h] = (z.T @ da).ravel()
        g[d * h : d * h + h] = da.sum(axis=0)
    return g + s.l2 * w


def train_local(w0: F64, x: F64, y: Bool, s: FedAvgSettings, rng: np.random.Generator) -> F64:
    """``local_epochs`` of mini-batch SGD from ``w0`` on one region's rows, classes balanced."""
    z, yf = features_to_inputs(x), y.astype(np.float64)
    n_pos = max(1, int(y.sum()))
    sw = np.where(y, (y.shape[0] - n_pos) / n_pos, 1.0)
    w = w0.copy()
    for _ in range(s.local_epochs):
        order = rng.permutation(y.shape[0])
        for i in range(0, order.size, s.batch):
            b = order[i : i + s.batch]
            w -= s.lr * _grad(w, z[b], yf[b], sw[b], s)
    return w


def fedavg(weights: Sequence[F64], rows: Sequence[int]) -> F64:
    """Row-weighted mean of the regions' weights (McMahan et al.'s FedAvg step)."""
    if not weights or len(weights) != len(rows) or sum(rows) <= 0:
        raise ConfigError(
            "need as many weight vectors as row counts, with rows > 0", field="weights"
        )
    n = np.asarray(rows, dtype=np.float64)
    return np.asarray((np.stack(weights) * n[:, None]).sum(axis=0) / n.sum(), dtype=np.float64)


@dataclass(frozen=True, slots=True)
class WeightMessage:
    """What travels: region, round, rows trained on, and the weight vector. Nothing else."""

    region: int
    round: int
    rows: int
    weights: F64

    def encode(self) -> bytes:
        return (
            _HEADER.pack(_MAGIC, _VERSION, self.region, self.round, self.rows)
            + np.asarray(self.weights, dtype="<f8").tobytes()
        )

    @classmethod
    def decode(cls, data: bytes, dim: int) -> WeightMessage:
        """Parse and validate: a wrong size, magic, version or a non-finite weight is refused."""
        if len(data) != _HEADER.size + 8 * dim:
            raise ConfigError(
                f"weight message of {len(data)} bytes, expected {_HEADER.size + 8 * dim}",
                field="message",
            )
        magic, version, region, rnd, rows = _HEADER.unpack_from(data)
        if magic != _MAGIC or version != _VERSION:
            raise ConfigError(
                f"not a v{_VERSION} weight message ({magic!r} v{version})", field="message"
            )
        w = np.frombuffer(data, dtype="<f8", offset=_HEADER.size).astype(np.float64)
        if not np.all(np.isfinite(w)):
            raise ConfigError("weight message with non-finite weights", field="message.weights")
        return cls(region, rnd, rows, w)


class Transport(Protocol):
    def publish(self, subject: str, data: bytes) -> None: ...

    def drain(self) -> list[bytes]: ...


class MemoryHub:
    """In-memory publish/subscribe: ``endpoint(subjects)`` gives a ``Transport``."""

    def __init__(self) -> None:
        self._queues: dict[str, list[list[bytes]]] = defaultdict(list)
        self.sent: list[tuple[str, bytes]] = []  # every message, for tests and byte counts

    def endpoint(self, *subjects: str) -> _Endpoint:
        inbox: list[bytes] = []
        for subject in subjects:
            self._queues[subject].append(inbox)
        return _Endpoint(self, inbox)

    def _publish(self, subject: str, data: bytes) -> None:
        self.sent.append((subject, bytes(data)))
        for inbox in self._queues.get(subject, []):
            inbox.append(bytes(data))


class _Endpoint:
    def __init__(self, hub: MemoryHub, inbox: list[bytes]) -> None:
        self._hub, self._inbox = hub, inbox

    def publish(self, subject: str, data: bytes) -> None:
        self._hub._publish(subject, data)

    def drain(self) -> list[bytes]:
        out, self._inbox[:] = list(self._inbox), []
        return out


class RegionTrainer:
    """One region: its rows stay here; it answers each global model with a trained update."""

    def __init__(
        self, region: int, x: F64, y: Bool, transport: Transport, s: FedAvgSettings
    ) -> None:
        if x.shape[0] != y.shape[0] or x.shape[0] == 0:
            raise ConfigError(
                f"region {region}: {x.shape[0]} rows, {y.shape[0]} labels", field="rows"
            )
        self.region, self.settings, self.transport = region, s, transport
        self._x, self._y = x, y  # private: never serialised
        self._rng = np.random.default_rng([s.seed, region])

    def step(self) -> int:
        """Answer every global model received; returns how many updates were sent."""
        s = self.settings
        sent = 0
        for data in self.transport.drain():
            g = WeightMessage.decode(data, s.dim)
            w = train_local(g.weights, self._x, self._y, s, self._rng)
            msg = WeightMessage(self.region, g.round, int(self._y.shape[0]), w)
            self.transport.publish(f"fedavg.{s.model_id}.update", msg.encode())
            sent += 1
        return sent


class FederatedAggregator:
    """Holds the global model; averages the updates of a round and publishes the next one."""

    def __init__(self, transport: Transport, s: FedAvgSettings) -> None:
        self.transport, self.settings = transport, s
        self.weights = init_weights(s)
        self.round = 0

    def broadcast(self) -> None:
        msg = WeightMessage(0xFFFF, self.round, 0, self.weights)
        self.transport.publish(f"fedavg.{self.settings.model_id}.global", msg.encode())

    def collect(self, expected: int = 0) -> int:
        """Average this round's updates (late or foreign rounds are ignored); returns how many.

        ``expected``: keep draining until that many updates of this round arrived, or a drain
        comes back empty (over a network, where updates arrive after the call starts).
        """
        mine: list[WeightMessage] = []
        while True:
            got = [WeightMessage.decode(d, self.settings.dim) for d in self.transport.drain()]
            mine += [m for m in got if m.round == self.round]
            if len(mine) >= expected or not got:
                break
        if mine:
            self.weights = fedavg([m.weights for m in mine], [m.rows for m in mine])
        self.round += 1
        return len(mine)


def run_rounds(aggregator: FederatedAggregator, regions: Sequence[RegionTrainer]) -> F64:
    """``settings.rounds`` synchronous rounds over any transport; returns the global weights."""
    for _ in range(aggregator.settings.rounds):
        aggregator.broadcast()
        for r in regions:
            r.step()
        aggregator.collect()
    return aggregator.weights


class FederatedFailurePredictor(FailurePredictor):
    """The global weights as a ``FailurePredictor``, so ``FailureDrainPolicy`` drains by them.

    ``threshold`` is the risk at or above which a machine is drained; a region can choose it on
    its own rows (``threshold_for``) without sending them anywhere."""

    def __init__(
        self, weights: F64, settings: FedAvgSettings, threshold: float, *, horizon_s: float = 3600.0
    ) -> None:
        if weights.shape != (settings.dim,):
            raise ConfigError(
                f"expected {settings.dim} weights for {settings.model_id}, got {weights.shape}",
                field="weights",
            )
        super().__init__(horizon_s=horizon_s, threshold=threshold, seed=settings.seed)
        self.fed_settings = settings
        self.model = weights.copy()  # "trained": the drain policy checks ``model is not None``

    def risk(self, x: F64) -> F64:
        return predict(self.model, x, self.fed_settings) if x.shape[0] else np.zeros(0)

    @staticmethod
    def threshold_for(
        weights: F64, x: F64, y: Bool, s: FedAvgSettings, flag_share: float = 0.005
    ) -> float:
        """The default's rule on one region's rows: the top ``flag_share`` of its negatives."""
        return float(np.quantile(predict(weights, x[~y], s), 1.0 - flag_share))
