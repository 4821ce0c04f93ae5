"""SRTP keying across a call's state changes, with real ZRTP (issue 13 findings 3 and 4).

Two media streams on loopback, each keyed by a ZrtpDriver over a real ZrtpSession, talk through an
in-process relay that records every datagram it carries (and, for finding 4, drops every
Conf2ACK). The calls go through what the call layer does to a stream after the handshake: the
Secure, a second Secure with the same keys, hold and resume (a re-INVITE answered: direction
changes, `start` again), audio off and on, and the BYE at the end. From the wire:

* RFC 3711 §9.1: a key and a packet index are never used twice. For SRTCP the index is on the
  wire (E flag and 31-bit index before the tag, §3.4), so a context rebuilt with the same keys
  shows at once: its SRTCP index restarts at 1. For SRTP the index is ROC * 2^16 + SEQ (§3.3.1);
  the relay's verifier, one receiving context per key fed every packet in order, tracks the ROC
  and counts a repeated index as a replay, and a sender whose ROC restarted as a failed
  authentication. The streams start their sequence numbers just before the 16-bit wrap so that
  every state change happens after a rollover, where a restarted ROC would show.
* RFC 6189 §4.6, §5.8: an initiator whose Conf2ACKs are all lost goes secure on the first SRTP
  packet from the responder that authenticates (an implicit Conf2ACK), in the SRTP context it
  built for it, and sends only from then on.
"""

from __future__ import annotations

import asyncio
import functools
import os
import struct
from collections.abc import Callable
from dataclasses import dataclass, field

from deskphone.calls.zrtp_driver import ZrtpDriver
from deskphone.devices.audio import NullAudio
from deskphone.media.demux import PacketKind, classify
from deskphone.media.srtp import SrtpContext
from deskphone.media.stream import MediaStream
from deskphone.sdp.codecs import CodecChoice
from deskphone.zrtp import events as zev
from deskphone.zrtp import packets
from deskphone.zrtp.cache import ZrtpCache
from deskphone.zrtp.session import ZrtpConfig, ZrtpSession

PCMU = CodecChoice("PCMU", 0, 8000)
SRTCP_TAG = 10  # RFC 3711 §4.2.1: SRTCP carries the 80-bit tag whatever the SRTP profile (srtp.py)
NEAR_WRAP = 0xFFF8  # RTP sequence numbers start anywhere (RFC 3550 §5.1): here just before the wrap


def run_async(test: Callable) -> Callable:
    @functools.wraps(test)
    def runner(*args, **kwargs):
        return asyncio.run(asyncio.wait_for(test(*args, **kwargs), 60))
    return runner


class ManualClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class _Port(asyncio.DatagramProtocol):
    def __init__(self, received: Callable[[bytes, tuple[str, int]], None]) -> None:
        self.received = received
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport) -> None:  # type: ignore[override]
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.received(data, addr)


@dataclass
class Relay:
    """One loopback port facing each stream; records what each sends, optionally drops ZRTP
    messages of some types (both directions)."""

    drop: frozenset[bytes] = frozenset()
    sent: dict[str, list[bytes]] = field(default_factory=lambda: {"a": [], "b": []})
    dropped: int = 0
    ports: dict[str, _Port] = field(default_factory=dict)
    remote: dict[str, tuple[str, int]] = field(default_factory=dict)

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        for side in ("a", "b"):
            _, port = await loop.create_datagram_endpoint(
                lambda side=side: _Port(functools.partial(self._from, side)),
                local_addr=("127.0.0.1", 0))
            self.ports[side] = port

    def address(self, side: str) -> tuple[str, int]:
        assert self.ports[side].transport is not None
        return self.ports[side].transport.get_extra_info("sockname")[:2]

    def _from(self, side: str, data: bytes, addr: tuple[str, int]) -> None:
        if addr != self.remote[side]:
            return
        if classify(data) is PacketKind.ZRTP and self.drop:
            message = packets.decode_packet(data).message
            if packets.message_type(message) in self.drop:
                self.dropped += 1
                return
        self.sent[side].append(data)
        other = "b" if side == "a" else "a"
        transport = self.ports[other].transport
        assert transport is not None
        transport.sendto(data, self.remote[other])

    def close(self) -> None:
        for port in self.ports.values():
            if port.transport is not None:
                port.transport.close()


