"""Known-answer tests: a real recorded exchange (bzrtp test data) checked with our code."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from deskphone.zrtp import packets
from deskphone.zrtp.algorithms import CIPHERS, HASHES, render_sas
from deskphone.zrtp.hashchain import (
    HashChain,
    implicit_hash,
    implicit_mac,
    preimage_matches,
)
from deskphone.zrtp.kdf import (
    derive_session_keys,
    kdf,
    kdf_context,
    s0_dh_mode,
    secret_id,
)

from .bzrtp_vectors import (
    EXCHANGE,
    H_12345678,
    H_87654321,
    HELLO_HASH_12345678,
    HELLO_HASH_87654321,
    KDF_CONTEXT,
    KDF_KI,
    KDF_VECTORS,
    MAC_KEY_INITIATOR,
    MAC_KEY_RESPONDER,
    ZRTP_KEY_INITIATOR,
    ZRTP_KEY_RESPONDER,
    ZRTPCPP_HELLO,
    ZRTPCPP_HELLO_HASH,
    ZRTPCPP_HELLO_HASH_WRONG,
)


def message(name: str, ssrc: int) -> bytes:
    return next(packets.decode_packet(raw).message for n, _, s, raw in EXCHANGE
                if n == name and s == ssrc)


R, I = 0x12345678, 0x87654321  # responder and initiator of the recorded exchange


@pytest.mark.parametrize("name, sequence, ssrc, raw", EXCHANGE, ids=[e[0] for e in EXCHANGE])
def test_recorded_packet_crc_parse_and_rebuild(name, sequence, ssrc, raw):
    packet = packets.decode_packet(raw)  # CRC-32C checked here
    assert (packet.sequence_number, packet.ssrc) == (sequence, ssrc)
    parsed = packets.parse_message(packet.message)
    assert parsed.encode() == packet.message  # strict round trip, byte for byte
    assert packets.encode_packet(sequence, ssrc, parsed.encode()) == raw


@pytest.mark.parametrize("name, sequence, ssrc, raw", EXCHANGE, ids=[e[0] for e in EXCHANGE])
def test_recorded_packet_with_any_flipped_bit_fails_crc(name, sequence, ssrc, raw):
    for position in (4, len(raw) // 2, len(raw) - 5):
        corrupted = bytearray(raw)
        corrupted[position] ^= 0x01
        with pytest.raises(packets.MalformedPacket):
            packets.decode_packet(bytes(corrupted))


def test_hello_fields_and_zrtp_hash():
    hello = packets.parse_message(message("Hello", R))
    assert hello.version == "1.10" and hello.client_id == "LINPHONE-ZRTPCPP"
    assert hello.hashes == ("S256",) and hello.ciphers == ("AES1",)
    assert hello.auth_tags == ("HS32", "HS80") and hello.key_agreements == ("DH3k", "DH2k", "Mult")
    assert hello.sas_types == ("B32",)
    for ssrc, expected in ((R, HELLO_HASH_12345678), (I, HELLO_HASH_87654321)):
        assert f"1.10 {implicit_hash(message('Hello', ssrc)).hex()}" == expected


def test_libzrtpcpp_hello_matches_its_sdp_hash_and_not_the_wrong_one():
    hello_message = packets.decode_packet(ZRTPCPP_HELLO).message
    hello = packets.parse_message(hello_message)
    assert hello.key_agreements == ("EC25", "DH3k", "EC38", "DH2k", "Mult")
    digest = f"1.10 {implicit_hash(hello_message).hex()}"
    assert digest == ZRTPCPP_HELLO_HASH and digest != ZRTPCPP_HELLO_HASH_WRONG


@pytest.mark.parametrize("chain", [H_12345678, H_87654321])
def test_hash_images(chain):
    rebuilt = HashChain.from_h0(chain[0])
    assert [rebuilt.h0, rebuilt.h1, rebuilt.h2, rebuilt.h3] == chain


def test_hash_chain_and_macs_of_the_recorded_exchange():
    hello_r = packets.parse_message(message("Hello", R))
    hello_i = packets.parse_message(message("Hello", I))
    commit = packets.parse_message(message("Commit", I))
    dhpart1 = packets.parse_message(message("DHPart1", R))
    dhpart2 = packets.parse_message(message("DHPart2", I))
    assert hello_r.h3 == H_12345678[3] and hello_i.h3 == H_87654321[3]
    assert commit.h2 == H_87654321[2] and preimage_matches(commit.h2, hello_i.h3)
    assert dhpart1.h1 == H_12345678[1] and preimage_matches(dhpart1.h1, hello_r.h3, steps=2)
    assert dhpart2.h1 == H_87654321[1] and preimage_matches(dhpart2.h1, commit.h2)
    # Each MAC is keyed by the preimage revealed by the sender's next message (§9).
    assert implicit_mac(H_12345678[2], message("Hello", R)[:-8]) == hello_r.mac
    assert implicit_mac(H_87654321[2], message("Hello", I)[:-8]) == hello_i.mac
    assert implicit_mac(H_87654321[1], message("Commit", I)[:-8]) == commit.mac
    assert implicit_mac(H_12345678[0], message("DHPart1", R)[:-8]) == dhpart1.mac
    assert implicit_mac(H_87654321[0], message("DHPart2", I)[:-8]) == dhpart2.mac
    assert implicit_mac(H_87654321[0], message("DHPart1", R)[:-8]) != dhpart1.mac


def test_hvi_commits_to_dhpart2_and_responder_hello():
    commit = packets.parse_message(message("Commit", I))
    hvi = hashlib.sha256(message("DHPart2", I) + message("Hello", R)).digest()
    assert commit.hvi == hvi
    tampered = bytearray(message("DHPart2", I))
    tampered[100] ^= 1
    assert hashlib.sha256(bytes(tampered) + message("Hello", R)).digest() != commit.hvi


@pytest.mark.parametrize("name, ssrc, mac_key, zrtp_key, h0", [
    ("Confirm1", R, MAC_KEY_RESPONDER, ZRTP_KEY_RESPONDER, H_12345678[0]),
    ("Confirm2", I, MAC_KEY_INITIATOR, ZRTP_KEY_INITIATOR, H_87654321[0]),
])
def test_confirm_mac_and_cfb_decryption(name, ssrc, mac_key, zrtp_key, h0):
    confirm = packets.parse_message(message(name, ssrc))
    assert HASHES["S256"].hmac(mac_key, confirm.encrypted)[:8] == confirm.confirm_mac
    plaintext = packets.ConfirmPlaintext.parse(
        CIPHERS["AES1"].cfb_decrypt(zrtp_key, confirm.iv, confirm.encrypted))
    assert plaintext.h0 == h0
    assert plaintext.signature == b""
    # And our encoder produces the same ciphertext from the same plaintext and IV.
    assert CIPHERS["AES1"].cfb_encrypt(zrtp_key, confirm.iv, plaintext.encode()) == \
        confirm.encrypted


@pytest.mark.parametrize("label, expected", KDF_VECTORS, ids=[v[0] for v in KDF_VECTORS])
def test_kdf_known_answers(label, expected):
    expected_bytes = bytes.fromhex(expected)
    out = kdf(HASHES["S256"], KDF_KI, label.encode(), KDF_CONTEXT, 8 * len(expected_bytes))
    assert out == expected_bytes


def test_derived_session_keys_use_the_rfc_labels_and_lengths():
    zid_i, zid_r, total = KDF_CONTEXT[:12], KDF_CONTEXT[12:24], KDF_CONTEXT[24:]
    keys = derive_session_keys("S256", "AES1", KDF_KI, kdf_context(zid_i, zid_r, total))
    expected = {label: bytes.fromhex(value) for label, value in KDF_VECTORS}
    assert keys.srtp_key_responder == expected["Responder SRTP master key"]
    assert keys.srtp_salt_responder == expected["Responder SRTP master salt"]
    assert keys.sas_hash == expected["SAS"]
    assert keys.zrtp_session_key == expected["ZRTP Session Key"]
    assert keys.new_rs1 == expected["retained secret"]
    assert keys.zrtp_key_responder == expected["Responder ZRTP key"]
    assert keys.zrtp_key_initiator == expected["Initiator ZRTP key"]
    assert keys.mac_key_responder == expected["Responder HMAC key"]
    assert keys.mac_key_initiator == expected["Initiator HMAC key"]
    assert len(keys.srtp_key_initiator) == 16 and len(keys.srtp_salt_initiator) == 14
    aes3 = derive_session_keys("S256", "AES3", KDF_KI, KDF_CONTEXT)
    assert len(aes3.srtp_key_initiator) == 32 and len(aes3.zrtp_key_responder) == 32
    assert aes3.srtp_key_responder[:16] != keys.srtp_key_responder  # L is part of the input


@pytest.mark.parametrize("hash_name", ["S256", "S384"])
def test_key_derivation_for_every_hash_is_stable(hash_name):
    """Frozen answers for fixed inputs, per hash: s0 (§4.4.1.4), keys, SAS (B32 and B256)."""
    h = HASHES[hash_name]
    zid_i, zid_r = bytes(range(12)), bytes(range(12, 24))
    total = h.digest(b"responder Hello || Commit || DHPart1 || DHPart2")
    s0 = s0_dh_mode(h, b"\x42" * 384, zid_i, zid_r, total, b"\x01" * 32, None, None)
    manual = h.digest(
        b"\x00\x00\x00\x01" + b"\x42" * 384 + b"ZRTP-HMAC-KDF" + zid_i + zid_r + total
        + b"\x00\x00\x00\x20" + b"\x01" * 32 + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00")
    assert s0 == manual and len(s0) == h.length
    keys = derive_session_keys(hash_name, "AES3", s0, kdf_context(zid_i, zid_r, total))
    assert len(keys.mac_key_initiator) == h.length and len(keys.zrtp_session_key) == h.length
    assert len(keys.sas_hash) == 32 and len(keys.new_rs1) == 32
    manual_sas = h.hmac(s0, b"\x00\x00\x00\x01SAS\x00" + kdf_context(zid_i, zid_r, total)
                        + b"\x00\x00\x01\x00")[:32]
    assert keys.sas_hash == manual_sas
    assert keys.render_sas("B32") == render_sas("B32", manual_sas[:4])
    assert keys.render_sas("B256") == render_sas("B256", manual_sas[:4])


@pytest.mark.parametrize("value, b32, b256", [
    (bytes.fromhex("00000000"), "yyyy", "aardvark:adroitness"),
    (bytes.fromhex("ffffffff"), "9999", "Zulu:Yucatan"),
    (bytes.fromhex("4c2a0000"), "joiy", "drainage:chambermaid"),
    (bytes.fromhex("3a7c1234"), "8j6b", "cleanup:informant"),
])
def test_sas_rendering(value, b32, b256):
    assert render_sas("B32", value) == b32
    assert render_sas("B256", value) == b256


def test_b32_uses_the_leftmost_20_bits_only():
    assert render_sas("B32", bytes.fromhex("12345fff")) == render_sas("B32", bytes.fromhex("12345000"))
    assert render_sas("B256", bytes.fromhex("1234ffff")) == render_sas("B256", bytes.fromhex("12340000"))


def test_retained_secret_ids_are_role_labelled_hmacs():
    rs1 = b"\x07" * 32
    expected = hmac.new(rs1, b"Initiator", "sha256").digest()[:8]
    assert secret_id(HASHES["S256"], rs1, b"Initiator") == expected
    assert secret_id(HASHES["S256"], rs1, b"Responder") != expected
