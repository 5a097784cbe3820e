"""Notifications for people: pending approvals and critical incidents, out to a signed webhook,
Slack (with approve/reject buttons whose callbacks are verified) and PagerDuty Events v2, through a
durable outbox so a crash loses none of them.

    notices     what is announced (ApprovalNotice, IncidentNotice)
    channel     the seam: render a notice, prepare a request
    webhook / slack / pagerduty   the three channels
    signing     HMAC-SHA256 for our webhooks, Slack's v0 verification, replay windows
    outbox      SQLite (WAL) rows committed before sending
    delivery    timeouts, bounded retries with backoff, the dispatcher thread
    settings    which channels are on, their secrets
    notifier    the façade the server calls
"""

from autoinfra.oversight.notify.channel import Channel, Request
from autoinfra.oversight.notify.delivery import Dispatcher, RetryPolicy
from autoinfra.oversight.notify.notices import ApprovalNotice, IncidentNotice
from autoinfra.oversight.notify.notifier import Notifier, channels_from_settings
from autoinfra.oversight.notify.outbox import Outbox, OutboxRow
from autoinfra.oversight.notify.pagerduty import PagerDutyChannel
from autoinfra.oversight.notify.settings import NotifySettings
from autoinfra.oversight.notify.signing import (
    SignatureInvalid,
    sign_webhook,
    slack_signature,
    verify_slack,
    verify_webhook,
)
from autoinfra.oversight.notify.slack import (
    SlackChannel,
    SlackDecision,
    SlackPayloadInvalid,
    SlackResponseChannel,
    parse_interaction,
)
from autoinfra.oversight.notify.webhook import WebhookChannel

__all__ = [
    "ApprovalNotice",
    "Channel",
    "Dispatcher",
    "IncidentNotice",
    "Notifier",
    "NotifySettings",
    "Outbox",
    "OutboxRow",
    "PagerDutyChannel",
    "Request",
    "RetryPolicy",
    "SignatureInvalid",
    "SlackChannel",
    "SlackDecision",
    "SlackPayloadInvalid",
    "SlackResponseChannel",
    "WebhookChannel",
    "channels_from_settings",
    "parse_interaction",
    "sign_webhook",
    "slack_signature",
    "verify_slack",
    "verify_webhook",
]
