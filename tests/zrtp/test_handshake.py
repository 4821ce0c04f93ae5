"""Two ZrtpSession cores talking in-process: every key agreement, both SAS types, contention,
loss, duplicates and reordering, key continuity and an active MITM."""

from __future__ import annotations

import itertools

import pytest

from deskphone.zrtp import CacheMismatch, NotSecure, Secure, Securing, ZrtpCache
from deskphone.zrtp.session import State

from .harness import Endpoint, LossyWire, make_endpoint, run, run_links

KEY_AGREEMENTS = ("DH3k", "DH2k", "EC25", "EC38", "X255", "DPQ1")


def final(endpoint: Endpoint):
    return endpoint.events[-1]


def assert_same_call(a: Endpoint, b: Endpoint) -> tuple[Secure, Secure]:
    ea, eb = final(a), final(b)
    assert isinstance(ea, Secure | CacheMismatch) and isinstance(eb, Secure | CacheMismatch)
    assert ea.sas == eb.sas and ea.sas_type == eb.sas_type
    assert ea.srtp.profile == eb.srtp.profile
    assert ea.srtp.local_key == eb.srtp.remote_key and ea.srtp.local_salt == eb.srtp.remote_salt
    assert ea.srtp.remote_key == eb.srtp.local_key and ea.srtp.remote_salt == eb.srtp.local_salt
    assert ea.srtp.local_key != ea.srtp.remote_key
    assert (ea.cipher, ea.hash, ea.auth_tag, ea.key_agreement) == \
        (eb.cipher, eb.hash, eb.auth_tag, eb.key_agreement)
    assert ea.peer_zid == b.session.config.zid and eb.peer_zid == a.session.config.zid
    assert {a.session.role, b.session.role} == {"initiator", "responder"}
    return ea, eb


@pytest.mark.parametrize("key_agreement, sas_type",
                         list(itertools.product(KEY_AGREEMENTS, ("B32", "B256"))))
def test_every_key_agreement_and_sas_type(key_agreement, sas_type):
    config = {"key_agreements": (key_agreement,), "sas_types": (sas_type,)}
    a, b = make_endpoint("a", **config), make_endpoint("b", **config)
    run(a, b)
    ea, _eb = assert_same_call(a, b)
    assert isinstance(a.events[0], Securing) and isinstance(b.events[0], Securing)
    assert ea.key_agreement == key_agreement and ea.sas_type == sas_type
    assert not ea.verified  # first call: nothing verified yet, and it is not a mismatch either
    if sas_type == "B32":
        assert len(ea.sas) == 4
    else:
        assert ea.sas.count(":") == 1


@pytest.mark.parametrize("hash_name, cipher, auth_tag, profile", [
    ("S256", "AES1", "HS80", "AES_CM_128_HMAC_SHA1_80"),
    ("S256", "AES1", "HS32", "AES_CM_128_HMAC_SHA1_32"),
    ("S384", "AES3", "HS80", "AES_256_CM_HMAC_SHA1_80"),
    ("S384", "AES3", "HS32", "AES_256_CM_HMAC_SHA1_32"),
])
def test_hash_cipher_and_auth_tag_give_the_srtp_profile(hash_name, cipher, auth_tag, profile):
    config = {"hashes": (hash_name,), "ciphers": (cipher,), "auth_tags": (auth_tag,),
                  "key_agreements": ("X255",)}
    a, b = make_endpoint("a", **config), make_endpoint("b", **config)
    run(a, b)
    ea, _ = assert_same_call(a, b)
    assert (ea.hash, ea.cipher, ea.auth_tag, ea.srtp.profile) == (hash_name, cipher, auth_tag,
                                                                   profile)
    assert len(ea.srtp.local_key) == (32 if cipher == "AES3" else 16)
    assert len(ea.srtp.local_salt) == 14


def test_simultaneous_commits_resolve_by_hvi():
    """Both sides commit at once (what linphone does in every call): §4.2 contention."""
    a, b = make_endpoint("a"), make_endpoint("b")
    run(a, b)
    assert_same_call(a, b)
    assert a.session.stats.commit_contentions >= 1 and b.session.stats.commit_contentions >= 1
    commits = [d for d in a.sent + b.sent if d[16:24] == b"Commit  "]
    assert len(commits) == 2  # each side sent exactly one Commit, one of them was discarded


