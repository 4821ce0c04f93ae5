"""DPQ1, the hybrid X25519 + ML-KEM-768 key agreement (deskphone.zrtp.pq_kem), in process.

ML-KEM-768 known answers from FIPS 203 test data; the combiner; the KEM flow in real handshakes
(Commit: key shares, DHPart1: share + ciphertext, DHPart2: nonce under hvi); negotiation with
peers that do and do not offer DPQ1; bad values answered with the right Error; packet sizes
against the path MTU.
"""

from __future__ import annotations

import hashlib
import itertools
import struct

import pytest
from cryptography.hazmat.primitives.asymmetric import mlkem

from deskphone.zrtp import NotSecure, Secure, packets
from deskphone.zrtp.negotiation import AlgorithmChoice, NegotiationError, check_commit, choose
from deskphone.zrtp.pq_kem import (
    COMBINER_LABEL,
    COMMIT_VALUE_LENGTH,
    DHPART1_VALUE_LENGTH,
    HybridKemInitiator,
    HybridKemResponder,
    InvalidKemValue,
    combine,
    is_post_quantum,
)

from .harness import make_endpoint, run
from .mlkem768_vectors import VECTORS
from .test_handshake import assert_same_call, final
from .test_negotiation import LINPHONE_DEFAULT, LINPHONE_STRONG, hello
from .test_robustness import errors_sent, kind, tamper

EXISTING = ("DH3k", "DH2k", "EC25", "EC38", "X255")
OURS = hello(key_agreements=("DPQ1", "X255", "DH3k", "EC25", "DH2k", "EC38"))
OURS_BEFORE = hello(key_agreements=("X255", "DH3k", "EC25", "DH2k", "EC38"))
# bzrtp's ids (its include/bzrtp/bzrtp.h and cryptoUtils.cc), including the retired HQC names.
BZRTP_IDS = {"DH2k", "DH3k", "X255", "K255", "EC25", "X448", "K448", "EC38", "EC52", "KYB1",
             "KYB2", "KYB3", "HQB1", "HQB2", "HQB3", "HQD1", "HQD2", "HQD3", "X1K1", "X1H1",
             "X3K3", "X3H3", "XKQ1", "XKQ3", "XKR1", "XKR3", "Prsh", "Mult"}


# --- ML-KEM-768 known answers (FIPS 203) ------------------------------------------------------
@pytest.mark.parametrize("vector", VECTORS, ids=lambda v: f"count{v['count']}")
def test_mlkem768_known_answers_from_fips203_test_data(vector):
    key = mlkem.MLKEM768PrivateKey.from_seed_bytes(bytes.fromhex(vector["d"] + vector["z"]))
    encapsulation_key = key.public_key().public_bytes_raw()
    assert len(encapsulation_key) == 1184
    assert hashlib.sha256(encapsulation_key).hexdigest() == vector["ek_sha256"]
    assert len(bytes.fromhex(vector["ct"])) == 1088
    assert key.decapsulate(bytes.fromhex(vector["ct"])).hex() == vector["ss"]
    # FIPS 203 implicit rejection: a modified ciphertext gives a pseudo-random secret, no error
    assert key.decapsulate(bytes.fromhex(vector["ct_n"])).hex() == vector["ss_n"]


def test_the_hybrid_kem_agrees_and_the_combiner_hashes_both_secrets_and_both_shares():
    initiator = HybridKemInitiator()
    assert len(initiator.commit_value) == COMMIT_VALUE_LENGTH == 1216
    responder = HybridKemResponder.encapsulate(initiator.commit_value)
    assert len(responder.dhpart1_value) == DHPART1_VALUE_LENGTH == 1120

    def digest(data):
        return hashlib.sha384(data).digest()

    secret = responder.shared_secret(digest)
    assert initiator.shared_secret(digest, responder.dhpart1_value) == secret
    assert len(secret) == 48
    # The combiner, written out: label || ss_ML-KEM || ss_X25519 || X25519 shares (r, i).
    ss_m, ss_x, x_r, x_i = (bytes([n]) * 32 for n in range(1, 5))
    assert combine(digest, ss_m, ss_x, x_r, x_i) == hashlib.sha384(
        COMBINER_LABEL + ss_m + ss_x + x_r + x_i).digest()
    # Either secret alone changes the result: the call stays secret if either one holds.
    other = bytes([9]) * 32
    results = {combine(digest, *parts) for parts in
               ((ss_m, ss_x, x_r, x_i), (other, ss_x, x_r, x_i), (ss_m, other, x_r, x_i),
                (ss_m, ss_x, other, x_i), (ss_m, ss_x, x_r, other))}
    assert len(results) == 5


