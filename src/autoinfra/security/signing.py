"""Signing keys for agents' identities, so a message says who sent it and cannot be forged.

Votes in a quorum, and messages on the bus between regions, must carry their sender in a way a
faulty or hostile agent cannot fake: a vote "from healing" must have been made by the holder of
healing's key. Ed25519 (RFC 8032) gives short signatures, fast verification and no parameters to
get wrong; the `cryptography` library implements it.

Each identity's private key stays with it (an :class:`AgentKey`); the public half goes into a
:class:`Keyring` that verifiers share. A keyring maps a name to exactly one public key, so a
second key registered under a taken name is refused: otherwise a newcomer could speak for an
existing agent.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from autoinfra.core.errors import ConfigError

__all__ = ["AgentKey", "Keyring"]


@dataclass(frozen=True, slots=True)
class AgentKey:
    """An identity's private signing key. ``name`` is the identity's name."""

    name: str
    _private: Ed25519PrivateKey

    @classmethod
    def generate(cls, name: str) -> AgentKey:
        if not name:
            raise ConfigError("an agent key needs the identity's name", field="name")
        return cls(name, Ed25519PrivateKey.generate())

    def sign(self, message: bytes) -> bytes:
        return self._private.sign(message)

    def public_bytes(self) -> bytes:
        """The raw 32-byte public key, what a keyring stores."""
        return self._private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


class Keyring:
    """Public keys by identity name: what every verifier needs and nothing it could sign with."""

    def __init__(self) -> None:
        self._keys: dict[str, Ed25519PublicKey] = {}

    def add(self, name: str, public: bytes) -> None:
        if name in self._keys:
            existing = self._keys[name].public_bytes(Encoding.Raw, PublicFormat.Raw)
            if existing != public:
                raise ConfigError(
                    f"identity {name!r} already has a different key; a name has one key",
                    field="name",
                )
            return
        try:
            self._keys[name] = Ed25519PublicKey.from_public_bytes(public)
        except ValueError as exc:
            raise ConfigError(
                f"public key for {name!r} must be 32 raw Ed25519 bytes, got {len(public)}",
                field="public",
            ) from exc

    def enrol(self, key: AgentKey) -> None:
        """Register the public half of ``key`` under its name."""
        self.add(key.name, key.public_bytes())

    def names(self) -> frozenset[str]:
        return frozenset(self._keys)

    def verify(self, name: str, message: bytes, signature: bytes) -> bool:
        """True only when ``name`` is known and ``signature`` is its signature of ``message``."""
        public = self._keys.get(name)
        if public is None:
            return False
        try:
            public.verify(signature, message)
        except InvalidSignature:
            return False
        return True

    def __contains__(self, name: object) -> bool:
        return name in self._keys

    def __len__(self) -> int:
        return len(self._keys)
