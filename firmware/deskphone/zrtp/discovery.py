"""ZRTP discovery (RFC 6189 §4.1): the peer's Hello and the HelloACK for ours.

Once the peer's Hello is held and ours acknowledged (HelloACK, or a Commit, which implies it), the
session's state-triggered transition makes us a candidate initiator (`commit.become_initiator`).
Handlers get the handshake state and return a `Step` (see `actions.py`).
"""

from __future__ import annotations

import hmac

from . import packets
from .actions import STAY, Emit, Send, Step, StopTimer, fail
from .events import Securing
from .handshake import Handshake
from .hashchain import implicit_hash
from .packets import ZRTP_VERSION
from .states import State

HELLO_HASH_MISMATCH = "possible attack: the peer's Hello does not match its SDP a=zrtp-hash"


def on_hello(hs: Handshake, packet: packets.ZrtpPacket, hello: packets.Hello,
             now: float) -> Step:
    if hs.peer_hello is not None:
        if hs.is_duplicate(packet.message, hs.peer_hello_bytes):
            return Step(STAY, [Send(packets.HELLO_ACK.encode())])  # our HelloACK was lost
        hs.stats.dropped_unexpected += 1  # a different Hello in the same session
        return Step(STAY)
    # §4.1.1 version negotiation: we speak 1.10; a higher version waits for the peer to fall
    # back to ours, a lower one is refused with Error 0x30.
    if hello.version[:3] > ZRTP_VERSION[:3]:
        hs.stats.dropped_version += 1
        return Step(STAY)
    if hello.version[:3] < ZRTP_VERSION[:3]:
        return fail(f"peer speaks ZRTP {hello.version!r}, we need 1.1x",
                    packets.ERROR_UNSUPPORTED_VERSION)
    if hello.zid == hs.config.zid:
        return fail("peer uses our own ZID", packets.ERROR_EQUAL_ZID)
    if hs.expected_peer_hello_hash is not None and not hmac.compare_digest(
            implicit_hash(packet.message), hs.expected_peer_hello_hash):
        # §8.1.1: not the Hello the signalling announced. That is evidence of an attack (a
        # MiTM on the media path, or a Hello planted by someone else): say so at once.
        hs.stats.dropped_hello_hash += 1
        return fail(HELLO_HASH_MISMATCH, packets.ERROR_HELLO_MISMATCH, possible_attack=True)
    hs.peer_hello = hello
    hs.peer_hello_bytes = packet.message
    hs.accept(packet.message)
    hs.peer_zid = hello.zid
    return Step(State.DISCOVERY, [Send(packets.HELLO_ACK.encode()),
                                  Emit(Securing())])


def on_hello_ack(hs: Handshake, packet, message, now: float) -> Step:
    if hs.hello_acknowledged:
        hs.stats.duplicates += 1
        return Step(STAY)
    hs.hello_acknowledged = True
    return Step(State.DISCOVERY, [StopTimer()])


def on_hello_in_handshake(hs: Handshake, packet, hello, now: float) -> Step:
    if hs.is_duplicate(packet.message, hs.peer_hello_bytes):
        if hs.state is State.COMMIT_SENT or hs.role == "responder":
            return Step(STAY, [Send(packets.HELLO_ACK.encode())])
        return Step(STAY)
    hs.stats.dropped_unexpected += 1
    return Step(STAY)