def test_a_wrong_ciphertext_gives_a_different_secret_not_an_error():
    initiator = HybridKemInitiator()
    responder = HybridKemResponder.encapsulate(initiator.commit_value)
    tampered = bytearray(responder.dhpart1_value)
    tampered[100] ^= 1

    def digest(data):
        return hashlib.sha384(data).digest()

    assert initiator.shared_secret(digest, bytes(tampered)) != responder.shared_secret(digest)


@pytest.mark.parametrize("value", [b"\x00" * 10, b"\xff" * COMMIT_VALUE_LENGTH,
                                   b"\x00" * 32 + b"\x00" * 1184])
def test_bad_commit_values_are_refused(value):
    with pytest.raises(InvalidKemValue):
        HybridKemResponder.encapsulate(value)  # short; bad modulus; all-zero X25519 share


# --- the KEM flow in real handshakes ---------------------------------------------------------
@pytest.mark.parametrize("sas_type, auth_tag",
                         list(itertools.product(("B32", "B256"), ("HS80", "HS32"))))
def test_dpq1_handshake_with_every_sas_type_and_auth_tag(sas_type, auth_tag):
    config = {"sas_types": (sas_type,), "auth_tags": (auth_tag,)}
    a, b = make_endpoint("a", **config), make_endpoint("b", **config)
    run(a, b)
    ea, _ = assert_same_call(a, b)
    assert (ea.key_agreement, ea.hash, ea.cipher) == ("DPQ1", "S384", "AES3")
    assert ea.sas_type == sas_type and ea.auth_tag == auth_tag
    assert ea.srtp.profile.startswith("AES_256_CM") and len(ea.srtp.local_key) == 32
    sent = {kind(d): len(d) for d in a.sent + b.sent}
    # Commit = 116 + 1216 bytes of key shares, DHPart1 = 84 + 1120, DHPart2 = 84 + 16 nonce,
    # each with the 12-byte packet header and the CRC.
    assert sent[b"Commit  "] == 16 + 116 + 1216 == 1348
    assert sent[b"DHPart1 "] == 16 + 84 + 1120 == 1220
    assert sent[b"DHPart2 "] == 16 + 84 + 16 == 116


@pytest.mark.parametrize("existing", EXISTING)
def test_dpq1_against_a_peer_with_only_an_existing_agreement_falls_back_to_it(existing):
    a = make_endpoint("a")  # the default: DPQ1 first
    b = make_endpoint("b", key_agreements=(existing,))
    run(a, b)
    ea, _ = assert_same_call(a, b)
    assert ea.key_agreement == existing


@pytest.mark.parametrize("existing", EXISTING)
def test_both_offering_dpq1_and_an_existing_agreement_pick_dpq1_whichever_order(existing):
    a = make_endpoint("a", key_agreements=("DPQ1", existing))
    b = make_endpoint("b", key_agreements=(existing, "DPQ1"))
    run(a, b)
    ea, _ = assert_same_call(a, b)
    # §4.1.2: the first choices differ, so the faster is used: X255 and EC25 are faster.
    assert ea.key_agreement == (existing if existing in ("X255", "EC25") else "DPQ1")


@pytest.mark.parametrize("peer", [{"hashes": ("S256",)}, {"ciphers": ("AES1",)}])
def test_a_peer_without_s384_or_aes3_does_not_get_dpq1(peer):
    a, b = make_endpoint("a"), make_endpoint("b", **peer)
    run(a, b)
    ea, _ = assert_same_call(a, b)
    # DPQ1 is unusable without both, so both sides drop it and agree on the next: DH3k, the
    # first that the default lists (DPQ1, DH3k, X255, ...) have in common.
    assert ea.key_agreement == "DH3k"


def test_tampered_dpq1_nonce_fails_the_hvi_check():
    wire = tamper(b"DHPart2 ", lambda m: m.__setitem__(80, m[80] ^ 1))  # inside the nonce
    a, b = make_endpoint("a"), make_endpoint("b")
    run(a, b, wire=wire)
    responder = a if a.session.role == "responder" else b
    assert errors_sent(responder)[:1] == [packets.ERROR_HVI_MISMATCH]
    assert isinstance(final(a), NotSecure) and isinstance(final(b), NotSecure)


def test_a_commit_with_an_invalid_mlkem_key_is_answered_with_error_0x61():
    def bad_key(m):  # hvi at 76, X25519 share at 108, ML-KEM key at 140..1324, then the MAC
        m[140:1324] = b"\xff" * 1184
    a, b = make_endpoint("a"), make_endpoint("b")
    run(a, b, wire=tamper(b"Commit  ", bad_key))
    assert packets.ERROR_BAD_PUBLIC_VALUE in errors_sent(a) + errors_sent(b)
    assert not isinstance(final(a), Secure) and not isinstance(final(b), Secure)


