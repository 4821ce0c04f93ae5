"""SRTP/SRTCP through pylibsrtp (RFC 3711, RFC 6188) with known keys and known answers."""

from __future__ import annotations

import hashlib
import hmac
import struct
from types import SimpleNamespace

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from deskphone.media.rtcp import ReceiverReport, build_receiver_report
from deskphone.media.rtp import RtpPacket, parse_rtp
from deskphone.media.srtp import PROFILES, SrtpContext, SrtpError
from deskphone.zrtp.events import SrtpKeys

# libsrtp's own test material (test/srtp_driver.c), reproduced by many SRTP implementations.
KEY128 = bytes.fromhex("e1f97a0d3e018be0d64fa32c06de4139")
SALT128 = bytes.fromhex("0ec675ad498afeebb6960b3aabe6")
# RFC 6188 §7.2 AES-256 master key and salt.
KEY256 = bytes.fromhex("f0f04914b513f2763a1b1fa130f10e2998f6f6e43e4309d1e622a0e332b9f1b6")
SALT256 = bytes.fromhex("3b04803de51ee7c96423ab5b78d2")
PLAIN = bytes.fromhex("800f1234decafbadcafebabe" + "ab" * 16)


def keys(profile: str, key: bytes, salt: bytes) -> SrtpKeys:
    return SrtpKeys(profile, key, salt, key, salt)


# ---- an independent reference of RFC 3711 AES-CM + HMAC-SHA1, test-only -----------------------
def _aes_cm(key: bytes, iv: int, length: int) -> bytes:
    enc = Cipher(algorithms.AES(key), modes.CTR(iv.to_bytes(16, "big"))).encryptor()
    return enc.update(bytes(length)) + enc.finalize()


def reference_kdf(master_key: bytes, master_salt: bytes, label: int, length: int) -> bytes:
    # RFC 3711 §4.3.1 with key_derivation_rate 0: x = label<<48 XOR master_salt, IV = x * 2^16
    x = (label << 48) ^ int.from_bytes(master_salt, "big")
    return _aes_cm(master_key, x << 16, length)


def reference_protect(master_key: bytes, master_salt: bytes, rtp: bytes, roc: int, tag: int):
    enc_key = reference_kdf(master_key, master_salt, 0, len(master_key))
    auth_key = reference_kdf(master_key, master_salt, 1, 20)
    salt = reference_kdf(master_key, master_salt, 2, 14)
    seq, ssrc = struct.unpack_from("!H", rtp, 2)[0], struct.unpack_from("!I", rtp, 8)[0]
    index = (roc << 16) | seq
    iv = (int.from_bytes(salt, "big") << 16) ^ (ssrc << 64) ^ (index << 16)  # RFC 3711 §4.1.1
    body = bytes(a ^ b for a, b in zip(rtp[12:], _aes_cm(enc_key, iv, len(rtp) - 12), strict=True))
    packet = rtp[:12] + body
    mac = hmac.new(auth_key, packet + struct.pack("!I", roc), hashlib.sha1).digest()
    return packet + mac[:tag]


def test_rfc6188_key_derivation_vectors_match_reference():
    assert reference_kdf(KEY256, SALT256, 0, 32).hex() == (
        "5ba1064e30ec51613cad926c5a28ef731ec7fb397f70a960653caf06554cd8c4"
    )
    assert reference_kdf(KEY256, SALT256, 1, 20).hex() == "fd9c32d39ed5fbb5a9dc96b30818454d1313dc05"
    assert reference_kdf(KEY256, SALT256, 2, 14).hex() == "fa31791685ca444a9e07c6c64e93"


