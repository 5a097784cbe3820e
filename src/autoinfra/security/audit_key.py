"""The secret that makes the audit chain keyed: kept outside the log, readable by its owner only.

A plain hash chain can be rebuilt by anyone who can write the log: edit a record, recompute every
later hash, done. With an HMAC-SHA256 key that never enters the log, rebuilding the chain needs
the key, so the log's writer (this process) is the only party that can produce a valid record.
The key therefore lives in its own file, created with mode 0600 in a directory with mode 0700
(``AUTOINFRA_KEY_DIR``, else ``~/.config/autoinfra/keys``), and a key file that others can read is
refused, as ssh refuses a readable private key: a key anyone can read protects nothing.

For logs kept in memory (experiments) a fresh random key per log is enough: nothing outlives the
process that could be rewritten.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import stat
from dataclasses import dataclass, field
from pathlib import Path

from autoinfra.core.atomic import create_exclusive
from autoinfra.core.errors import ConfigError

__all__ = ["KEY_BYTES", "AuditKey", "default_key_dir"]

KEY_BYTES = 32  # HMAC-SHA256's block-size-independent sweet spot: the digest length


def default_key_dir() -> Path:
    """``$AUTOINFRA_KEY_DIR`` if set, else ``~/.config/autoinfra/keys``."""
    env = os.environ.get("AUTOINFRA_KEY_DIR")
    return Path(env) if env else Path.home() / ".config" / "autoinfra" / "keys"


@dataclass(frozen=True, slots=True)
class AuditKey:
    """An HMAC-SHA256 key; ``key_id`` names it without revealing it (stored in the head file)."""

    secret: bytes = field(repr=False)
    source: str = "<memory>"

    def __post_init__(self) -> None:
        if not isinstance(self.secret, bytes) or len(self.secret) < 16:
            raise ConfigError(
                f"an audit key must be at least 16 bytes, got {len(self.secret)}",
                source=self.source,
            )

    @classmethod
    def generate(cls) -> AuditKey:
        return cls(secrets.token_bytes(KEY_BYTES))

    @property
    def key_id(self) -> str:
        return hmac.new(self.secret, b"autoinfra audit key id", hashlib.sha256).hexdigest()[:16]

    def mac(self, message: bytes) -> str:
        return hmac.new(self.secret, message, hashlib.sha256).hexdigest()

    @classmethod
    def load(cls, path: str | Path) -> AuditKey:
        """The key in ``path`` (one line of hex); refused if missing, malformed or not private."""
        path = Path(path)
        try:
            mode = path.stat().st_mode
        except FileNotFoundError:
            raise ConfigError("audit key file does not exist", source=str(path)) from None
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ConfigError(
                f"audit key file is accessible by group or others (mode {stat.S_IMODE(mode):04o}); "
                "it must be 0600 (chmod 600)",
                source=str(path),
            )
        text = path.read_text(encoding="ascii", errors="replace").strip()
        try:
            secret = bytes.fromhex(text)
        except ValueError:
            raise ConfigError("audit key file is not one line of hex", source=str(path)) from None
        return cls(secret, source=str(path))

    @classmethod
    def load_or_create(
        cls,
        path: str | Path | None = None,
        *,
        name: str = "audit",
        key_dir: str | Path | None = None,
    ) -> AuditKey:
        """Load the key at ``path`` (default: ``<key_dir or default_key_dir()>/<name>.key``),
        creating it once.

        Creation writes a temporary file with mode 0600 and hard-links it into place, so two
        processes starting at once end up with the same key rather than each overwriting the other.
        """
        if path is None:
            path = (Path(key_dir) if key_dir is not None else default_key_dir()) / f"{name}.key"
        path = Path(path)
        if path.exists():
            return cls.load(path)
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        key = cls.generate()
        if not create_exclusive(path, (key.secret.hex() + "\n").encode("ascii"), mode=0o600):
            return cls.load(path)  # another process created it meanwhile: use theirs
        return cls(key.secret, source=str(path))
