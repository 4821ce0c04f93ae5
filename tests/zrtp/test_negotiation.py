"""Algorithm negotiation (RFC 6189 §4.1.2): what the initiator commits to, given two Hellos.

The Hellos below are the ones seen on the wire from linphonec 5.1 (bzrtp, client id BZRTPv1.1),
which appends the mandatory algorithms after the configured ones.
"""

from __future__ import annotations

from deskphone.zrtp.negotiation import AlgorithmChoice, choose, tie_break
from deskphone.zrtp.packets import Hello


def hello(*, hashes=("S256", "S384"), ciphers=("AES1", "AES3"), auth_tags=("HS80", "HS32"),
          key_agreements=("DH3k", "X255"), sas_types=("B32", "B256"), zid=b"A" * 12) -> Hello:
    return Hello(version="1.10", client_id="test", h3=b"\x00" * 32, zid=zid, hashes=hashes,
                 ciphers=ciphers, auth_tags=auth_tags, key_agreements=key_agreements,
                 sas_types=sas_types)


OURS = hello(key_agreements=("X255", "DH3k", "EC25", "DH2k", "EC38"))
# linphonec defaults: Hello lists S256; AES1, AES3; HS80, HS32; DH3k, Mult; B32.
LINPHONE_DEFAULT = hello(hashes=("S256",), ciphers=("AES1", "AES3"), auth_tags=("HS80", "HS32"),
                         key_agreements=("DH3k", "Mult"), sas_types=("B32",), zid=b"B" * 12)
# linphonec with zrtp_*_suites X255 / S384 / AES3 / B256 (it appends the mandatory ones).
LINPHONE_STRONG = hello(hashes=("S384", "S256"), ciphers=("AES3", "AES1"),
                        auth_tags=("HS80", "HS32"), key_agreements=("X255", "DH3k", "Mult"),
                        sas_types=("B256", "B32"), zid=b"B" * 12)


def test_linphone_defaults_give_the_mandatory_set() -> None:
    assert choose(OURS, LINPHONE_DEFAULT) == AlgorithmChoice("S256", "AES1", "HS80", "DH3k", "B32")


def test_a_peer_preferring_stronger_algorithms_gets_them_when_we_win_the_contention() -> None:
    # bzrtp, as initiator, commits to its own first choices: S384/AES3/HS80/X255/B256. Winning the
    # Commit contention (§4.2) must not change the outcome of the call.
    assert choose(OURS, LINPHONE_STRONG) == AlgorithmChoice("S384", "AES3", "HS80", "X255", "B256")


def test_the_choice_is_the_same_whichever_side_is_initiator() -> None:
    pairs = [(OURS, LINPHONE_DEFAULT), (OURS, LINPHONE_STRONG), (LINPHONE_DEFAULT, LINPHONE_STRONG),
             (hello(ciphers=("AES3",), sas_types=("B256",)), hello(hashes=("S384",)))]
    for a, b in pairs:
        assert choose(a, b) == choose(b, a), (a, b)


def test_tie_break_ranks_stronger_first_and_keeps_agreement() -> None:
    assert tie_break("hash", "S256", "S384") == "S384"
    assert tie_break("cipher", "AES3", "AES1") == "AES3"
    assert tie_break("auth_tag", "HS32", "HS80") == "HS80"
    assert tie_break("sas", "B32", "B256") == "B256"
    assert tie_break("sas", "B32", "B32") == "B32"


def test_mandatory_algorithms_are_implied_in_a_hello_that_omits_them() -> None:
    # A Hello listing only S384 still accepts S256 (§4.1.2, mandatory algorithms): if we do not
    # offer S384 we commit to S256; if we do, the tie break picks S384, its only listed one.
    assert choose(hello(hashes=("S256",)), hello(hashes=("S384",))).hash == "S256"
    assert choose(hello(hashes=("S256", "S384")), hello(hashes=("S384",))).hash == "S384"


def test_a_full_handshake_exposes_the_same_algorithms_on_both_sides_only_once_secure() -> None:
    from .harness import make_endpoint, run

    ours = make_endpoint("ours", key_agreements=("X255", "DH3k"))
    # bzrtp pads its client id with NULs (seen on the wire: "BZRTPv1.1" + 7 x 0x00).
    strong = make_endpoint("strong", client_id="BZRTPv1.1" + "\x00" * 7,
                           hashes=("S384", "S256"), ciphers=("AES3", "AES1"),
                           key_agreements=("X255", "DH3k"), sas_types=("B256", "B32"))
    assert ours.session.algorithms is None
    run(ours, strong)
    expected = AlgorithmChoice("S384", "AES3", "HS80", "X255", "B256")
    assert ours.session.algorithms == strong.session.algorithms == expected
    assert ours.session.peer_client_id == "BZRTPv1.1"
    assert strong.session.peer_client_id == "deskphone 0.1"


def test_peer_hello_hash_verified_only_when_the_sdp_gave_one_and_the_hello_matched() -> None:
    from .harness import make_endpoint, run

    a, b = make_endpoint("a"), make_endpoint("b")
    a.session.set_peer_hello_hash(b.session.hello_hash())  # §8.1.1: b's SDP a=zrtp-hash
    assert not a.session.peer_hello_hash_verified  # no Hello yet
    run(a, b)
    assert a.session.is_secure and a.session.peer_hello_hash_verified
    assert not b.session.peer_hello_hash_verified  # b's SDP peer sent no a=zrtp-hash