@dataclass
class Side:
    stream: MediaStream
    driver: ZrtpDriver
    secured: zev.Secure | zev.CacheMismatch | None = None
    events: list[zev.ZrtpEvent] = field(default_factory=list)


async def _side(loop: asyncio.AbstractEventLoop, clock: ManualClock) -> Side:
    stream = await MediaStream.open("127.0.0.1", audio=NullAudio(), clock=clock)
    cache = ZrtpCache(":memory:")
    session = ZrtpSession(ZrtpConfig(zid=cache.local_zid()), stream.ssrc,
                          lookup_secrets=cache.lookup, store_secrets=cache.store)
    # the drivers keep real time (their T1/T2 timers run on the loop); the streams tick on the
    # manual clock, so RTCP reports (RFC 3550 §6.2: every few seconds) come within the test
    driver = ZrtpDriver(session, lambda: loop.time(), loop, allow_cleartext=False)
    stream.set_encryption(driver)
    stream._sender.sequence = NEAR_WRAP  # see the module docstring: the rollover comes first
    return Side(stream, driver)


async def _call(relay: Relay) -> tuple[Side, Side, ManualClock]:
    loop = asyncio.get_running_loop()
    clock = ManualClock()
    await relay.open()
    a, b = await _side(loop, clock), await _side(loop, clock)
    relay.remote = {"a": ("127.0.0.1", a.stream.local_port),
                    "b": ("127.0.0.1", b.stream.local_port)}
    a.stream.start(relay.address("a"), PCMU, dtmf_pt=None)
    b.stream.start(relay.address("b"), PCMU, dtmf_pt=None)
    a.driver.start()
    b.driver.start()
    return a, b, clock


async def _ticks(sides: tuple[Side, Side], clock: ManualClock, count: int) -> None:
    for _ in range(count):
        clock.now += 0.020
        for side in sides:
            side.stream.tick()
            while not side.driver.events.empty():
                event = side.driver.events.get_nowait()
                side.events.append(event)
                if isinstance(event, zev.Secure | zev.CacheMismatch):
                    side.secured = event
        for _ in range(5):  # let loopback deliver this tick's datagrams
            await asyncio.sleep(0)


async def _until_secure(sides: tuple[Side, Side], clock: ManualClock) -> None:
    for _ in range(3000):
        await _ticks(sides, clock, 1)
        if all(side.secured is not None for side in sides):
            return
        await asyncio.sleep(0.001)
    raise AssertionError(f"not secure: {[s.driver.info() for s in sides]}")


def _srtcp_index(packet: bytes) -> int:
    (word,) = struct.unpack("!I", packet[-SRTCP_TAG - 4:-SRTCP_TAG])
    assert word & 0x80000000, "SRTCP with the E flag clear: an unencrypted report"
    return word & 0x7FFFFFFF


def _check_wire(sent: list[bytes], sender: Side) -> dict[str, int]:
    """Every (key, index) pair the sender used, checked: none twice (RFC 3711 §9.1)."""
    assert sender.secured is not None
    keys = sender.secured.srtp
    key = (keys.local_key, keys.local_salt)
    # the receiving side of this key: a context whose "remote" keys are the sender's own
    verifier = SrtpContext(zev.SrtpKeys(keys.profile, os.urandom(len(keys.local_key)),
                                        os.urandom(len(keys.local_salt)), *key))
    srtcp_pairs: set[tuple[tuple[bytes, bytes], int]] = set()
    rtp = rtcp = 0
    for packet in sent:
        kind = classify(packet)
        if kind is PacketKind.RTP:
            rtp += 1
            # a repeated index is a replay to a context that saw every packet; an index whose
            # ROC restarted fails authentication
            assert verifier.unprotect(packet) is not None, (rtp, verifier.stats)
        elif kind is PacketKind.RTCP:
            rtcp += 1
            pair = (key, _srtcp_index(packet))
            assert pair not in srtcp_pairs, f"SRTCP index {pair[1]} sent twice under one key"
            srtcp_pairs.add(pair)
            assert verifier.unprotect_rtcp(packet) is not None, (rtcp, verifier.stats)
    assert verifier.stats.replays == verifier.stats.auth_failures == 0
    return {"rtp": rtp, "rtcp": rtcp}


