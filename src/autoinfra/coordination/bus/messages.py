"""What agents say to each other over a bus: versioned, signed envelopes, validated on receipt.

Everything that crosses a process or a region boundary is an :class:`Envelope`: a schema name with
its version (``finding/v1``), the sender's identity, where it comes from (region and cell), when it
was sent, a body, and the sender's Ed25519 signature over all of that. A receiver
(:func:`open_envelope`) refuses, with a one-line reason, anything that fails its schema, names a
schema or version it does not know, or is not signed by the identity it claims. Nothing refused is
acted on.

Bodies are pydantic models with unknown fields forbidden, so a sender on a newer schema cannot
slip a field past an older receiver: it must bump the version, and the receiver then says it does
not speak it.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from autoinfra.core.errors import AutoinfraError
from autoinfra.security.signing import AgentKey, Keyring

__all__ = [
    "SCHEMAS",
    "Envelope",
    "FindingBody",
    "MessageRejected",
    "OfferBody",
    "OutcomeBody",
    "ProposalBody",
    "ShiftAckBody",
    "ShiftBody",
    "VoteBody",
    "open_envelope",
    "seal",
]

MAX_MESSAGE_BYTES = 64 * 1024  # well above any body we send; a bigger one is refused unread


class MessageRejected(AutoinfraError):
    """A message failed its schema, its version or its signature; it is never acted on."""


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class FindingBody(_Body):
    kind: str = Field(min_length=1, max_length=64)
    target: str = Field(min_length=1, max_length=128)
    severity: float = Field(ge=0.0, le=1.0)
    at_s: float


class ProposalBody(_Body):
    request_id: str = Field(min_length=1, max_length=128)
    action: dict[str, Any]
    reason: str = Field(max_length=2000)
    confidence: float = Field(ge=0.0, le=1.0)


class VoteBody(_Body):
    ballot_id: str = Field(min_length=1, max_length=128)
    digest: str = Field(pattern=r"^[0-9a-f]{64}$")
    approve: bool
    signature: str = Field(pattern=r"^[0-9a-f]{128}$")  # the quorum vote's own signature


class OutcomeBody(_Body):
    request_id: str = Field(min_length=1, max_length=128)
    status: Literal["succeeded", "failed", "rolled_back"]
    detail: str = Field(default="", max_length=2000)


class OfferBody(_Body):
    """What a region tells the others about itself (paper 3.3, load shifting for energy)."""

    price: float = Field(ge=0.0, le=1e6)  # energy price now, per kWh (any unit, all regions alike)
    spare_share: float = Field(ge=0.0, le=1.0)  # of its powered CPU not in use
    at_s: float  # the sender's simulated or wall time


class ShiftBody(_Body):
    """A move of traffic share from the sender to ``to_region``: ``delta_share`` of every
    geo-replicated service. The receiver answers with a :class:`ShiftAckBody`."""

    shift_id: str = Field(min_length=1, max_length=128)
    to_region: str = Field(pattern=r"^[a-z0-9-]{1,32}$")
    delta_share: float = Field(gt=0.0, le=1.0)


class ShiftAckBody(_Body):
    shift_id: str = Field(min_length=1, max_length=128)
    accepted: bool
    reason: str = Field(default="", max_length=200)


SCHEMAS: dict[str, type[_Body]] = {
    "finding/v1": FindingBody,
    "proposal/v1": ProposalBody,
    "vote/v1": VoteBody,
    "outcome/v1": OutcomeBody,
    "offer/v1": OfferBody,
    "shift/v1": ShiftBody,
    "shift-ack/v1": ShiftAckBody,
}


class Envelope(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    schema_: str = Field(alias="schema", min_length=1, max_length=32)
    sender: str = Field(min_length=1, max_length=128)
    region: str = Field(pattern=r"^[a-z0-9-]{1,32}$")
    cell: str = Field(pattern=r"^[a-z0-9-]{1,32}$")
    sent_at_s: float
    body: dict[str, Any]
    signature: str = Field(default="", pattern=r"^([0-9a-f]{128})?$")

    def signed_bytes(self) -> bytes:
        unsigned = self.model_dump(by_alias=True, exclude={"signature"})
        return (
            b"autoinfra-envelope/v1"
            + json.dumps(unsigned, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()
        )

    def to_bytes(self) -> bytes:
        return self.model_dump_json(by_alias=True).encode()


def seal(
    key: AgentKey, schema: str, body: _Body, *, region: str, cell: str, sent_at_s: float
) -> Envelope:
    """An envelope for ``body`` signed by ``key``'s identity."""
    if SCHEMAS.get(schema) is not type(body):
        raise MessageRejected(f"body {type(body).__name__} does not match schema {schema!r}")
    unsigned = Envelope(
        schema=schema,
        sender=key.name,
        region=region,
        cell=cell,
        sent_at_s=sent_at_s,
        body=body.model_dump(),
    )
    return unsigned.model_copy(update={"signature": key.sign(unsigned.signed_bytes()).hex()})


def open_envelope(raw: bytes, keyring: Keyring) -> tuple[Envelope, BaseModel]:
    """Parse, check the schema and version, verify the signature, and validate the body."""
    if len(raw) > MAX_MESSAGE_BYTES:
        raise MessageRejected(f"message of {len(raw)} bytes exceeds {MAX_MESSAGE_BYTES}")
    try:
        envelope = Envelope.model_validate_json(raw)
    except ValidationError as exc:
        raise MessageRejected(f"envelope: {_first_error(exc)}") from None
    model = SCHEMAS.get(envelope.schema_)
    if model is None:
        raise MessageRejected(
            f"unknown schema {envelope.schema_!r}; this receiver speaks {sorted(SCHEMAS)}"
        )
    if not envelope.signature or not keyring.verify(
        envelope.sender, envelope.signed_bytes(), bytes.fromhex(envelope.signature)
    ):
        raise MessageRejected(f"{envelope.schema_} from {envelope.sender!r}: bad signature")
    try:
        body = model.model_validate(envelope.body)
    except ValidationError as exc:
        raise MessageRejected(f"{envelope.schema_} body: {_first_error(exc)}") from None
    return envelope, body


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"]) or "(root)"
    return f"{where}: {err['msg']}"