@pytest.mark.parametrize(
    ("profile", "key", "salt", "expected_hex"),
    [
        (
            "AES_CM_128_HMAC_SHA1_80", KEY128, SALT128,
            "800f1234decafbadcafebabe4e55dc4ce79978d88ca4d215949d2402b78d6acc99ea179b8dbb",
        ),
        (
            "AES_256_CM_HMAC_SHA1_80", KEY256, SALT256,
            "800f1234decafbadcafebabef1d9de17ff251ff1aa007774b0b4b40da08d9d9a5b3a55d8873b",
        ),
    ],
)
def test_protect_known_answer(profile, key, salt, expected_hex):
    ctx = SrtpContext(keys(profile, key, salt))
    protected = ctx.protect(PLAIN)
    assert protected.hex() == expected_hex
    assert protected == reference_protect(key, salt, PLAIN, 0, 10)


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_each_profile_round_trips_and_matches_reference(profile):
    p = PROFILES[profile]
    key, salt = (KEY128, SALT128) if p.key_len == 16 else (KEY256, SALT256)
    sender, receiver = SrtpContext(keys(profile, key, salt)), SrtpContext(keys(profile, key, salt))
    rtp = RtpPacket(0, 4711, 160, 0x11223344, payload=bytes(range(160))).serialize()
    protected = sender.protect(rtp)
    assert len(protected) == len(rtp) + p.tag_len
    assert protected == reference_protect(key, salt, rtp, 0, p.tag_len)
    assert receiver.unprotect(protected) == rtp
    rtcp = build_receiver_report(ReceiverReport(0x11223344))
    srtcp = sender.protect_rtcp(rtcp)
    assert len(srtcp) == len(rtcp) + 4 + 10  # E||index, and the 80-bit tag for SRTCP
    assert receiver.unprotect_rtcp(srtcp) == rtcp


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_tampered_packet_dropped_and_counted(profile):
    p = PROFILES[profile]
    key, salt = (KEY128, SALT128) if p.key_len == 16 else (KEY256, SALT256)
    sender, receiver = SrtpContext(keys(profile, key, salt)), SrtpContext(keys(profile, key, salt))
    protected = bytearray(sender.protect(PLAIN))
    protected[20] ^= 0x01
    assert receiver.unprotect(bytes(protected)) is None
    assert receiver.stats.auth_failures == 1
    srtcp = bytearray(sender.protect_rtcp(build_receiver_report(ReceiverReport(1))))
    srtcp[5] ^= 0x80
    assert receiver.unprotect_rtcp(bytes(srtcp)) is None
    assert receiver.stats.auth_failures == 2


def test_replayed_packet_dropped_and_counted():
    sender = SrtpContext(keys("AES_CM_128_HMAC_SHA1_80", KEY128, SALT128))
    receiver = SrtpContext(keys("AES_CM_128_HMAC_SHA1_80", KEY128, SALT128))
    first = sender.protect(RtpPacket(0, 1000, 0, 7, payload=b"x" * 160).serialize())
    second = sender.protect(RtpPacket(0, 1001, 160, 7, payload=b"y" * 160).serialize())
    assert receiver.unprotect(first) is not None
    assert receiver.unprotect(second) is not None
    assert receiver.unprotect(first) is None
    assert receiver.unprotect(second) is None
    assert receiver.stats.replays == 2
    assert receiver.stats.auth_failures == 0


def test_garbage_and_short_packets_are_dropped_not_raised():
    receiver = SrtpContext(keys("AES_CM_128_HMAC_SHA1_80", KEY128, SALT128))
    assert receiver.unprotect(b"\x80") is None
    assert receiver.unprotect(b"\x80" + bytes(30)) is None
    assert receiver.unprotect(bytes(2000)) is None
    total = receiver.stats
    assert total.auth_failures + total.other_failures + total.replays == 3


@pytest.mark.parametrize("profile", ["AES_CM_128_HMAC_SHA1_80", "AES_256_CM_HMAC_SHA1_32"])
def test_rollover_counter_wrap(profile):
    """RFC 3711 §3.3.1: across the 16-bit sequence wrap the ROC becomes 1 on both sides."""
    p = PROFILES[profile]
    key, salt = (KEY128, SALT128) if p.key_len == 16 else (KEY256, SALT256)
    sender, receiver = SrtpContext(keys(profile, key, salt)), SrtpContext(keys(profile, key, salt))
    for i, seq in enumerate([65533, 65534, 65535, 0, 1, 2]):
        rtp = RtpPacket(8, seq, 160 * i, 0xCAFEBABE, payload=bytes([i]) * 160).serialize()
        protected = sender.protect(rtp)
        roc = 0 if seq >= 65533 else 1
        assert protected == reference_protect(key, salt, rtp, roc, p.tag_len)
        assert receiver.unprotect(protected) == rtp
        assert parse_rtp(rtp).sequence == seq
    assert receiver.stats.unprotected == 6


def test_bad_profile_and_key_lengths_are_named():
    # zrtp.events.SrtpKeys refuses an unknown profile itself; SrtpContext takes anything shaped
    # like it (SrtpKeysLike) and must name the profile too.
    unknown = SimpleNamespace(profile="AES_CM_999", local_key=KEY128, local_salt=SALT128,
                              remote_key=KEY128, remote_salt=SALT128)
    with pytest.raises(SrtpError, match="AES_CM_999"):
        SrtpContext(unknown)
    with pytest.raises(SrtpError, match="32-octet key"):
        SrtpContext(keys("AES_256_CM_HMAC_SHA1_80", KEY128, SALT128))


def test_keys_never_printed():
    assert KEY128.hex() not in repr(keys("AES_CM_128_HMAC_SHA1_80", KEY128, SALT128))
