"""ZRTP discovery (RFC 6189 §4.1): the peer's Hello and the HelloACK for ours.

An endpoint that holds the peer's Hello and an acknowledgement of its own (HelloACK, or a Commit,
which implies it) goes on to Commit (`commit.maybe_commit`). Handlers take the session first, as
the state table in `session.py` calls them.
"""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING

from . import commit, packets
from .events import Securing
from .hashchain import implicit_hash
from .packets import ZRTP_VERSION
from .states import State

if TYPE_CHECKING:
    from .session import ZrtpSession


def on_hello(session: ZrtpSession, packet, hello: packets.Hello, now: float) -> None:
    if session._peer_hello is not None:
        if session._is_duplicate(packet.message, session._peer_hello_bytes):
            session._send(packets.HELLO_ACK.encode())  # our HelloACK was lost
        else:
            session.stats.dropped_unexpected += 1  # a different Hello in the same session
        return
    # §4.1.1 version negotiation: we speak 1.10; a higher version waits for the peer to fall
    # back to ours, a lower one is refused with Error 0x30.
    if hello.version[:3] > ZRTP_VERSION[:3]:
        session.stats.dropped_version += 1
        return
    if hello.version[:3] < ZRTP_VERSION[:3]:
        session._fail_with_error(packets.ERROR_UNSUPPORTED_VERSION, now,
                                 f"peer speaks ZRTP {hello.version!r}, we need 1.1x")
        return
    if hello.zid == session.config.zid:
        session._fail_with_error(packets.ERROR_EQUAL_ZID, now, "peer uses our own ZID")
        return
    if session._expected_peer_hello_hash is not None and not hmac.compare_digest(
            implicit_hash(packet.message), session._expected_peer_hello_hash):
        session.stats.dropped_hello_hash += 1  # §8.1.1: not the Hello the signalling announced
        return
    session._peer_hello = hello
    session._peer_hello_bytes = packet.message
    session._accept(packet.message)
    session.peer_zid = hello.zid
    session._send(packets.HELLO_ACK.encode())
    session._events.append(Securing())
    commit.maybe_commit(session, now)


def on_hello_ack(session: ZrtpSession, packet, message, now: float) -> None:
    if session._hello_acknowledged:
        session.stats.duplicates += 1
        return
    session._hello_acknowledged = True
    session._stop_timer()
    commit.maybe_commit(session, now)


def on_hello_in_handshake(session: ZrtpSession, packet, hello, now: float) -> None:
    if session._is_duplicate(packet.message, session._peer_hello_bytes):
        if session.state is State.COMMIT_SENT or session.role == "responder":
            session._send(packets.HELLO_ACK.encode())
    else:
        session.stats.dropped_unexpected += 1
