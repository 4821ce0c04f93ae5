"""Seeded datagram impairment: loss and jitter, decided one datagram at a time (sans-IO).

An `Impairment` is the configuration (what fraction is lost, how much delay is added); an
`ImpairedPath` is one direction of one flow and decides, datagram by datagram, whether it is
dropped or how long it is held back. Each path draws from its own `random.Random` seeded from the
impairment's seed and the path's name, so the SIP path's fate does not depend on how many media
packets happened to cross another path in the meantime: a run is reproducible per path even
though the interleaving of paths depends on timing.

Delay is uniform in [0, jitter]; datagrams held back by different amounts overtake each other,
which is the reordering a jitter buffer and the SIP/ZRTP retransmission rules must cope with.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Impairment:
    """What a hostile network does to each datagram, in each direction separately."""

    loss: float = 0.0    # fraction of datagrams dropped, 0.0 .. 1.0
    jitter: float = 0.0  # seconds: each datagram is delayed uniformly in [0, jitter]
    seed: int = 0
    # The first datagrams of every path are always lost (then `loss` applies): the first
    # INVITE, the first Hello each way... so every retransmission rule is exercised whatever the
    # seed, and a test of "it survives loss" cannot pass on a lucky draw.
    drop_first: int = 0

    def __post_init__(self) -> None:
        if not 0.0 <= self.loss <= 1.0:
            raise ValueError(f"impairment loss {self.loss!r}: expected a fraction 0.0 .. 1.0")
        if not 0.0 <= self.jitter <= 10.0:
            raise ValueError(f"impairment jitter {self.jitter!r}: expected 0 .. 10 seconds")
        if not 0 <= self.drop_first <= 100:
            raise ValueError(f"impairment drop_first {self.drop_first!r}: expected 0 .. 100")

    @property
    def is_clean(self) -> bool:
        return self.loss == 0.0 and self.jitter == 0.0 and self.drop_first == 0

    def path(self, name: str) -> ImpairedPath:
        return ImpairedPath(self, name)


CLEAN = Impairment()


@dataclass
class PathStats:
    passed: int = 0
    dropped: int = 0
    delayed: int = 0


class ImpairedPath:
    """One direction of one flow (e.g. "sip caller->callee"): drop or delay each datagram."""

    def __init__(self, impairment: Impairment, name: str) -> None:
        self.impairment = impairment
        self.name = name
        self.stats = PathStats()
        # str seeds are hashed with SHA-512 by random.Random: stable across runs and processes
        # (unlike hash(), which PYTHONHASHSEED randomises).
        self._random = random.Random(f"{impairment.seed}:{name}")

    def decide(self) -> float | None:
        """None: drop this datagram. Otherwise: send it after this many seconds (0 = now)."""
        if self.impairment.is_clean:
            self.stats.passed += 1
            return 0.0
        # Always draw both numbers so the loss pattern does not depend on the jitter setting.
        seen = self.stats.passed + self.stats.dropped
        lost = self._random.random() < self.impairment.loss or seen < self.impairment.drop_first
        delay = self._random.random() * self.impairment.jitter
        if lost:
            self.stats.dropped += 1
            return None
        self.stats.passed += 1
        if delay > 0:
            self.stats.delayed += 1
        return delay
