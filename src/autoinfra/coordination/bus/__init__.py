"""Message passing between agents, processes and regions (paper 5.5).

The in-process bus keeps the simulator fast; :mod:`autoinfra.coordination.bus.nats` is the same
seam over a real NATS server (imported lazily: ``nats-py`` is the ``bus`` extra).
"""

from autoinfra.coordination.bus.base import Bus, InProcessBus, Subscription
from autoinfra.coordination.bus.messages import (
    Envelope,
    MessageRejected,
    open_envelope,
    seal,
)
from autoinfra.coordination.bus.subjects import matches, subject

__all__ = [
    "Bus",
    "Envelope",
    "InProcessBus",
    "MessageRejected",
    "Subscription",
    "matches",
    "open_envelope",
    "seal",
    "subject",
]
