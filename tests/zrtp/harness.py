"""In-process plumbing for ZRTP tests: two sans-IO sessions, a fake clock, a lossy wire."""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from deskphone.zrtp import ZrtpCache, ZrtpConfig, ZrtpSession
from deskphone.zrtp.events import ZrtpEvent

# A wire filter gets (sender name, datagram) and returns the datagrams to deliver (maybe none).
WireFilter = Callable[[str, bytes], list[bytes]]


def pass_through(sender: str, datagram: bytes) -> list[bytes]:
    return [datagram]


@dataclass(eq=False)
class Endpoint:
    name: str
    session: ZrtpSession
    cache: ZrtpCache
    events: list[ZrtpEvent] = field(default_factory=list)
    sent: list[bytes] = field(default_factory=list)

    def drain_events(self) -> None:
        while (event := self.session.next_event()) is not None:
            self.events.append(event)


def make_endpoint(name: str, cache: ZrtpCache | None = None, ssrc: int | None = None,
                  **config) -> Endpoint:
    cache = cache or ZrtpCache(":memory:")
    session = ZrtpSession(ZrtpConfig(zid=cache.local_zid(), **config),
                          ssrc if ssrc is not None else int.from_bytes(os.urandom(4), "big"),
                          lookup_secrets=cache.lookup, store_secrets=cache.store)
    return Endpoint(name, session, cache)


def run(a: Endpoint, b: Endpoint, *, wire: WireFilter = pass_through, start: float = 100.0,
        until: Callable[[], bool] | None = None, max_steps: int = 2000) -> float:
    """Drive two sessions until both are secure or failed; returns the fake time reached."""
    return run_links([(a, b, wire)], start=start, until=until, max_steps=max_steps)


def finished(*endpoints: Endpoint) -> bool:
    return all(e.session.state.value in ("secure", "failed") for e in endpoints)


def run_links(links: list[tuple[Endpoint, Endpoint, WireFilter]], *, start: float = 100.0,
              until: Callable[[], bool] | None = None, max_steps: int = 2000) -> float:
    """Drive sessions joined by wires, advancing a fake clock from timer to timer.

    Everything sent in one round is delivered after every side has sent, so simultaneous Commits
    really cross on the wire (Commit contention, RFC 6189 §4.2).
    """
    endpoints = list(dict.fromkeys(e for a, b, _ in links for e in (a, b)))
    peers = {}
    for a, b, wire in links:
        peers[id(a)] = (b, wire)
        peers[id(b)] = (a, wire)
    done = until or (lambda: finished(*endpoints))
    now = start
    for endpoint in endpoints:
        endpoint.session.start(now)
    for _ in range(max_steps):
        progressed = True
        while progressed:
            progressed = False
            outgoing = []
            for endpoint in endpoints:
                datagrams = endpoint.session.datagrams_to_send(now)
                endpoint.sent += datagrams
                outgoing.append((endpoint, datagrams))
            for endpoint, datagrams in outgoing:
                peer, wire = peers[id(endpoint)]
                for datagram in datagrams:
                    for delivered in wire(endpoint.name, datagram):
                        peer.session.receive_datagram(delivered, now)
                        progressed = True
        for endpoint in endpoints:
            endpoint.drain_events()
        if done():
            return now
        timers = [t for t in (e.session.get_timer() for e in endpoints) if t is not None]
        if not timers:
            return now
        now = max(now, min(timers))
        for endpoint in endpoints:
            endpoint.session.handle_timer(now)
    raise AssertionError("ZRTP sessions did not settle")


class LossyWire:
    """Drops, duplicates and reorders with a seeded RNG; remembers what it did."""

    def __init__(self, seed: int, loss: float = 0.0, duplicate: float = 0.0,
                 reorder: float = 0.0) -> None:
        self.random = random.Random(seed)
        self.loss, self.duplicate, self.reorder = loss, duplicate, reorder
        self.held: dict[str, bytes | None] = {}
        self.dropped = self.duplicated = self.reordered = 0

    def __call__(self, sender: str, datagram: bytes) -> list[bytes]:
        if self.random.random() < self.loss:
            self.dropped += 1
            return []
        out = [datagram]
        if self.random.random() < self.duplicate:
            self.duplicated += 1
            out.append(datagram)
        held = self.held.pop(sender, None)
        if held is None and self.random.random() < self.reorder:
            self.reordered += 1
            self.held[sender] = datagram  # delivered after the next one from this sender
            return out[1:]
        if held is not None:
            out.append(held)
        return out
