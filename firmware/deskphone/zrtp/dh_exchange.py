"""The ZRTP DH exchange (RFC 6189 §4.4.1): DHPart1, DHPart2 and the key derivation they enable.

The responder answers Commit with DHPart1; the initiator answers with the DHPart2 its hvi already
committed to. Each side then has DHResult and derives s0 and every key (§4.3-§4.5); the responder
goes on to send Confirm1. Handlers get the handshake state and return a `Step` (`actions.py`).
"""

from __future__ import annotations

import hmac

from . import packets
from .actions import STAY, ArmT2, Send, Step, StopTimer, fail
from .algorithms import HASHES, InvalidPublicValue
from .confirm import build_confirm
from .handshake import Handshake
from .hashchain import implicit_hash, implicit_mac, preimage_matches
from .kdf import derive_session_keys, kdf_context, s0_dh_mode, total_hash
from .negotiation import match_retained_secret
from .pq_kem import HybridKemInitiator, HybridKemResponder, InvalidKemValue
from .states import State


def build_dhpart(hs: Handshake, part: int, rs1_id: bytes, rs2_id: bytes,
                 public_value: bytes) -> bytes:
    """DHPart1 or DHPart2 (§5.5, §5.6), MAC keyed by our H0 (§9)."""
    unsigned = packets.DHPart(
        part=part, h1=hs.chain.h1, rs1_id=rs1_id, rs2_id=rs2_id,
        auxsecret_id=hs.rng(8), pbxsecret_id=hs.rng(8), public_value=public_value,
    ).encode()[:-8]
    return unsigned + implicit_mac(hs.chain.h0, unsigned)


def on_dhpart1(hs: Handshake, packet, message, now: float) -> Step:
    """Initiator: the responder's DHPart1 answers our Commit."""
    assert hs.choice is not None and hs.peer_hello is not None
    dhpart = parse_dhpart(hs, packet.message)
    if dhpart is None:
        return Step(STAY)
    # §9: H1 hashes twice to the responder's H3; its Hello MAC is keyed by H2 = hash(H1).
    if not preimage_matches(dhpart.h1, hs.peer_hello.h3, steps=2):
        hs.stats.dropped_hash_chain += 1
        return Step(STAY)
    if not hmac.compare_digest(implicit_mac(implicit_hash(dhpart.h1), hs.peer_hello_bytes[:-8]),
                               hs.peer_hello.mac):
        hs.stats.dropped_mac += 1
        return Step(STAY)
    failed = derive_keys(hs, dhpart, packet.message, responder_hello=hs.peer_hello_bytes,
                         dhpart1=packet.message, dhpart2=hs.our_dhpart_bytes)
    if failed is not None:
        return failed
    return Step(State.DHPART2_SENT, [StopTimer(), Send(hs.our_dhpart_bytes),
                                     ArmT2(hs.our_dhpart_bytes, "Confirm1")])


def on_dhpart2(hs: Handshake, packet, message, now: float) -> Step:
    """Responder: the initiator's DHPart2; hvi must match what its Commit promised."""
    assert hs.choice is not None and hs.peer_commit is not None
    dhpart = parse_dhpart(hs, packet.message)
    if dhpart is None:
        return Step(STAY)
    if not preimage_matches(dhpart.h1, hs.peer_commit.h2):
        hs.stats.dropped_hash_chain += 1
        return Step(STAY)
    if not hmac.compare_digest(implicit_mac(dhpart.h1, hs.commit_bytes[:-8]),
                               hs.peer_commit.mac):
        hs.stats.dropped_mac += 1
        return Step(STAY)
    h = HASHES[hs.choice.hash]
    # §4.4.1.1: hvi = hash(initiator's DHPart2 || responder's Hello), truncated to 256 bits.
    hvi = h.digest(packet.message + hs.hello_bytes)[:32]
    if not hmac.compare_digest(hvi, hs.peer_commit.hvi):
        return fail("DHPart2 does not match the hvi of the peer's Commit",
                    packets.ERROR_HVI_MISMATCH)
    failed = derive_keys(hs, dhpart, packet.message, responder_hello=hs.hello_bytes,
                         dhpart1=hs.our_dhpart_bytes, dhpart2=packet.message)
    if failed is not None:
        return failed
    assert hs.keys is not None
    confirm1 = build_confirm(hs, 1, hs.keys.mac_key_responder, hs.keys.zrtp_key_responder)
    hs.last_reply = confirm1
    return Step(State.CONFIRM1_SENT, [StopTimer(), Send(confirm1)])


def on_dhpart2_again(hs: Handshake, packet, message, now: float) -> Step:
    if hs.is_duplicate(packet.message, hs.peer_dhpart_bytes):
        return Step(STAY, [Send(hs.last_reply)])  # our Confirm1 was lost
    hs.stats.dropped_unexpected += 1
    return Step(STAY)


def parse_dhpart(hs: Handshake, raw: bytes) -> packets.DHPart | None:
    assert hs.choice is not None
    try:
        return packets.DHPart.parse(raw, hs.choice.key_agreement)
    except packets.MalformedPacket:
        hs.stats.dropped_malformed += 1
        return None


def derive_keys(hs: Handshake, dhpart: packets.DHPart, raw: bytes, *, responder_hello: bytes,
                dhpart1: bytes, dhpart2: bytes) -> Step | None:
    """DHResult, s1 (§4.3), total_hash and s0 (§4.4.1.4), then every key (§4.5).

    Returns None on success, or the failing Step (a bad public value, §4.4.1.1)."""
    assert hs.choice is not None and hs.peer_zid is not None
    choice = hs.choice
    h = HASHES[choice.hash]
    try:
        if isinstance(hs.kem, HybridKemInitiator):  # DPQ1: decapsulate DHPart1's ciphertext
            dh_result = hs.kem.shared_secret(h.digest, dhpart.public_value)
        elif isinstance(hs.kem, HybridKemResponder):  # encapsulated on Commit; DHPart2: nonce
            dh_result = hs.kem.shared_secret(h.digest)
        else:
            dh_result = hs.key_agreement(choice.key_agreement).shared_secret(dhpart.public_value)
    except (InvalidPublicValue, InvalidKemValue) as exc:
        return fail(str(exc), packets.ERROR_BAD_PUBLIC_VALUE)
    is_initiator = hs.role == "initiator"
    rs1, rs2 = hs.retained_pair()
    s1 = match_retained_secret(h, rs1, rs2, dhpart.rs1_id, dhpart.rs2_id, is_initiator)
    # §4.3.2: we hold a secret for this ZID and none matched: possible MiTM.
    hs.cache_mismatch = s1 is None and (rs1 is not None or rs2 is not None)
    hs.local_verified = bool(hs.retained and hs.retained.verified) and s1 is not None
    zid_i, zid_r = ((hs.config.zid, hs.peer_zid) if is_initiator
                    else (hs.peer_zid, hs.config.zid))
    total = total_hash(h, responder_hello, hs.commit_bytes, dhpart1, dhpart2)
    s0 = s0_dh_mode(h, dh_result, zid_i, zid_r, total, s1, None, None)
    hs.keys = derive_session_keys(choice.hash, choice.cipher, s0,
                                  kdf_context(zid_i, zid_r, total))
    hs.peer_dhpart = dhpart
    hs.peer_dhpart_bytes = raw
    hs.accept(raw)
    return None
