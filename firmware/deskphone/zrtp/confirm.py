"""ZRTP Confirm1/Confirm2 and Conf2ACK (RFC 6189 §4.6, §5.7, §5.8), and the secure hand-off.

Each Confirm carries our H0 and flags encrypted under the ZRTP key (CFB) and a MAC under the MAC key
of its sender; opening the peer's Confirm also closes the hash chain (H0 -> the peer's DHPart).
Conf2ACK (or, for the responder, an authentic Confirm2) ends the handshake: the retained secret is
rotated (§4.6.1) and the SRTP keys and SAS go out as a Secure or CacheMismatch event.

The initiator's Confirm1 check is the point of no return: the responder has proven it holds the
same keys, so from there the initiator never falls back to "not secure". It announces the keys at
once (SrtpReceiveReady: SRTP from the responder may already arrive, §4.6), takes authenticated SRTP
from the responder as an implicit Conf2ACK, and goes secure when its Confirm2 retransmissions are
spent without a Conf2ACK (the responder, having answered DHPart2, holds these keys whatever
happened to the Conf2ACKs).

After a cache mismatch (§4.6.1.1) the old rs1 stays in the cache and the new one is held back
until the person verifies the SAS in this call (`confirm_sas`): an attacker who completed one
call does not thereby become the trusted peer of the next. A cache expiration of 0 (§5.7) means
"do not keep the new rs1"; it never erases a secret the peer did not prove it holds. Handlers get
the handshake state and return a `Step` (see `actions.py`).
"""

from __future__ import annotations

import hmac
import logging

from . import packets
from .actions import STAY, Action, ArmT2, Emit, Send, Step, StopTimer, StoreSecret
from .algorithms import CIPHERS, HASHES, srtp_profile
from .events import CacheMismatch, Secure, SrtpKeys, SrtpReceiveReady
from .handshake import Handshake
from .hashchain import implicit_mac, preimage_matches
from .retained import DO_NOT_CACHE, SecretUpdate
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
    return Step(State.CONFIRM2_SENT, [Send(confirm2), ArmT2(confirm2, "Conf2ACK"),
                                      Emit(SrtpReceiveReady(srtp_keys(hs)))])


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


def on_peer_srtp_authenticated(hs: Handshake, now: float) -> Step:
    """Initiator: SRTP from the responder authenticated under the new keys, so it got our
    Confirm2: an implicit Conf2ACK (§4.6, §5.8)."""
    hs.stats.conf2ack_implicit += 1
    return Step(State.SECURE, finish(hs))


def on_conf2ack_missing(hs: Handshake, now: float) -> Step:
    """Initiator: Confirm2 retransmissions spent without a Conf2ACK. Confirm1 verified, so the
    keys are the responder's too: go secure rather than fall back to cleartext (§4.6)."""
    hs.stats.conf2ack_missing += 1
    return Step(State.SECURE, finish(hs))


def retained_secret_update(hs: Handshake) -> SecretUpdate | None:
    """What the end of the handshake writes to the cache (§4.6.1, §4.6.1.1, §4.9, §5.7)."""
    assert hs.keys is not None and hs.peer_zid is not None
    expiration = min(hs.peer_cache_expiration, hs.config.cache_expiration)
    if hs.cache_mismatch:
        # §4.6.1.1: no evidence against a MiTM (we have no signatures, and a=zrtp-hash needs
        # integrity-protected signalling): keep the cached rs1, hold the new one until the SAS
        # is verified; the verified flag is cleared (the peer is no longer proven).
        hs.pending_rs1, hs.pending_expiration = hs.keys.new_rs1, expiration
        return SecretUpdate(hs.peer_zid, verified=False)
    if expiration == DO_NOT_CACHE:
        if hs.retained is not None and hs.retained.verified:
            return None  # the new rs1 is not kept, but the verified history stays
        return SecretUpdate(hs.peer_zid, forget=True)
    # §4.6.1: rs2 = rs1, rs1 = KDF(s0, "retained secret"); the shorter expiry of the two sides.
    return SecretUpdate(hs.peer_zid, new_rs1=hs.keys.new_rs1, verified=hs.local_verified,
                        expiration_interval=expiration)


def sas_verified_update(hs: Handshake, verified: bool) -> SecretUpdate:
    """The user's verdict on the SAS; a verified SAS also lets a held-back rs1 in (§4.6.1.1)."""
    assert hs.peer_zid is not None
    pending, hs.pending_rs1 = hs.pending_rs1, None
    if verified and pending is not None and hs.pending_expiration != DO_NOT_CACHE:
        return SecretUpdate(hs.peer_zid, new_rs1=pending, verified=True,
                            expiration_interval=hs.pending_expiration)
    return SecretUpdate(hs.peer_zid, verified=verified)


def srtp_keys(hs: Handshake) -> SrtpKeys:
    """Our SRTP master keys (§4.5.3): "local" protects what we send."""
    assert hs.keys is not None and hs.choice is not None
    keys = hs.keys
    if hs.role == "initiator":
        local = (keys.srtp_key_initiator, keys.srtp_salt_initiator)
        remote = (keys.srtp_key_responder, keys.srtp_salt_responder)
    else:
        local = (keys.srtp_key_responder, keys.srtp_salt_responder)
        remote = (keys.srtp_key_initiator, keys.srtp_salt_initiator)
    return SrtpKeys(srtp_profile(hs.choice.cipher, hs.choice.auth_tag), local[0], local[1],
                    remote[0], remote[1])


def finish(hs: Handshake) -> list[Action]:
    """The actions that end a successful handshake: emit the keys, update the retained secret."""
    assert hs.keys is not None and hs.choice is not None and hs.peer_zid is not None
    keys, choice = hs.keys, hs.choice
    srtp = srtp_keys(hs)
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
    update = retained_secret_update(hs)
    return [StopTimer(), Emit(event), *([StoreSecret(update)] if update is not None else [])]
