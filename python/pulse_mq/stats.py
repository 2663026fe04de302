"""What a client counts and reports: its counters and the sequence gaps it saw."""

from __future__ import annotations

import dataclasses

__all__ = ["GapEvent", "ClientStats"]


@dataclasses.dataclass(frozen=True)
class GapEvent:
    """Messages of one topic that never arrived (seen as a jump in the topic's sequence)."""
    namespace: str
    topic: str
    first_missing: int
    last_missing: int

    @property
    def missed(self) -> int:
        return self.last_missing - self.first_missing + 1


@dataclasses.dataclass
class ClientStats:
    """Counters of one client (read them from any thread)."""
    published: int = 0
    received: int = 0
    dropped: int = 0          # deliveries lost because a subscription's queue was full
    gaps: int = 0             # sequence gaps seen
    missed: int = 0           # messages missing inside those gaps
    reconnects: int = 0       # successful re-AUTH / re-ATTACH / re-SUB cycles
    async_errors: int = 0     # ERRORs for NO_ACK publishes

