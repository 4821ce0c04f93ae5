"""ZRTP Confirm1/Confirm2 and Conf2ACK (RFC 6189 §4.6, §5.7, §5.8), and the secure hand-off.

Each Confirm carries our H0 and flags encrypted under the ZRTP key (CFB) and a MAC under the MAC key
of its sender; opening the peer's Confirm also closes the hash chain (H0 -> the peer's DHPart).
Conf2ACK (or, for the responder, an authentic Confirm2) ends the handshake: the retained secret is
rotated (§4.6.1) and the SRTP keys and SAS go out as a Secure or CacheMismatch event. Handlers get
the handshake state and return a `Step` (see `actions.py`).
"""

from __future__ import annotations

import hmac
import logging

from . import packets
from .actions import STAY, Action, ArmT2, Emit, Send, Step, StopTimer, StoreSecret
from .algorithms import CIPHERS, HASHES, srtp_profile
from .events import CacheMismatch, Secure, SrtpKeys
from .handshake import Handshake
from .hashchain import implicit_mac, preimage_matches
from .retained import SecretUpdate
from .states import State

log = logging.getLogger(__name__)


def build_confirm(hs: Handshake, part: int, mac_key: bytes, zrtp_key: bytes) -> bytes:
    assert hs.choice is not None
    plaintext = packets.ConfirmPlaintext(
        h0=hs.chain.h0,
        sas_verified=hs.local_verified and not hs.cache_mismatch,
        cache_expiration=hs.config.cache_expiration,
    ).encode()
    iv = hs.rng(16)
    encrypted = CIPHERS[hs.choice.cipher].cfb_encrypt(zrtp_key, iv, plaintext)
    confirm_mac = HASHES[hs.choice.hash].hmac(mac_key, encrypted)[:8]
    return packets.Confirm(part, confirm_mac, iv, encrypted).encode()


def open_confirm(hs: Handshake, confirm: packets.Confirm, mac_key: bytes,
                 zrtp_key: bytes) -> packets.ConfirmPlaintext | None:
    assert hs.choice is not None and hs.peer_dhpart is not None
    expected_mac = HASHES[hs.choice.hash].hmac(mac_key, confirm.encrypted)[:8]
    if not hmac.compare_digest(expected_mac, confirm.confirm_mac):
        hs.stats.dropped_mac += 1
        return None
    try:
        plaintext = packets.ConfirmPlaintext.parse(
            CIPHERS[hs.choice.cipher].cfb_decrypt(zrtp_key, confirm.iv, confirm.encrypted))
    except packets.MalformedPacket:
        hs.stats.dropped_malformed += 1
        return None
    # §9: H0 hashes to the peer's DHPart H1, and that DHPart's MAC is keyed by H0.
    if not preimage_matches(plaintext.h0, hs.peer_dhpart.h1):
        hs.stats.dropped_hash_chain += 1
        return None
    if not hmac.compare_digest(implicit_mac(plaintext.h0, hs.peer_dhpart_bytes[:-8]),
                               hs.peer_dhpart.mac):
        hs.stats.dropped_mac += 1
        return None
    hs.peer_verified = plaintext.sas_verified
    hs.peer_cache_expiration = plaintext.cache_expiration
    return plaintext


def on_confirm1(hs: Handshake, packet, confirm: packets.Confirm, now: float) -> Step:
    assert hs.keys is not None
    if open_confirm(hs, confirm, hs.keys.mac_key_responder, hs.keys.zrtp_key_responder) is None:
        return Step(STAY)
    hs.accept(packet.message)
    confirm2 = build_confirm(hs, 2, hs.keys.mac_key_initiator, hs.keys.zrtp_key_initiator)
    return Step(State.CONFIRM2_SENT, [Send(confirm2), ArmT2(confirm2, "Conf2ACK")])


def on_confirm2(hs: Handshake, packet, confirm: packets.Confirm, now: float) -> Step:
    assert hs.keys is not None
    if open_confirm(hs, confirm, hs.keys.mac_key_initiator, hs.keys.zrtp_key_initiator) is None:
        return Step(STAY)
    hs.accept(packet.message)
    hs.last_reply = packets.CONF2_ACK.encode()
    return Step(State.SECURE, [Send(hs.last_reply), *finish(hs)])


def on_confirm2_again(hs: Handshake, packet, message, now: float) -> Step:
    if hs.role == "responder" and hs.is_duplicate(packet.message, hs.last_peer_message):
        return Step(STAY, [Send(hs.last_reply)])  # our Conf2ACK was lost
    hs.stats.dropped_unexpected += 1
    return Step(STAY)


def on_conf2ack(hs: Handshake, packet, message, now: float) -> Step:
    return Step(State.SECURE, finish(hs))


def finish(hs: Handshake) -> list[Action]:
    """The actions that end a successful handshake: rotate the retained secret, emit the keys."""
    assert hs.keys is not None and hs.choice is not None and hs.peer_zid is not None
    keys, choice = hs.keys, hs.choice
    # §4.6.1: rs2 = rs1, rs1 = KDF(s0, "retained secret"); keep the shorter expiry of the two.
    store = StoreSecret(SecretUpdate(
        hs.peer_zid, new_rs1=keys.new_rs1, verified=hs.local_verified,
        expiration_interval=min(hs.peer_cache_expiration, hs.config.cache_expiration)))
    if hs.role == "initiator":
        local = (keys.srtp_key_initiator, keys.srtp_salt_initiator)
        remote = (keys.srtp_key_responder, keys.srtp_salt_responder)
    else:
        local = (keys.srtp_key_responder, keys.srtp_salt_responder)
        remote = (keys.srtp_key_initiator, keys.srtp_salt_initiator)
    srtp = SrtpKeys(srtp_profile(choice.cipher, choice.auth_tag), local[0], local[1],
                    remote[0], remote[1])
    sas = keys.render_sas(choice.sas_type)
    event: Secure | CacheMismatch
    if hs.cache_mismatch:
        log.warning("ZRTP retained secret mismatch with peer %s: SAS must be verified",
                    hs.peer_zid.hex())
        event = CacheMismatch(
            sas=sas, sas_type=choice.sas_type, srtp=srtp, cipher=choice.cipher,
            hash=choice.hash, auth_tag=choice.auth_tag, key_agreement=choice.key_agreement,
            peer_zid=hs.peer_zid)
    else:
        event = Secure(
            sas=sas, sas_type=choice.sas_type,
            verified=hs.local_verified and hs.peer_verified, srtp=srtp,
            cipher=choice.cipher, hash=choice.hash, auth_tag=choice.auth_tag,
            key_agreement=choice.key_agreement, peer_zid=hs.peer_zid)
    hs.finished_event = event
    return [StopTimer(), store, Emit(event)]
