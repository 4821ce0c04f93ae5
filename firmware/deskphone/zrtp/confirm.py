"""ZRTP Confirm1/Confirm2 and Conf2ACK (RFC 6189 §4.6, §5.7, §5.8), and the secure hand-off.

Each Confirm carries our H0 and flags encrypted under the ZRTP key (CFB) and a MAC under the MAC key
of its sender; opening the peer's Confirm also closes the hash chain (H0 -> the peer's DHPart).
Conf2ACK (or, for the responder, an authentic Confirm2) ends the handshake: the retained secret is
rotated (§4.6.1) and the SRTP keys and SAS go out as a Secure or CacheMismatch event. Handlers
take the session first, as the state table in `session.py` calls them.
"""

from __future__ import annotations

import hmac
import logging
from typing import TYPE_CHECKING

from . import packets
from .algorithms import CIPHERS, HASHES, srtp_profile
from .cache import NEVER_EXPIRES
from .events import CacheMismatch, Secure, SrtpKeys
from .hashchain import implicit_mac, preimage_matches
from .states import State

if TYPE_CHECKING:
    from .session import ZrtpSession

log = logging.getLogger(__name__)


def build_confirm(session: ZrtpSession, part: int, mac_key: bytes, zrtp_key: bytes) -> bytes:
    assert session._choice is not None
    plaintext = packets.ConfirmPlaintext(
        h0=session._chain.h0,
        sas_verified=session._local_verified and not session._cache_mismatch,
        cache_expiration=NEVER_EXPIRES,
    ).encode()
    iv = session._rng(16)
    encrypted = CIPHERS[session._choice.cipher].cfb_encrypt(zrtp_key, iv, plaintext)
    confirm_mac = HASHES[session._choice.hash].hmac(mac_key, encrypted)[:8]
    return packets.Confirm(part, confirm_mac, iv, encrypted).encode()


def open_confirm(session: ZrtpSession, confirm: packets.Confirm, mac_key: bytes,
                 zrtp_key: bytes) -> packets.ConfirmPlaintext | None:
    assert session._choice is not None and session._peer_dhpart is not None
    expected_mac = HASHES[session._choice.hash].hmac(mac_key, confirm.encrypted)[:8]
    if not hmac.compare_digest(expected_mac, confirm.confirm_mac):
        session.stats.dropped_mac += 1
        return None
    try:
        plaintext = packets.ConfirmPlaintext.parse(
            CIPHERS[session._choice.cipher].cfb_decrypt(zrtp_key, confirm.iv, confirm.encrypted))
    except packets.MalformedPacket:
        session.stats.dropped_malformed += 1
        return None
    # §9: H0 hashes to the peer's DHPart H1, and that DHPart's MAC is keyed by H0.
    if not preimage_matches(plaintext.h0, session._peer_dhpart.h1):
        session.stats.dropped_hash_chain += 1
        return None
    if not hmac.compare_digest(implicit_mac(plaintext.h0, session._peer_dhpart_bytes[:-8]),
                               session._peer_dhpart.mac):
        session.stats.dropped_mac += 1
        return None
    session._peer_verified = plaintext.sas_verified
    session._peer_cache_expiration = plaintext.cache_expiration
    return plaintext


def on_confirm1(session: ZrtpSession, packet, confirm: packets.Confirm, now: float) -> None:
    assert session._keys is not None
    if open_confirm(session, confirm, session._keys.mac_key_responder,
                    session._keys.zrtp_key_responder) is None:
        return
    session._accept(packet.message)
    confirm2 = build_confirm(session, 2, session._keys.mac_key_initiator,
                             session._keys.zrtp_key_initiator)
    session.state = State.CONFIRM2_SENT
    session._send(confirm2)
    session._arm_t2(confirm2, now, "Conf2ACK")


def on_confirm2(session: ZrtpSession, packet, confirm: packets.Confirm, now: float) -> None:
    assert session._keys is not None
    if open_confirm(session, confirm, session._keys.mac_key_initiator,
                    session._keys.zrtp_key_initiator) is None:
        return
    session._accept(packet.message)
    session._last_reply = packets.CONF2_ACK.encode()
    session._send(session._last_reply)
    finish(session)


def on_confirm2_again(session: ZrtpSession, packet, message, now: float) -> None:
    if session.role == "responder" and session._is_duplicate(packet.message,
                                                             session._last_peer_message):
        session._send(session._last_reply)  # our Conf2ACK was lost
    else:
        session.stats.dropped_unexpected += 1


def on_conf2ack(session: ZrtpSession, packet, message, now: float) -> None:
    session._stop_timer()
    finish(session)


def finish(session: ZrtpSession) -> None:
    assert (session._keys is not None and session._choice is not None
            and session.peer_zid is not None)
    keys, choice = session._keys, session._choice
    session.state = State.SECURE
    session._guard_deadline = None
    session._stop_timer()
    # §4.6.1: rs2 = rs1, rs1 = KDF(s0, "retained secret"); keep the shorter expiry of the two.
    session._cache.store_secret(session.peer_zid, keys.new_rs1, verified=session._local_verified,
                                expiration_interval=session._peer_cache_expiration)
    if session.role == "initiator":
        local = (keys.srtp_key_initiator, keys.srtp_salt_initiator)
        remote = (keys.srtp_key_responder, keys.srtp_salt_responder)
    else:
        local = (keys.srtp_key_responder, keys.srtp_salt_responder)
        remote = (keys.srtp_key_initiator, keys.srtp_salt_initiator)
    srtp = SrtpKeys(srtp_profile(choice.cipher, choice.auth_tag), local[0], local[1],
                    remote[0], remote[1])
    sas = keys.render_sas(choice.sas_type)
    if session._cache_mismatch:
        log.warning("ZRTP retained secret mismatch with peer %s: SAS must be verified",
                    session.peer_zid.hex())
        session._events.append(CacheMismatch(
            sas=sas, sas_type=choice.sas_type, srtp=srtp, cipher=choice.cipher,
            hash=choice.hash, auth_tag=choice.auth_tag, key_agreement=choice.key_agreement,
            peer_zid=session.peer_zid))
    else:
        session._events.append(Secure(
            sas=sas, sas_type=choice.sas_type,
            verified=session._local_verified and session._peer_verified, srtp=srtp,
            cipher=choice.cipher, hash=choice.hash, auth_tag=choice.auth_tag,
            key_agreement=choice.key_agreement, peer_zid=session.peer_zid))
    session._finished_event = session._events[-1]