def test_preferences_differ_key_agreement_is_the_faster_first_choice():
    a = make_endpoint("a", key_agreements=("DH3k", "X255"))
    b = make_endpoint("b", key_agreements=("X255", "DH3k"))
    run(a, b)
    ea, _ = assert_same_call(a, b)
    assert ea.key_agreement == "X255"


def test_mandatory_algorithms_are_implied_when_not_listed():
    a = make_endpoint("a", key_agreements=("X255",), ciphers=("AES3",), sas_types=("B256",))
    b = make_endpoint("b", key_agreements=("EC25",), ciphers=("AES3",), sas_types=("B256",))
    run(a, b)
    ea, _ = assert_same_call(a, b)
    assert ea.key_agreement == "DH3k"  # neither listed it; both must support it
    assert ea.cipher == "AES3" and ea.sas_type == "B256"


@pytest.mark.parametrize("seed", range(12))
def test_loss_duplicates_and_reordering(seed):
    wire = LossyWire(seed, loss=0.25, duplicate=0.2, reorder=0.2)
    a, b = make_endpoint("a", key_agreements=("X255",)), make_endpoint("b",
                                                                       key_agreements=("X255",))
    run(a, b, wire=wire)
    assert_same_call(a, b)
    assert a.session.state is State.SECURE and b.session.state is State.SECURE
    assert wire.dropped + wire.duplicated + wire.reordered > 0
    for endpoint in (a, b):
        stats = endpoint.session.stats
        assert stats.dropped_mac == stats.dropped_hash_chain == stats.dropped_crc == 0


def test_every_single_lost_packet_is_recovered_by_retransmission():
    """Drop the n-th packet of the exchange, for every n: the handshake still completes."""
    reference_a, reference_b = make_endpoint("a", key_agreements=("X255",)), \
        make_endpoint("b", key_agreements=("X255",))
    run(reference_a, reference_b)
    total = len(reference_a.sent) + len(reference_b.sent)
    for victim in range(total):
        counter = itertools.count()

        def wire(sender, datagram, victim=victim, counter=counter):
            return [] if next(counter) == victim else [datagram]

        a, b = make_endpoint("a", key_agreements=("X255",)), \
            make_endpoint("b", key_agreements=("X255",))
        run(a, b, wire=wire)
        assert_same_call(a, b)


def test_key_continuity_after_both_users_confirm_the_sas():
    cache_a, cache_b = ZrtpCache(":memory:"), ZrtpCache(":memory:")
    a, b = make_endpoint("a", cache_a), make_endpoint("b", cache_b)
    run(a, b)
    first, _ = assert_same_call(a, b)
    assert not first.verified
    a.session.confirm_sas()
    b.session.confirm_sas()
    assert cache_a.lookup(b.session.config.zid).verified

    a2, b2 = make_endpoint("a", cache_a), make_endpoint("b", cache_b)
    run(a2, b2)
    second, second_b = assert_same_call(a2, b2)
    assert isinstance(second, Secure) and second.verified and second_b.verified
    assert second.sas != first.sas or second.srtp.local_key != first.srtp.local_key

    # The phone menu withdraws trust on one side: the next call asks for the SAS again.
    cache_a.clear_verified(b.session.config.zid)
    a3, b3 = make_endpoint("a", cache_a), make_endpoint("b", cache_b)
    run(a3, b3)
    third, third_b = assert_same_call(a3, b3)
    assert isinstance(third, Secure) and not third.verified and not third_b.verified


def test_rejected_sas_is_not_remembered():
    cache_a, cache_b = ZrtpCache(":memory:"), ZrtpCache(":memory:")
    a, b = make_endpoint("a", cache_a), make_endpoint("b", cache_b)
    run(a, b)
    a.session.confirm_sas()
    a.session.reject_sas()
    b.session.confirm_sas()
    a2, b2 = make_endpoint("a", cache_a), make_endpoint("b", cache_b)
    run(a2, b2)
    assert not final(a2).verified and not final(b2).verified