def test_a_dhpart1_of_the_wrong_length_is_dropped_as_malformed():
    def short(datagram):
        packet = packets.decode_packet(datagram)
        message = packet.message[:-12] + packet.message[-8:]  # one word less of ciphertext
        message = message[:2] + struct.pack("!H", len(message) // 4) + message[4:]
        return packets.encode_packet(packet.sequence_number, packet.ssrc, message)

    def wire(who, datagram):
        return [short(datagram) if kind(datagram) == b"DHPart1 " else datagram]
    a, b = make_endpoint("a"), make_endpoint("b")
    run(a, b, wire=wire)
    initiator = a if a.session.role == "initiator" else b
    assert initiator.session.stats.dropped_malformed >= 1
    assert not isinstance(final(initiator), Secure)


def test_a_flipped_ciphertext_bit_is_caught_by_the_confirm_mac_not_by_luck():
    def flip(m):
        m[200] ^= 1
    a, b = make_endpoint("a"), make_endpoint("b")
    run(a, b, wire=tamper(b"DHPart1 ", flip))
    # DHPart1's own MAC (keyed by H0, §9) is only checked once H0 arrives in Confirm1, after the
    # keys differ: either way no side may come out secure.
    assert not isinstance(final(a), Secure) and not isinstance(final(b), Secure)


# --- negotiation (§4.1.2) ----------------------------------------------------------------------
def test_our_id_cannot_clash_with_bzrtp_and_is_post_quantum():
    assert "DPQ1" not in BZRTP_IDS
    assert is_post_quantum("DPQ1") and not any(is_post_quantum(n) for n in EXISTING)


@pytest.mark.parametrize("peer", [LINPHONE_DEFAULT, LINPHONE_STRONG,
                                  hello(key_agreements=("EC38",), zid=b"C" * 12)])
def test_a_peer_that_does_not_list_dpq1_gets_todays_choice(peer):
    assert choose(OURS, peer) == choose(OURS_BEFORE, peer)
    assert choose(peer, OURS) == choose(peer, OURS_BEFORE)


def test_two_deskphones_choose_dpq1_with_s384_and_aes3_whichever_side_commits():
    other = hello(key_agreements=("DPQ1", "X255"), zid=b"B" * 12)
    expected = AlgorithmChoice("S384", "AES3", "HS80", "DPQ1", "B32")
    assert choose(OURS, other) == choose(other, OURS) == expected


def test_the_mandatory_dh3k_is_still_implied_when_only_dpq1_is_listed():
    only_pq = hello(key_agreements=("DPQ1",), zid=b"B" * 12)
    dh3k_only = hello(key_agreements=(), hashes=(), ciphers=(), zid=b"C" * 12)
    assert choose(only_pq, dh3k_only).key_agreement == "DH3k"


@pytest.mark.parametrize("hash_name, cipher, code", [
    ("S256", "AES3", packets.ERROR_HASH_UNSUPPORTED),
    ("S384", "AES1", packets.ERROR_CIPHER_UNSUPPORTED),
])
def test_a_dpq1_commit_with_weaker_hash_or_cipher_is_refused(hash_name, cipher, code):
    commit = packets.Commit(h2=b"\x00" * 32, zid=b"B" * 12, hash=hash_name, cipher=cipher,
                            auth_tag="HS80", key_agreement="DPQ1", sas_type="B32",
                            hvi=b"\x00" * 32, public_value=b"\x00" * COMMIT_VALUE_LENGTH)
    with pytest.raises(NegotiationError) as raised:
        check_commit(commit, OURS)
    assert raised.value.error_code == code


def test_dpq1_commit_round_trips_and_fits_the_path_mtu():
    commit = packets.Commit(h2=b"\x01" * 32, zid=b"B" * 12, hash="S384", cipher="AES3",
                            auth_tag="HS80", key_agreement="DPQ1", sas_type="B32",
                            hvi=b"\x02" * 32, public_value=b"\x03" * COMMIT_VALUE_LENGTH)
    message = commit.encode()
    assert packets.Commit.parse(message) == commit
    datagram = packets.encode_packet(1, 2, message)
    # the largest ZRTP packet; + IPv6 (40) + UDP (8) stays under a 1500-byte MTU, no fragments
    assert len(datagram) == 1348 <= packets.MAX_PACKET_LENGTH
    assert len(datagram) + 48 < 1500


def test_the_default_configuration_negotiates_dpq1():
    """So every handshake test on default endpoints (loss, duplicates, reordering, each lost
    packet retransmitted, key continuity, cache mismatch, active MITM) runs DPQ1 too."""
    a, b = make_endpoint("a"), make_endpoint("b")
    run(a, b)
    ea, _ = assert_same_call(a, b)
    assert ea.key_agreement == "DPQ1" and ea.post_quantum
