"""ZRTP messages outside the handshake flow (RFC 6189 §5.9-§5.16).

In every state: Error/ErrorACK (§5.9, §5.10) and Ping/PingACK (§5.15, §5.16). Once secure:
GoClear (§5.11; we never go clear, so an authentic GoClear is refused with Error 0x100 and SRTP
continues) and SASrelay/RelayACK (§5.13, §5.14, §7.3; only from a PBX the user enrolled). Handlers
take the session first, as the state table in `session.py` calls them.
"""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING

from . import packets
from .algorithms import CIPHERS, HASHES
from .algorithms import render_sas as render_sas_value
from .events import CacheMismatch, Secure
from .hashchain import implicit_hash
from .packets import ZRTP_VERSION
from .states import State

if TYPE_CHECKING:
    from .session import ZrtpSession


def on_error(session: ZrtpSession, packet, error: packets.ErrorMessage, now: float) -> None:
    session.stats.errors_received += 1
    session._send(packets.ERROR_ACK.encode())
    if session.state is State.SECURE:
        return  # an unauthenticated Error cannot tear down keys already confirmed
    session._fail(f"peer sent ZRTP Error 0x{error.code:x} ({error.description})")


def on_error_ack(session: ZrtpSession, packet, message, now: float) -> None:
    if session.state is State.FAILED:
        session._stop_timer()
    else:
        session.stats.dropped_unexpected += 1


def on_ping(session: ZrtpSession, packet, ping: packets.Ping, now: float) -> None:
    ack = packets.PingAck(ZRTP_VERSION, implicit_hash(session.config.zid)[:8],
                          ping.endpoint_hash, packet.ssrc)
    session._send(ack.encode())


def peer_keys(session: ZrtpSession) -> tuple[bytes, bytes]:
    """(mac key, zrtp key) the peer uses for what it sends."""
    assert session._keys is not None
    if session.role == "initiator":
        return session._keys.mac_key_responder, session._keys.zrtp_key_responder
    return session._keys.mac_key_initiator, session._keys.zrtp_key_initiator


def on_goclear(session: ZrtpSession, packet, goclear: packets.GoClear, now: float) -> None:
    """§5.11: we never go clear. An authentic GoClear gets Error 0x100; SRTP continues."""
    assert session._choice is not None
    mac_key, _ = peer_keys(session)
    expected = HASHES[session._choice.hash].hmac(mac_key, b"GoClear ")[:8]
    if not hmac.compare_digest(expected, goclear.clear_mac):
        session.stats.dropped_mac += 1
        return
    session.stats.goclear_refused += 1
    session.stats.errors_sent += 1
    session._send(packets.ErrorMessage(packets.ERROR_GOCLEAR_NOT_ALLOWED).encode())


def on_sasrelay(session: ZrtpSession, packet, relay: packets.SasRelay, now: float) -> None:
    """§5.13 / §7.3: a PBX relays the SAS of its other leg; only from an enrolled PBX."""
    assert session._choice is not None and session.peer_zid is not None
    mac_key, zrtp_key = peer_keys(session)
    expected = HASHES[session._choice.hash].hmac(mac_key, relay.encrypted)[:8]
    if not hmac.compare_digest(expected, relay.mac):
        session.stats.dropped_mac += 1
        return
    peer_is_pbx = bool(session._peer_hello and session._peer_hello.mitm)
    if not peer_is_pbx or session.peer_zid not in session.config.pbx_enrolled:
        session.stats.sasrelay_refused += 1
        session.stats.errors_sent += 1
        session._send(packets.ErrorMessage(packets.ERROR_UNTRUSTED_MITM).encode())
        return
    plaintext = CIPHERS[session._choice.cipher].cfb_decrypt(zrtp_key, relay.iv, relay.encrypted)
    if len(plaintext) < 40:
        session.stats.dropped_malformed += 1
        return
    scheme = packets._algorithm_name(plaintext[4:8])
    trusted_sas_hash = plaintext[8:40]
    session._send(packets.RELAY_ACK.encode())
    if scheme not in ("B32", "B256") or not any(trusted_sas_hash):
        return  # an all-zero hash means "no relayed SAS" (§5.13)
    previous = session._finished_event
    if isinstance(previous, Secure | CacheMismatch):
        session._events.append(Secure(
            sas=render_sas_value(scheme, trusted_sas_hash[:4]), sas_type=scheme,
            verified=False, srtp=previous.srtp, cipher=previous.cipher, hash=previous.hash,
            auth_tag=previous.auth_tag, key_agreement=previous.key_agreement,
            peer_zid=previous.peer_zid))