def test_lost_cache_on_one_side_is_a_mismatch_on_the_other():
    cache_a = ZrtpCache(":memory:")
    cache_b = ZrtpCache(":memory:")
    a, b = make_endpoint("a", cache_a), make_endpoint("b", cache_b)
    run(a, b)
    a.session.confirm_sas()
    b.session.confirm_sas()
    zid_b = cache_b.local_zid()
    fresh_b = ZrtpCache(":memory:", rng=lambda n, z=zid_b: z[:n])  # same ZID, secrets lost
    a2, b2 = make_endpoint("a", cache_a), make_endpoint("b", fresh_b)
    run(a2, b2)
    assert isinstance(final(a2), CacheMismatch)
    assert isinstance(final(b2), Secure) and not final(b2).verified  # new peer for b
    assert final(a2).sas == final(b2).sas
    assert not cache_a.lookup(zid_b).verified


class Mitm:
    """An active man in the middle: terminates ZRTP on both legs with its own DH values,
    impersonating each side's ZID to the other. It keeps no retained secrets between calls."""

    def __init__(self, a: Endpoint, b: Endpoint) -> None:
        self.facing_a = make_endpoint("mitm->a", ZrtpCache(":memory:", rng=lambda n:
                                                          b.session.config.zid[:n]))
        self.facing_b = make_endpoint("mitm->b", ZrtpCache(":memory:", rng=lambda n:
                                                          a.session.config.zid[:n]))

    def run(self, a: Endpoint, b: Endpoint) -> None:
        def wire(sender, datagram):
            return [datagram]
        run_links([(a, self.facing_a, wire), (self.facing_b, b, wire)])


def test_active_mitm_gives_different_sas_then_cache_mismatch_on_both_sides():
    cache_a, cache_b = ZrtpCache(":memory:"), ZrtpCache(":memory:")
    a, b = make_endpoint("a", cache_a), make_endpoint("b", cache_b)
    # Call 1 through the MITM: both legs "secure", but the SAS differ (the users would notice).
    mitm = Mitm(a, b)
    mitm.run(a, b)
    assert isinstance(final(a), Secure) and isinstance(final(b), Secure)
    assert final(a).peer_zid == b.session.config.zid  # the impersonation is perfect...
    assert final(a).sas != final(b).sas  # ...except for the SAS

    # Call 2 through the same MITM: our retained secrets are the ones from call 1, which the
    # MITM does not hold: both sides detect it.
    a2, b2 = make_endpoint("a", cache_a), make_endpoint("b", cache_b)
    Mitm(a2, b2).run(a2, b2)
    assert isinstance(final(a2), CacheMismatch) and isinstance(final(b2), CacheMismatch)
    assert final(a2).sas != final(b2).sas
    assert not final(a2).verified


def test_mitm_after_verified_direct_call_is_detected_at_once():
    cache_a, cache_b = ZrtpCache(":memory:"), ZrtpCache(":memory:")
    a, b = make_endpoint("a", cache_a), make_endpoint("b", cache_b)
    run(a, b)
    a.session.confirm_sas()
    b.session.confirm_sas()
    a2, b2 = make_endpoint("a", cache_a), make_endpoint("b", cache_b)
    Mitm(a2, b2).run(a2, b2)
    for endpoint in (a2, b2):
        assert isinstance(final(endpoint), CacheMismatch)
    assert not cache_a.lookup(b.session.config.zid).verified
    assert not cache_b.lookup(a.session.config.zid).verified


def test_no_answer_ends_not_secure_after_hello_retransmissions():
    a = make_endpoint("a")
    a.session.start(0.0)
    deadlines = []
    while (deadline := a.session.get_timer()) is not None and deadline < 30:
        deadlines.append(deadline)
        a.session.handle_timer(deadline)
        if a.session.state is State.FAILED:
            break
    intervals = [round(y - x, 6) for x, y in zip([0.0] + deadlines, deadlines, strict=False)]
    assert intervals[:4] == [0.05, 0.1, 0.2, 0.2]  # T1 doubles up to 200 ms (§6)
    hellos = [d for d in a.session.datagrams_to_send(0) if d[16:24] == b"Hello   "]
    assert len(hellos) == 21  # first Hello + 20 retransmissions
    a.drain_events()
    assert isinstance(final(a), NotSecure) and "no ZRTP answer" in final(a).reason
