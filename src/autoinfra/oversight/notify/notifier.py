"""The notifier: one call per thing a person should know, fanned out to every configured channel.

``approval_pending`` and ``incident`` render the notice for each channel and commit it to the
outbox before returning (so the caller's next crash cannot lose it); the dispatcher is woken to
send it. ``slack_update`` queues the replacement of a Slack message whose button was pressed.
``from_settings`` builds the channels that the settings turn on.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from pathlib import Path

from autoinfra.oversight.notify.channel import Channel
from autoinfra.oversight.notify.delivery import Dispatcher, RetryPolicy
from autoinfra.oversight.notify.notices import ApprovalNotice, IncidentNotice
from autoinfra.oversight.notify.outbox import Outbox
from autoinfra.oversight.notify.pagerduty import PagerDutyChannel
from autoinfra.oversight.notify.settings import NotifySettings
from autoinfra.oversight.notify.slack import SlackChannel, SlackResponseChannel, answer_message
from autoinfra.oversight.notify.webhook import WebhookChannel

__all__ = ["Notifier", "channels_from_settings"]


def channels_from_settings(settings: NotifySettings) -> list[Channel]:
    channels: list[Channel] = []
    if settings.webhook_url:
        channels.append(WebhookChannel(settings.webhook_url, settings.webhook_secret))
    if settings.slack_webhook_url:
        channels.append(SlackChannel(settings.slack_webhook_url))
    if settings.slack_signing_secret:
        channels.append(SlackResponseChannel(settings.slack_response_prefix))
    if settings.pagerduty_routing_key:
        channels.append(PagerDutyChannel(settings.pagerduty_routing_key, settings.pagerduty_url))
    return channels


class Notifier:
    def __init__(
        self,
        outbox: Outbox,
        channels: Iterable[Channel],
        *,
        dispatcher: Dispatcher | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.outbox = outbox
        self.channels = {c.name: c for c in channels}
        self.dispatcher = dispatcher
        self.clock = clock

    @classmethod
    def from_settings(
        cls, settings: NotifySettings, outbox_path: str | Path, *, seed: int = 0
    ) -> Notifier:
        outbox = Outbox(outbox_path)
        channels = channels_from_settings(settings)
        policy = RetryPolicy(
            max_attempts=settings.max_attempts,
            backoff_base_s=settings.backoff_base_s,
            backoff_max_s=settings.backoff_max_s,
            timeout_s=settings.timeout_s,
        )
        dispatcher = Dispatcher(outbox, {c.name: c for c in channels}, policy=policy, seed=seed)
        return cls(outbox, channels, dispatcher=dispatcher)

    def approval_pending(self, notice: ApprovalNotice) -> int:
        """Queue the request on every channel that carries approvals; returns rows queued."""
        return self._fan_out(notice.event_id, lambda c: c.render_approval(notice))

    def approval_answered(self, notice: ApprovalNotice, *, approved: bool, by: str) -> int:
        return self._fan_out(
            f"{notice.event_id}:answered",
            lambda c: c.render_answer(notice, approved=approved, by=by),
        )

    def incident(self, notice: IncidentNotice) -> int:
        return self._fan_out(notice.event_id, lambda c: c.render_incident(notice))

    def slack_update(
        self, response_url: str, request_id: str, *, approved: bool, by: str, detail: str = ""
    ) -> bool:
        """Replace the buttons of the Slack message a decision came from (if Slack is on)."""
        if "slack_response" not in self.channels or not response_url:
            return False
        payload = {
            "response_url": response_url,
            "message": answer_message(request_id, approved=approved, by=by, detail=detail),
        }
        queued = self.outbox.enqueue(
            "slack_response",
            f"approval:{request_id}:slack:{response_url[-32:]}",
            payload,
            now_s=self.clock(),
        )
        self._wake()
        return queued

    def _fan_out(self, event_id: str, render: Callable[[Channel], object]) -> int:
        queued = 0
        now = self.clock()
        for name, channel in self.channels.items():
            payload = render(channel)
            if isinstance(payload, dict) and self.outbox.enqueue(
                name, event_id, payload, now_s=now
            ):
                queued += 1
        self._wake()
        return queued

    def _wake(self) -> None:
        if self.dispatcher is not None:
            self.dispatcher.wake()

    def start(self) -> None:
        if self.dispatcher is not None:
            self.dispatcher.start()

    def close(self) -> None:
        if self.dispatcher is not None:
            self.dispatcher.close()
        self.outbox.close()
