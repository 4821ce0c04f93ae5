"""ZRTP messages outside the handshake flow (RFC 6189 §5.9-§5.16).

In every state: Error/ErrorACK (§5.9, §5.10) and Ping/PingACK (§5.15, §5.16). Once secure:
GoClear (§5.11; we never go clear, so an authentic GoClear is refused with Error 0x100 and SRTP
continues) and SASrelay/RelayACK (§5.13, §5.14, §7.3; only from a PBX the user enrolled). Handlers
get the handshake state and return a `Step` (see `actions.py`).
"""

from __future__ import annotations

import hmac

from . import packets
from .actions import STAY, Emit, Fail, Send, Step, StopTimer
from .algorithms import CIPHERS, HASHES
from .algorithms import render_sas as render_sas_value
from .events import CacheMismatch, Secure
from .handshake import Handshake
from .hashchain import implicit_hash
from .packets import ZRTP_VERSION
from .states import State


def on_error(hs: Handshake, packet, error: packets.ErrorMessage, now: float) -> Step:
    hs.stats.errors_received += 1
    ack = Send(packets.ERROR_ACK.encode())
    if hs.state is State.SECURE:
        return Step(STAY, [ack])  # an unauthenticated Error cannot tear down confirmed keys
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
    """§5.13 / §7.3: a PBX relays the SAS of its other leg; only from an enrolled PBX."""
    assert hs.choice is not None and hs.peer_zid is not None
    mac_key, zrtp_key = hs.peer_keys()
    expected = HASHES[hs.choice.hash].hmac(mac_key, relay.encrypted)[:8]
    if not hmac.compare_digest(expected, relay.mac):
        hs.stats.dropped_mac += 1
        return Step(STAY)
    peer_is_pbx = bool(hs.peer_hello and hs.peer_hello.mitm)
    if not peer_is_pbx or hs.peer_zid not in hs.config.pbx_enrolled:
        hs.stats.sasrelay_refused += 1
        hs.stats.errors_sent += 1
        return Step(STAY, [Send(packets.ErrorMessage(packets.ERROR_UNTRUSTED_MITM).encode())])
    plaintext = CIPHERS[hs.choice.cipher].cfb_decrypt(zrtp_key, relay.iv, relay.encrypted)
    if len(plaintext) < 40:
        hs.stats.dropped_malformed += 1
        return Step(STAY)
    scheme = packets._algorithm_name(plaintext[4:8])
    trusted_sas_hash = plaintext[8:40]
    ack = Send(packets.RELAY_ACK.encode())
    if scheme not in ("B32", "B256") or not any(trusted_sas_hash):
        return Step(STAY, [ack])  # an all-zero hash means "no relayed SAS" (§5.13)
    previous = hs.finished_event
    if not isinstance(previous, Secure | CacheMismatch):
        return Step(STAY, [ack])
    return Step(STAY, [ack, Emit(Secure(
        sas=render_sas_value(scheme, trusted_sas_hash[:4]), sas_type=scheme,
        verified=False, srtp=previous.srtp, cipher=previous.cipher, hash=previous.hash,
        auth_tag=previous.auth_tag, key_agreement=previous.key_agreement,
        peer_zid=previous.peer_zid))])
