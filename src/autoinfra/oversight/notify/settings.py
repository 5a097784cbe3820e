"""Notification settings: which channels are on, their secrets, and how hard to try.

Read from the environment (``AUTOINFRA_NOTIFY_*``, names below) or from a mapping (a settings
file's ``notify`` section); a channel is on when its URL or key is set. Validated by pydantic so a
wrong value is refused with the field's name. Secrets live here and in the process only: the outbox
on disk never holds them.

    AUTOINFRA_NOTIFY_WEBHOOK_URL / _WEBHOOK_SECRET      generic signed webhook
    AUTOINFRA_NOTIFY_SLACK_WEBHOOK_URL                  Slack incoming webhook
    AUTOINFRA_NOTIFY_SLACK_SIGNING_SECRET               verifies Slack's button callbacks
    AUTOINFRA_NOTIFY_SLACK_USERS                "U123=alice,U456=bob": Slack user -> principal
    AUTOINFRA_NOTIFY_SLACK_RESPONSE_PREFIX              where response_url may point (Slack's host)
    AUTOINFRA_NOTIFY_PAGERDUTY_ROUTING_KEY / _PAGERDUTY_URL
    AUTOINFRA_NOTIFY_PUBLIC_URL                         the dashboard's address, for links
    AUTOINFRA_NOTIFY_TIMEOUT_S / _MAX_ATTEMPTS / _BACKOFF_BASE_S / _BACKOFF_MAX_S
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from autoinfra.core.documents import validate_into, validation_error
from autoinfra.core.errors import ConfigError
from autoinfra.oversight.notify.pagerduty import EVENTS_V2_URL

__all__ = ["NotifySettings"]

_ENV_PREFIX = "AUTOINFRA_NOTIFY_"


class NotifySettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    webhook_url: str = ""
    webhook_secret: str = ""
    slack_webhook_url: str = ""
    slack_signing_secret: str = ""
    # Slack user id -> autoinfra principal; a button pressed by anyone else is refused
    slack_users: dict[str, str] = Field(default_factory=dict)
    slack_response_prefix: str = "https://hooks.slack.com/"
    pagerduty_routing_key: str = ""
    pagerduty_url: str = EVENTS_V2_URL
    public_url: str = ""
    timeout_s: float = Field(5.0, gt=0, le=60)
    max_attempts: int = Field(6, ge=1, le=50)
    backoff_base_s: float = Field(2.0, ge=0)
    backoff_max_s: float = Field(300.0, ge=0)

    @field_validator(
        "webhook_url", "slack_webhook_url", "pagerduty_url", "public_url", "slack_response_prefix"
    )
    @classmethod
    def _http_url(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError(f"expected an http:// or https:// URL, got {value[:60]!r}")
        return value

    @model_validator(mode="after")
    def _webhook_needs_secret(self) -> NotifySettings:
        if self.webhook_url and len(self.webhook_secret) < 16:
            raise ValueError("webhook_secret must be set (16 characters or more) with webhook_url")
        return self

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any], *, source: str = "<settings>") -> NotifySettings:
        return validate_into(cls, dict(raw), source=source)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> NotifySettings:
        env = os.environ if env is None else env
        raw: dict[str, Any] = {}
        for name in cls.model_fields:
            value = env.get(_ENV_PREFIX + name.upper())
            if value is None:
                continue
            if name == "slack_users":
                raw[name] = _parse_users(value)
            else:
                raw[name] = value
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            error = validation_error(exc, source="environment")
            # name the variable a person set, not the field it feeds
            known = error.field if error.field in cls.model_fields else None
            field = _ENV_PREFIX + known.upper() if known else None
            raise ConfigError(error.message, source="environment", field=field) from None


def _parse_users(text: str) -> dict[str, str]:
    users: dict[str, str] = {}
    for pair in filter(None, (p.strip() for p in text.split(","))):
        slack_id, sep, principal = pair.partition("=")
        if not sep or not slack_id.strip() or not principal.strip():
            raise ConfigError(
                f"expected SLACKID=principal pairs, got {pair!r}",
                source="environment",
                field=_ENV_PREFIX + "SLACK_USERS",
            )
        users[slack_id.strip()] = principal.strip()
    return users
