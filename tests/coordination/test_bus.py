"""The bus: subjects, signed and versioned messages, the in-process bus and a real NATS server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from autoinfra.coordination.bus import InProcessBus, MessageRejected, matches, open_envelope, seal
from autoinfra.coordination.bus.messages import FindingBody, ProposalBody, VoteBody
from autoinfra.coordination.bus.subjects import subject
from autoinfra.core.errors import ConfigError
from autoinfra.security.signing import AgentKey, Keyring
from tests.coordination.servers import NatsServer, nats_server

HEALER = AgentKey.generate("healing")
RING = Keyring()
RING.enrol(HEALER)
FINDING = FindingBody(kind="node_failure", target="machine:3", severity=0.9, at_s=12.0)


def _sealed(body: FindingBody = FINDING) -> bytes:
    return seal(HEALER, "finding/v1", body, region="eu-west", cell="a", sent_at_s=1.0).to_bytes()


@pytest.mark.parametrize(
    ("pattern", "name", "hit"),
    [
        ("autoinfra.eu.a.finding", "autoinfra.eu.a.finding", True),
        ("autoinfra.*.a.finding", "autoinfra.us.a.finding", True),
        ("autoinfra.eu.>", "autoinfra.eu.a.vote", True),
        ("autoinfra.eu.>", "autoinfra.eu", False),
        ("autoinfra.eu.*", "autoinfra.eu.a.vote", False),
        ("autoinfra.us.>", "autoinfra.eu.a.vote", False),
    ],
)
def test_subject_matching_follows_nats(pattern: str, name: str, hit: bool) -> None:
    assert matches(pattern, name) is hit


def test_subject_names_are_checked() -> None:
    assert subject("eu-west", "cell-a", "vote") == "autoinfra.eu-west.cell-a.vote"
    with pytest.raises(ConfigError, match="region"):
        subject("EU West", "a", "vote")
    with pytest.raises(ConfigError, match="message kind"):
        subject("eu", "a", "gossip")


def test_a_sealed_message_opens_with_its_body() -> None:
    envelope, body = open_envelope(_sealed(), RING)
    assert envelope.sender == "healing" and body == FINDING


def _tampered(field_path: list[str], value: object) -> bytes:
    raw = json.loads(_sealed())
    node = raw
    for key in field_path[:-1]:
        node = node[key]
    node[field_path[-1]] = value
    return json.dumps(raw).encode()


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"not json", "envelope"),
        (_tampered(["body", "target"], "machine:4"), "bad signature"),
        (_tampered(["sender"], "energy"), "bad signature"),
        (_tampered(["schema"], "finding/v9"), "unknown schema"),
        (_tampered(["body", "extra"], 1), "bad signature"),
        (_tampered(["region"], "EU"), "envelope: region"),
        (b"x" * 70_000, "exceeds"),
    ],
)
def test_bad_messages_are_refused_with_a_reason(raw: bytes, reason: str) -> None:
    with pytest.raises(MessageRejected, match=reason):
        open_envelope(raw, RING)


def test_a_body_that_fails_its_schema_is_refused_even_when_signed() -> None:
    # a sender that signs garbage still gets it refused: the signature is not a licence
    envelope = seal(HEALER, "finding/v1", FINDING, region="eu", cell="a", sent_at_s=1.0)
    bad = envelope.model_copy(update={"body": {**envelope.body, "severity": 7.0}, "signature": ""})
    resigned = bad.model_copy(update={"signature": HEALER.sign(bad.signed_bytes()).hex()})
    with pytest.raises(MessageRejected, match="severity"):
        open_envelope(resigned.to_bytes(), RING)


def test_seal_refuses_a_body_of_another_schema() -> None:
    with pytest.raises(MessageRejected, match="does not match"):
        seal(HEALER, "vote/v1", FINDING, region="eu", cell="a", sent_at_s=1.0)


def test_in_process_bus_delivers_to_matching_subscribers_in_order() -> None:
    bus = InProcessBus()
    region, other = bus.subscribe("autoinfra.eu.>"), bus.subscribe("autoinfra.us.>")
    for i in range(3):
        bus.publish("autoinfra.eu.a.finding", bytes([i]))
    assert region.drain() == [b"\x00", b"\x01", b"\x02"]
    assert other.drain() == []
    region.close()
    bus.publish("autoinfra.eu.a.finding", b"late")
    assert region.drain() == []


@pytest.fixture
def nats(tmp_path: Path) -> Iterator[NatsServer]:
    with nats_server(tmp_path) as server:
        yield server


def test_nats_round_trip_and_durable_delivery_across_a_receiver_restart(nats: NatsServer) -> None:
    from autoinfra.coordination.bus.nats import NatsBus

    sender, receiver = NatsBus(nats.url, name="sender"), NatsBus(nats.url, name="receiver")
    try:
        live = receiver.subscribe("autoinfra.eu.a.finding")
        sender.publish("autoinfra.eu.a.finding", _sealed())
        got = live.drain(timeout_s=2.0)
        assert [open_envelope(m, RING)[1] for m in got] == [FINDING]

        # durable: the receiver's consumer exists, the receiver goes away, messages keep
        durable = receiver.subscribe("autoinfra.eu.a.proposal", durable_name="exec")
        receiver.close()
        body = ProposalBody(request_id="scaling/ab", action={"kind": "x"}, reason="", confidence=1)
        for _ in range(3):
            raw = seal(HEALER, "proposal/v1", body, region="eu", cell="a", sent_at_s=2.0)
            sender.publish("autoinfra.eu.a.proposal", raw.to_bytes(), durable=True)
        again = NatsBus(nats.url, name="receiver-2")
        try:
            resumed = again.subscribe("autoinfra.eu.a.proposal", durable_name="exec")
            assert len(resumed.drain(timeout_s=2.0)) == 3
            assert resumed.drain(timeout_s=0.2) == []  # acknowledged: not delivered twice
        finally:
            again.close()
        del durable
    finally:
        sender.close()


def test_nats_down_is_one_clear_error(tmp_path: Path) -> None:
    from autoinfra.coordination.bus.nats import BusUnavailable, NatsBus
    from tests.coordination.servers import free_port

    url = f"nats://127.0.0.1:{free_port()}"
    with pytest.raises(BusUnavailable, match=f"NATS at {url} is not reachable"):
        NatsBus(url, timeout_s=1.0)


def test_votes_carry_their_own_signature_format() -> None:
    with pytest.raises(ValueError, match="signature"):
        VoteBody(ballot_id="b", digest="0" * 64, approve=True, signature="zz")
