"""Which event ids a listener has already shown, so a redelivered record is shown once.

The outbox relays deliver at least once: a relay killed after Kafka took a record but
before it cleared its outbox sends the record again, with the same `event_id`. A force's
system must treat `event_id` as the identity of a change; the reference listener does.
"""

from __future__ import annotations

from collections import OrderedDict

DEFAULT_CAPACITY = 100_000  # ~10 MB of ids; far more than a relay's redelivery window


class SeenEvents:
    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._ids: OrderedDict[str, None] = OrderedDict()

    def first_time(self, event_id: str) -> bool:
        """True the first time an id is offered; False for a repeat still remembered."""
        if event_id in self._ids:
            self._ids.move_to_end(event_id)
            return False
        self._ids[event_id] = None
        if len(self._ids) > self.capacity:
            self._ids.popitem(last=False)  # forget the oldest
        return True
