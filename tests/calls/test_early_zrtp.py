"""ZRTP that reaches a call's media port before the answer (issue 13 F5), at the driver's seam.

The caller's port is open from the offer on; until the answer names the peer's media address,
ZRTP from anyone reaches the driver. It keeps those packets with their source and replays, at
`start`, only those from the address the answer signalled (RFC 4961 symmetric RTP, applied to
what came early too); the rest are dropped and counted. The real-phone version of this, an
off-path Hello planted while the callee rings, is in tests/e2e_hostile/test_tampering.py.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from deskphone.calls.zrtp_driver import ZrtpDriver
from deskphone.zrtp import events as zev
from deskphone.zrtp.cache import ZrtpCache
from deskphone.zrtp.session import ZrtpConfig, ZrtpSession

PEER = ("192.0.2.10", 40000)
OFF_PATH = ("198.51.100.7", 40000)


@dataclass
class Stream:
    """The stream as its encryption plug-in sees it (media/encryption.py)."""

    remote: tuple[str, int] | None = None
    sent: list[bytes] = field(default_factory=list)

    def set_srtp(self, keys) -> None: ...
    def accept_srtp(self, keys, on_authenticated) -> None: ...
    def enable_audio(self, on: bool) -> None: ...
    def allow_cleartext(self) -> None: ...

    def send_zrtp(self, packet: bytes) -> None:
        self.sent.append(packet)


def _session(ssrc: int) -> ZrtpSession:
    cache = ZrtpCache(":memory:")
    return ZrtpSession(ZrtpConfig(zid=cache.local_zid()), ssrc, lookup_secrets=cache.lookup,
                       store_secrets=cache.store)


def _hello(ssrc: int) -> bytes:
    session = _session(ssrc)
    session.start(0.0)
    (hello,) = session.datagrams_to_send(0.0)
    return hello


def test_early_zrtp_from_an_unsignalled_source_is_dropped_and_the_peers_is_kept() -> None:
    loop = asyncio.new_event_loop()
    try:
        driver = ZrtpDriver(_session(1), loop.time, loop, allow_cleartext=False)
        stream = Stream()
        driver.attach(stream)
        planted, real = _hello(2), _hello(3)
        driver.receive(planted, OFF_PATH)  # while it rings: no address signalled yet
        driver.receive(real, PEER)  # the peer's Hello overtook its answer
        assert driver.info()["dropped_early_foreign"] == 0  # not judged before the answer
        stream.remote = PEER  # the answer names the peer's media address
        driver.start()
        info = driver.info()
        assert info["dropped_early_foreign"] == 1
        # only the peer's Hello reached the session: it answered it, and no a=zrtp-hash or
        # Hello from the planted endpoint disturbed the handshake
        assert info["received"] == 1 and info["dropped_hello_hash"] == 0
        assert info["state"] not in ("failed", "not_secure")
        events = []
        while not driver.events.empty():
            events.append(driver.events.get_nowait())
        assert any(isinstance(e, zev.Securing) for e in events)
        assert not any(isinstance(e, zev.NotSecure) for e in events)
        # once the peer is known, a packet from elsewhere is dropped at once
        driver_two = ZrtpDriver(_session(4), loop.time, loop, allow_cleartext=False)
        driver_two.attach(Stream(remote=PEER))
        driver_two.start_on_first_packet()
        driver_two.receive(_hello(5), OFF_PATH)
        assert driver_two.info()["dropped_early_foreign"] == 1
        assert driver_two.info()["received"] == 0  # and it did not start ZRTP either
        driver.close()
        driver_two.close()
    finally:
        loop.close()
