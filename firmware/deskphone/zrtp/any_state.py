"""ZRTP messages outside the handshake flow (RFC 6189 §5.9-§5.16).

In every state: Error/ErrorACK (§5.9, §5.10) and Ping/PingACK (§5.15, §5.16). Once secure:
GoClear (§5.11; we never go clear, so an authentic GoClear is refused with Error 0x100 and SRTP
continues) and SASrelay (§5.13, §7.3; always refused with Error 0x63, see `on_sasrelay`). Handlers
get the handshake state and return a `Step` (see `actions.py`).

Error is unauthenticated (§5.9): it may end a handshake still under way, but not one whose keys
were confirmed: not once secure, and not an initiator whose Confirm1 verified (§4.6), which would
otherwise be pushed to "not secure" (and, without require_secure, cleartext) while the responder
shows "secure". Such an Error is acknowledged, counted and ignored.
"""

from __future__ import annotations

import hmac

from . import packets
from .actions import STAY, Fail, Send, Step, StopTimer
from .algorithms import HASHES
from .handshake import Handshake
from .hashchain import implicit_hash
from .packets import ZRTP_VERSION
from .states import State


def on_error(hs: Handshake, packet, error: packets.ErrorMessage, now: float) -> Step:
    hs.stats.errors_received += 1
    ack = Send(packets.ERROR_ACK.encode())
    if hs.state in (State.SECURE, State.CONFIRM2_SENT):
        hs.stats.errors_ignored += 1  # cannot tear down confirmed keys (see above)
        return Step(STAY, [ack])
    if hs.state is State.FAILED:
        return Step(STAY, [ack])
    return Step(State.FAILED, [ack, Fail(f"peer sent ZRTP Error 0x{error.code:x} "
                                         f"({error.description})")])


def on_error_ack(hs: Handshake, packet, message, now: float) -> Step:
    if hs.state is State.FAILED:
        return Step(STAY, [StopTimer()])
    hs.stats.dropped_unexpected += 1
    return Step(STAY)


def on_ping(hs: Handshake, packet, ping: packets.Ping, now: float) -> Step:
    ack = packets.PingAck(ZRTP_VERSION, implicit_hash(hs.config.zid)[:8], ping.endpoint_hash,
                          packet.ssrc)
    return Step(STAY, [Send(ack.encode())])


def on_goclear(hs: Handshake, packet, goclear: packets.GoClear, now: float) -> Step:
    """§5.11: we never go clear. An authentic GoClear gets Error 0x100; SRTP continues."""
    assert hs.choice is not None
    mac_key, _ = hs.peer_keys()
    expected = HASHES[hs.choice.hash].hmac(mac_key, b"GoClear ")[:8]
    if not hmac.compare_digest(expected, goclear.clear_mac):
        hs.stats.dropped_mac += 1
        return Step(STAY)
    hs.stats.goclear_refused += 1
    hs.stats.errors_sent += 1
    return Step(STAY, [Send(packets.ErrorMessage(packets.ERROR_GOCLEAR_NOT_ALLOWED).encode())])


def on_sasrelay(hs: Handshake, packet, relay: packets.SasRelay, now: float) -> Step:
    """§5.13 / §7.3: a PBX relays the SAS of its other leg. We refuse every one.

    §7.3 trusts a relayed SAS only from a PBX the user enrolled with, and §7.3.1 proves the
    enrolment with a pbxsecret (s3 in s0) set up in an enrolment call the person confirms. We have
    no enrolment, so no SASrelay can be trusted: a Hello's M flag and ZID are the peer's own claims
    and anyone can make them. Accepting one would let a MiTM replace a cache mismatch alarm or a
    SAS the people would compare with a SAS of its choosing. An authentic one (the peer's MAC key)
    gets Error 0x63 "relayed SAS from untrusted MiTM" (§5.9); the SAS on screen stays ours."""
    assert hs.choice is not None
    mac_key, _ = hs.peer_keys()
    expected = HASHES[hs.choice.hash].hmac(mac_key, relay.encrypted)[:8]
    if not hmac.compare_digest(expected, relay.mac):
        hs.stats.dropped_mac += 1
        return Step(STAY)
    hs.stats.sasrelay_refused += 1
    hs.stats.errors_sent += 1
    return Step(STAY, [Send(packets.ErrorMessage(packets.ERROR_UNTRUSTED_MITM).encode())])