@run_async
async def test_no_key_and_index_pair_is_sent_twice_across_every_state_change() -> None:
    relay = Relay()
    a, b, clock = await _call(relay)
    sides = (a, b)
    try:
        await _until_secure(sides, clock)
        assert a.secured is not None and b.secured is not None
        assert a.secured.sas == b.secured.sas
        await _ticks(sides, clock, 400)  # secure: audio and the first SRTCP reports
        # a second Secure with the same keys, handled as the driver handles every Secure
        for side in sides:
            assert side.secured is not None
            side.stream.set_srtp(side.secured.srtp)
            side.stream.enable_audio(True)
        await _ticks(sides, clock, 400)
        # hold (RFC 3264 §8.4: a re-INVITE with sendonly, answered recvonly) and resume, the
        # stream restarted with the same address and codec as an answered re-offer does
        a.stream.set_direction("sendonly")
        b.stream.set_direction("recvonly")
        await _ticks(sides, clock, 400)
        for side, peer in ((a, "a"), (b, "b")):
            side.stream.set_direction("sendrecv")
            side.stream.start(relay.address(peer), PCMU, dtmf_pt=None, send_audio=True)
        await _ticks(sides, clock, 400)
        # audio off and on (the receive mode goes back to "reader" and returns)
        for side in sides:
            side.stream.enable_audio(False)
        await _ticks(sides, clock, 50)
        for side in sides:
            side.stream.enable_audio(True)
        await _ticks(sides, clock, 400)
    finally:
        for side in sides:
            side.driver.close()
            await side.stream.close()  # the BYE goes out as SRTCP too
        for _ in range(5):
            await asyncio.sleep(0)
        relay.close()
    for name, side in (("a", a), ("b", b)):
        counts = _check_wire(relay.sent[name], side)
        assert counts["rtp"] > 1500 and counts["rtcp"] >= 4, (name, counts)
        stats = side.stream.stats
        assert stats.srtp_contexts == 1, (name, stats)
        assert stats.srtp_auth_failures == stats.srtp_replays == 0, (name, stats)
    # the states really changed: secure, then one Secure per side and nothing re-announced
    for side in sides:
        assert sum(isinstance(e, zev.Secure | zev.CacheMismatch) for e in side.events) == 1


@run_async
async def test_initiator_takes_the_responders_srtp_as_conf2ack_when_every_conf2ack_is_lost(
        ) -> None:
    relay = Relay(drop=frozenset({packets.CONF2_ACK.type_block}))
    a, b, clock = await _call(relay)
    sides = (a, b)
    try:
        await _until_secure(sides, clock)
        await _ticks(sides, clock, 100)
    finally:
        for side in sides:
            side.driver.close()
            await side.stream.close()
        for _ in range(5):
            await asyncio.sleep(0)
        relay.close()
    assert relay.dropped >= 1
    assert a.secured is not None and b.secured is not None and a.secured.sas == b.secured.sas
    (initiator,) = [s for s in sides if s.driver.session.role == "initiator"]
    (responder,) = [s for s in sides if s is not initiator]
    stats = initiator.driver.session.stats
    # secure on the responder's first authenticated SRTP packet, not after the Confirm2
    # retransmissions ran out (§4.6: those would take seconds)
    assert stats.conf2ack_implicit == 1 and stats.conf2ack_missing == 0, stats
    assert any(isinstance(e, zev.SrtpReceiveReady) for e in initiator.events)
    # one context: built for receiving, then sending with the same keys (RFC 3711 §9.1)
    assert initiator.stream.stats.srtp_contexts == 1
    for name, side in (("a", a), ("b", b)):
        _check_wire(relay.sent[name], side)
    # both directions carried SRTP that authenticated at the other end
    assert initiator.stream.stats.packets_received > 50
    assert responder.stream.stats.packets_received > 50
