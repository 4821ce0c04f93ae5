"""The ZRTP DH exchange (RFC 6189 §4.4.1): DHPart1, DHPart2 and the key derivation they enable.

The responder answers Commit with DHPart1; the initiator answers with the DHPart2 its hvi already
committed to. Each side then has DHResult and derives s0 and every key (§4.3-§4.5); the responder
goes on to send Confirm1. Handlers take the session first, as the state table in `session.py`
calls them.
"""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING

from . import packets
from .algorithms import HASHES, InvalidPublicValue
from .confirm import build_confirm
from .hashchain import implicit_hash, implicit_mac, preimage_matches
from .kdf import derive_session_keys, kdf_context, s0_dh_mode, total_hash
from .negotiation import match_retained_secret
from .states import State

if TYPE_CHECKING:
    from .session import ZrtpSession


def build_dhpart(session: ZrtpSession, part: int, rs1_id: bytes, rs2_id: bytes,
                 public_value: bytes) -> bytes:
    """DHPart1 or DHPart2 (§5.5, §5.6), MAC keyed by our H0 (§9)."""
    unsigned = packets.DHPart(
        part=part, h1=session._chain.h1, rs1_id=rs1_id, rs2_id=rs2_id,
        auxsecret_id=session._rng(8), pbxsecret_id=session._rng(8), public_value=public_value,
    ).encode()[:-8]
    return unsigned + implicit_mac(session._chain.h0, unsigned)


def on_dhpart1(session: ZrtpSession, packet, message, now: float) -> None:
    """Initiator: the responder's DHPart1 answers our Commit."""
    assert session._choice is not None and session._peer_hello is not None
    dhpart = parse_dhpart(session, packet.message)
    if dhpart is None:
        return
    # §9: H1 hashes twice to the responder's H3; its Hello MAC is keyed by H2 = hash(H1).
    if not preimage_matches(dhpart.h1, session._peer_hello.h3, steps=2):
        session.stats.dropped_hash_chain += 1
        return
    if not hmac.compare_digest(
            implicit_mac(implicit_hash(dhpart.h1), session._peer_hello_bytes[:-8]),
            session._peer_hello.mac):
        session.stats.dropped_mac += 1
        return
    if not derive_keys(session, dhpart, packet.message, now,
                       responder_hello=session._peer_hello_bytes,
                       dhpart1=packet.message, dhpart2=session._our_dhpart_bytes):
        return
    session.state = State.DHPART2_SENT
    session._send(session._our_dhpart_bytes)
    session._arm_t2(session._our_dhpart_bytes, now, "Confirm1")


def on_dhpart2(session: ZrtpSession, packet, message, now: float) -> None:
    """Responder: the initiator's DHPart2; hvi must match what its Commit promised."""
    assert session._choice is not None and session._peer_commit is not None
    dhpart = parse_dhpart(session, packet.message)
    if dhpart is None:
        return
    if not preimage_matches(dhpart.h1, session._peer_commit.h2):
        session.stats.dropped_hash_chain += 1
        return
    if not hmac.compare_digest(implicit_mac(dhpart.h1, session._commit_bytes[:-8]),
                               session._peer_commit.mac):
        session.stats.dropped_mac += 1
        return
    h = HASHES[session._choice.hash]
    # §4.4.1.1: hvi = hash(initiator's DHPart2 || responder's Hello), truncated to 256 bits.
    hvi = h.digest(packet.message + session._hello_bytes)[:32]
    if not hmac.compare_digest(hvi, session._peer_commit.hvi):
        session._fail_with_error(packets.ERROR_HVI_MISMATCH, now,
                                 "DHPart2 does not match the hvi of the peer's Commit")
        return
    if not derive_keys(session, dhpart, packet.message, now,
                       responder_hello=session._hello_bytes,
                       dhpart1=session._our_dhpart_bytes, dhpart2=packet.message):
        return
    assert session._keys is not None
    confirm1 = build_confirm(session, 1, session._keys.mac_key_responder,
                             session._keys.zrtp_key_responder)
    session.state = State.CONFIRM1_SENT
    session._last_reply = confirm1
    session._send(confirm1)


def on_dhpart2_again(session: ZrtpSession, packet, message, now: float) -> None:
    if session._is_duplicate(packet.message, session._peer_dhpart_bytes):
        session._send(session._last_reply)  # our Confirm1 was lost
    else:
        session.stats.dropped_unexpected += 1


def parse_dhpart(session: ZrtpSession, raw: bytes) -> packets.DHPart | None:
    assert session._choice is not None
    try:
        return packets.DHPart.parse(raw, session._choice.key_agreement)
    except packets.MalformedPacket:
        session.stats.dropped_malformed += 1
        return None


def derive_keys(session: ZrtpSession, dhpart: packets.DHPart, raw: bytes, now: float, *,
                responder_hello: bytes, dhpart1: bytes, dhpart2: bytes) -> bool:
    """DHResult, s1 (§4.3), total_hash and s0 (§4.4.1.4), then every key (§4.5)."""
    assert session._choice is not None and session.peer_zid is not None
    choice = session._choice
    h = HASHES[choice.hash]
    try:
        dh_result = session._key_agreement(choice.key_agreement).shared_secret(
            dhpart.public_value)
    except InvalidPublicValue as exc:
        session._fail_with_error(packets.ERROR_BAD_PUBLIC_VALUE, now, str(exc))
        return False
    is_initiator = session.role == "initiator"
    rs1, rs2 = session._retained_pair()
    s1 = match_retained_secret(h, rs1, rs2, dhpart.rs1_id, dhpart.rs2_id, is_initiator)
    # §4.3.2: we hold a secret for this ZID and none matched: possible MiTM.
    session._cache_mismatch = s1 is None and (rs1 is not None or rs2 is not None)
    session._local_verified = (bool(session._retained and session._retained.verified)
                               and s1 is not None)
    zid_i, zid_r = ((session.config.zid, session.peer_zid) if is_initiator
                    else (session.peer_zid, session.config.zid))
    total = total_hash(h, responder_hello, session._commit_bytes, dhpart1, dhpart2)
    s0 = s0_dh_mode(h, dh_result, zid_i, zid_r, total, s1, None, None)
    session._keys = derive_session_keys(choice.hash, choice.cipher, s0,
                                        kdf_context(zid_i, zid_r, total))
    session._peer_dhpart = dhpart
    session._peer_dhpart_bytes = raw
    session._accept(raw)
    session._stop_timer()
    return True
