"""Issue 13, the ZRTP core: SASrelay refused (F1), the cache after a mismatch (F2), keys announced
once (F3), an initiator past Confirm1 never falls back (F4), a Hello failing a=zrtp-hash is an
attack (F6), and the smaller ones (F7). Each test fails on the code before issue 13."""

from __future__ import annotations

import dataclasses
import os
import stat

from deskphone.zrtp import (
    CacheMismatch,
    CacheWriteError,
    NotSecure,
    Secure,
    ZrtpCache,
    packets,
)
from deskphone.zrtp.algorithms import CIPHERS, HASHES
from deskphone.zrtp.events import CacheWriteFailed, SrtpReceiveReady
from deskphone.zrtp.hashchain import implicit_mac
from deskphone.zrtp.session import State

from .harness import Endpoint, make_endpoint, run, run_links


def kind(datagram: bytes) -> bytes:
    return datagram[16:24]


def outcome(endpoint: Endpoint):
    done = [e for e in endpoint.events if isinstance(e, Secure | CacheMismatch | NotSecure)]
    assert len(done) == 1, f"{endpoint.name}: {done}"
    return done[0]


def errors_sent(endpoint: Endpoint) -> list[int]:
    return [int.from_bytes(d[24:28], "big") for d in endpoint.sent if kind(d) == b"Error   "]


def verified_pair() -> tuple[ZrtpCache, ZrtpCache]:
    """Two phones that had a direct call and both confirmed the SAS."""
    cache_a, cache_b = ZrtpCache(":memory:"), ZrtpCache(":memory:")
    a, b = make_endpoint("a", cache_a), make_endpoint("b", cache_b)
    run(a, b)
    a.session.confirm_sas()
    b.session.confirm_sas()
    return cache_a, cache_b


class PatientMitm:
    """Terminates ZRTP on both legs posing as each phone (stolen ZIDs) and, unlike the one in
    test_handshake, keeps its retained secrets from call to call."""

    def __init__(self, zid_a: bytes, zid_b: bytes, **config) -> None:
        self.zid_a, self.zid_b, self.config = zid_a, zid_b, config
        self.cache_facing_a = ZrtpCache(":memory:", rng=lambda n: zid_b[:n])
        self.cache_facing_b = ZrtpCache(":memory:", rng=lambda n: zid_a[:n])

    def call(self, cache_a: ZrtpCache, cache_b: ZrtpCache) -> tuple[Endpoint, Endpoint]:
        a, b = make_endpoint("a", cache_a), make_endpoint("b", cache_b)
        facing_a = make_endpoint("mitm->a", self.cache_facing_a, **self.config)
        facing_b = make_endpoint("mitm->b", self.cache_facing_b, **self.config)
        run_links([(a, facing_a, lambda s, d: [d]), (facing_b, b, lambda s, d: [d])])
        for leg in (facing_a, facing_b):  # the attacker got keys on both legs
            assert isinstance(outcome(leg), Secure | CacheMismatch)
        return a, b


# --- F2: the cache after a mismatch (RFC 6189 §4.6.1.1, §4.9, §5.7) ---------------------------
def test_a_second_call_through_a_mitm_that_kept_its_secrets_is_still_possible_mitm():
    cache_a, cache_b = verified_pair()
    zid_a, zid_b = cache_a.local_zid(), cache_b.local_zid()
    mitm = PatientMitm(zid_a, zid_b)
    first_a, first_b = mitm.call(cache_a, cache_b)
    assert isinstance(outcome(first_a), CacheMismatch)
    assert isinstance(outcome(first_b), CacheMismatch)
    # Nobody verified the SAS: the attacker's rs1 must not have replaced the real one, or this
    # call would come up as a plain "secure" one.
    second_a, second_b = mitm.call(cache_a, cache_b)
    assert isinstance(outcome(second_a), CacheMismatch)
    assert isinstance(outcome(second_b), CacheMismatch)


def test_a_mitm_asking_not_to_cache_cannot_make_the_next_mitm_a_new_peer():
    cache_a, cache_b = verified_pair()
    zid_a, zid_b = cache_a.local_zid(), cache_b.local_zid()
    forgetful = PatientMitm(zid_a, zid_b, cache_expiration=0)
    first_a, _ = forgetful.call(cache_a, cache_b)
    assert isinstance(outcome(first_a), CacheMismatch)
    assert cache_a.lookup(zid_b) is not None and cache_a.lookup(zid_b).rs1 is not None
    second_a, second_b = PatientMitm(zid_a, zid_b).call(cache_a, cache_b)
    assert isinstance(outcome(second_a), CacheMismatch)
    assert isinstance(outcome(second_b), CacheMismatch)


def test_verifying_the_sas_after_a_mismatch_lets_the_new_secret_in():
    """The legitimate side of §4.6.1.1: B lost its cache, the people read the SAS out and
    confirm it; from then on the two phones match again."""
    cache_a, cache_b = verified_pair()
    zid_b = cache_b.local_zid()
    fresh_b = ZrtpCache(":memory:", rng=lambda n: zid_b[:n])
    a, b = make_endpoint("a", cache_a), make_endpoint("b", fresh_b)
    run(a, b)
    assert isinstance(outcome(a), CacheMismatch)
    a.session.confirm_sas()
    b.session.confirm_sas()
    a2, b2 = make_endpoint("a", cache_a), make_endpoint("b", fresh_b)
    run(a2, b2)
    assert isinstance(outcome(a2), Secure) and outcome(a2).verified
    assert isinstance(outcome(b2), Secure) and outcome(b2).verified


def test_expiration_zero_from_the_verified_peer_itself_keeps_the_history():
    cache_a, cache_b = verified_pair()
    zid_b = cache_b.local_zid()
    before = cache_a.lookup(zid_b)
    a = make_endpoint("a", cache_a)
    b = make_endpoint("b", cache_b, cache_expiration=0)
    run(a, b)
    assert isinstance(outcome(a), Secure) and outcome(a).verified
    after = cache_a.lookup(zid_b)
    assert after is not None and after.verified and after.rs1 == before.rs1


# --- F1 / F3: SASrelay refused; the keys announced once ---------------------------------------
def claim_to_be_a_pbx(endpoint: Endpoint) -> None:
    """Set the M flag in this endpoint's Hello (§5.2), re-MACed: what any peer can claim."""
    hs = endpoint.session._handshake
    hs.hello = dataclasses.replace(hs.hello, mitm=True)
    unsigned = hs.hello.encode()[:-8]
    hs.hello_bytes = unsigned + implicit_mac(hs.chain.h2, unsigned)


def authentic_sasrelay(sender: Endpoint, sas_hash: bytes) -> bytes:
    hs = sender.session._handshake
    keys = hs.keys
    mac_key, zrtp_key = ((keys.mac_key_initiator, keys.zrtp_key_initiator)
                         if hs.role == "initiator"
                         else (keys.mac_key_responder, keys.zrtp_key_responder))
    plaintext = b"\x00" * 4 + b"B32 " + sas_hash
    iv = os.urandom(16)
    encrypted = CIPHERS[hs.choice.cipher].cfb_encrypt(zrtp_key, iv, plaintext)
    relay = packets.SasRelay(HASHES[hs.choice.hash].hmac(mac_key, encrypted)[:8], iv, encrypted)
    return packets.encode_packet(77, 1, relay.encode())


def test_sasrelay_from_a_peer_claiming_an_enrolled_pbx_zid_is_refused():
    cache_a, cache_b = verified_pair()
    zid_b = cache_b.local_zid()
    # A enrolled B's ZID as a PBX (config); a MITM poses as B and claims the M flag.
    a = make_endpoint("a", cache_a, pbx_enrolled=frozenset({zid_b}))
    mitm = make_endpoint("mitm", ZrtpCache(":memory:", rng=lambda n: zid_b[:n]))
    claim_to_be_a_pbx(mitm)
    run(a, mitm)
    assert isinstance(outcome(a), CacheMismatch)  # the alarm is up
    a.session.receive_datagram(authentic_sasrelay(mitm, b"\x11" * 32), 500.0)
    replies = a.session.datagrams_to_send(500.0)
    assert [kind(r) for r in replies] == [b"Error   "]
    assert errors_sent(Endpoint("a", a.session, cache_a, sent=replies)) == [
        packets.ERROR_UNTRUSTED_MITM]
    a.drain_events()
    # no second Secure: neither the alarm nor the SAS on screen is replaced by the relay's
    assert isinstance(outcome(a), CacheMismatch) and a.session.stats.sasrelay_refused == 1


def test_the_keys_are_announced_once_whatever_arrives_afterwards():
    a, b = make_endpoint("a"), make_endpoint("b")
    run(a, b)
    initiator = a if a.session.role == "initiator" else b
    responder = b if initiator is a else a
    last_to_initiator = [d for d in responder.sent if kind(d) == b"Conf2ACK"][-1]
    initiator.session.receive_datagram(last_to_initiator, 200.0)  # a duplicate Conf2ACK
    initiator.session.peer_srtp_authenticated(200.0)  # and SRTP authenticating
    confirm2 = [d for d in initiator.sent if kind(d) == b"Confirm2"][-1]
    responder.session.receive_datagram(confirm2, 200.0)  # a retransmitted Confirm2
    responder.session.peer_srtp_authenticated(200.0)
    for endpoint in (a, b):
        endpoint.drain_events()
        outcome(endpoint)  # exactly one Secure/CacheMismatch/NotSecure each


# --- F4: an initiator past Confirm1 never falls back (§4.6, §5.8) ------------------------------
def drop_conf2ack(sender: str, datagram: bytes) -> list[bytes]:
    return [] if kind(datagram) == b"Conf2ACK" else [datagram]


def responder_secure(*endpoints: Endpoint):
    return lambda: any(e.session.role == "responder" and e.session.is_secure for e in endpoints)


def test_srtp_from_the_responder_stands_in_for_every_lost_conf2ack():
    a, b = make_endpoint("a"), make_endpoint("b")
    now = run(a, b, wire=drop_conf2ack, until=responder_secure(a, b))
    initiator = a if a.session.role == "initiator" else b
    responder = b if initiator is a else a
    assert initiator.session.state is State.CONFIRM2_SENT
    ready = [e for e in initiator.events if isinstance(e, SrtpReceiveReady)]
    assert len(ready) == 1 and not any(isinstance(e, NotSecure) for e in initiator.events)
    # the keys to decrypt the responder's SRTP with are the responder's sending keys
    assert ready[0].srtp.remote_key == outcome(responder).srtp.local_key
    initiator.session.peer_srtp_authenticated(now)  # the media layer authenticated a packet
    initiator.drain_events()
    secure = outcome(initiator)
    assert isinstance(secure, Secure) and secure.srtp == ready[0].srtp
    assert secure.sas == outcome(responder).sas
    assert initiator.session.stats.conf2ack_implicit == 1


def test_an_initiator_that_never_gets_conf2ack_goes_secure_not_cleartext():
    a, b = make_endpoint("a"), make_endpoint("b")
    run(a, b, wire=drop_conf2ack)
    initiator = a if a.session.role == "initiator" else b
    assert isinstance(outcome(a), Secure) and isinstance(outcome(b), Secure)
    assert outcome(a).sas == outcome(b).sas
    assert initiator.session.stats.conf2ack_missing == 1


def test_an_injected_error_after_confirm1_does_not_downgrade_the_initiator():
    error = packets.encode_packet(9, 9, packets.ErrorMessage(
        packets.ERROR_PROTOCOL_TIMEOUT).encode())

    def attacker(sender: str, datagram: bytes) -> list[bytes]:
        # the Conf2ACK is replaced by an Error (off-path spoofing needs no keys for that)
        return [error] if kind(datagram) == b"Conf2ACK" else [datagram]

    a, b = make_endpoint("a"), make_endpoint("b")
    run(a, b, wire=attacker)
    initiator = a if a.session.role == "initiator" else b
    assert isinstance(outcome(a), Secure) and isinstance(outcome(b), Secure)
    assert initiator.session.stats.errors_ignored >= 1


def test_an_error_before_confirm1_still_ends_the_handshake():
    error = packets.encode_packet(9, 9, packets.ErrorMessage(
        packets.ERROR_SERVICE_UNAVAILABLE).encode())

    def attacker(sender: str, datagram: bytes) -> list[bytes]:
        return [error] if kind(datagram) == b"DHPart1 " else [datagram]

    a, b = make_endpoint("a"), make_endpoint("b")
    run(a, b, wire=attacker)
    initiator = a if a.session.role == "initiator" else b
    assert isinstance(outcome(initiator), NotSecure)


# --- F6: a Hello failing a=zrtp-hash is an attack (§8.1.1) -------------------------------------
def test_a_hello_not_matching_the_signalled_hash_is_an_attack_at_once():
    a, b = make_endpoint("a"), make_endpoint("b")
    other = make_endpoint("other")
    a.session.set_peer_hello_hash(other.session.hello_hash())  # the SDP named another Hello
    a.session.start(0.0)
    b.session.start(0.0)
    a.session.datagrams_to_send(0.0)
    (hello,) = b.session.datagrams_to_send(0.0)
    a.session.receive_datagram(hello, 0.0)
    a.drain_events()
    failed = outcome(a)
    assert isinstance(failed, NotSecure) and failed.possible_attack
    assert "does not match" in failed.reason
    assert a.session.stats.dropped_hello_hash == 1 and a.session.state is State.FAILED
    reply = a.session.datagrams_to_send(0.0)
    assert [int.from_bytes(r[24:28], "big") for r in reply] == [packets.ERROR_HELLO_MISMATCH]


def test_a_hash_signalled_after_a_mismatching_hello_is_an_attack_too():
    a, b = make_endpoint("a"), make_endpoint("b")
    a.session.start(0.0)
    b.session.start(0.0)
    (hello,) = b.session.datagrams_to_send(0.0)
    a.session.receive_datagram(hello, 0.0)
    a.session.set_peer_hello_hash(make_endpoint("other").session.hello_hash())
    a.drain_events()
    assert isinstance(outcome(a), NotSecure) and outcome(a).possible_attack


# --- F7 ------------------------------------------------------------------------------------------
def test_confirm_signature_length_is_bits_8_to_16_of_its_word():
    """§5.7 figure 10: | 15 unused bits | sig len (9 bits) | 0 0 0 0 | E V A D |."""
    h0 = bytes(range(32))
    signature = b"\x5a" * 8  # two words
    word = (2 << 8) | 0b0100  # sig len 2, V set
    plaintext = h0 + word.to_bytes(4, "big") + (3600).to_bytes(4, "big") + signature
    parsed = packets.ConfirmPlaintext.parse(plaintext)
    assert parsed.signature == signature and parsed.sas_verified and not parsed.disclosure
    assert parsed.cache_expiration == 3600
    encoded = packets.ConfirmPlaintext(h0=h0, sas_verified=True, cache_expiration=3600,
                                       signature=signature).encode()
    assert encoded == plaintext


def test_a_preshared_commit_loses_contention_to_our_dh_commit():
    a, b = make_endpoint("a"), make_endpoint("b")
    a.session.start(0.0)
    b.session.start(0.0)
    (hello_a,) = a.session.datagrams_to_send(0.0)
    (hello_b,) = b.session.datagrams_to_send(0.0)
    b.session.receive_datagram(hello_a, 0.0)
    (ack_from_b,) = b.session.datagrams_to_send(0.0)
    a.session.receive_datagram(hello_b, 0.0)
    a.session.receive_datagram(ack_from_b, 0.0)
    assert a.session.state is State.COMMIT_SENT  # a is candidate initiator (DH Commit)
    hs_b = b.session._handshake
    preshared = packets.Commit(h2=hs_b.chain.h2, zid=hs_b.config.zid, hash="S256", cipher="AES1",
                               auth_tag="HS32", key_agreement="Prsh", sas_type="B32",
                               nonce=b"\x01" * 16, key_id=b"\x02" * 8).encode()
    a.session.receive_datagram(packets.encode_packet(5, 5, preshared), 0.0)
    a.drain_events()
    assert a.session.state is State.COMMIT_SENT
    assert not any(isinstance(e, NotSecure) for e in a.events)
    sent = a.session.datagrams_to_send(0.0)
    assert not [d for d in sent if kind(d) == b"Error   "]
    # our DH Commit proceeds: b, which never committed, takes it (a Commit implies HelloACK,
    # §4.1) and answers as responder
    (our_commit,) = [d for d in sent if kind(d) == b"Commit  "]
    b.session.receive_datagram(our_commit, 0.0)
    assert b.session.state is State.DHPART1_SENT
    run(a, b, start=0.0)
    assert isinstance(outcome(a), Secure) and isinstance(outcome(b), Secure)
    assert a.session.role == "initiator"


def test_an_expired_rs1_is_not_resurrected_as_rs2(tmp_path):
    now = [1000.0]
    peer = bytes(range(12))
    with ZrtpCache(tmp_path / "c.sqlite", clock=lambda: now[0]) as cache:
        cache.store_secret(peer, b"\x01" * 32, verified=True, expiration_interval=60)
        now[0] += 61
        cache.store_secret(peer, b"\x02" * 32, verified=False)
        entry = cache.lookup(peer)
        assert entry.rs1 == b"\x02" * 32 and entry.rs2 is None


def test_the_cache_file_is_made_0600_on_every_open_and_deletes_securely(tmp_path):
    path = tmp_path / "c.sqlite"
    ZrtpCache(path).close()
    os.chmod(path, 0o644)  # restored from a backup, or copied by hand
    with ZrtpCache(path) as cache:
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        for suffix in ("-wal", "-shm"):
            if os.path.exists(str(path) + suffix):
                assert stat.S_IMODE(os.stat(str(path) + suffix).st_mode) == 0o600
        assert cache._db.execute("PRAGMA secure_delete").fetchone()[0] == 1


def test_a_failing_cache_write_is_reported_not_silent():
    def broken_store(update) -> None:
        raise CacheWriteError("disk full")

    a, b = make_endpoint("a"), make_endpoint("b")
    a.session._store_secrets = broken_store  # the callable the adapter handed in
    run(a, b)
    secured = outcome(a)
    assert isinstance(secured, Secure)  # the keys are good: SRTP is not dropped ...
    failures = [e for e in a.events if isinstance(e, CacheWriteFailed)]
    assert len(failures) == 1 and "disk full" in failures[0].reason  # ... but it is said
    assert a.events.index(failures[0]) > a.events.index(secured)
    assert a.session.stats.cache_write_failures == 1


def test_the_sqlite_cache_turns_write_errors_into_cache_write_errors(tmp_path):
    cache = ZrtpCache(tmp_path / "c.sqlite")
    cache.close()
    from deskphone.zrtp import SecretUpdate
    try:
        cache.store(SecretUpdate(bytes(12), new_rs1=b"\x01" * 32, verified=False))
    except CacheWriteError as exc:
        assert "c.sqlite" in str(exc)
    else:
        raise AssertionError("a write to a closed cache did not fail")


def test_the_cache_writer_writes_on_its_thread_and_reports_failures(tmp_path):
    import threading

    from deskphone.zrtp import SecretUpdate
    from deskphone.zrtp.writer import CacheWriter

    reported: list[tuple[str, str]] = []
    writer_threads: list[str] = []

    def call_soon(callback, *args):  # stands in for loop.call_soon_threadsafe
        callback(*args)

    writer = CacheWriter(tmp_path / "c.sqlite", call_soon)
    try:
        original = writer._writer.store

        def spy(update):
            writer_threads.append(threading.current_thread().name)
            return original(update)

        writer._writer.store = spy
        store = writer.store_for(lambda reason: reported.append(("a", reason)))
        peer = bytes(range(12))
        store(SecretUpdate(peer, new_rs1=b"\x01" * 32, verified=True))
        assert writer.lookup(peer).rs1 == b"\x01" * 32  # read-after-write holds
        store(SecretUpdate(b"short", new_rs1=b"\x02" * 32, verified=False))  # refused
        writer.flush()
        assert writer_threads and all(name.startswith("zrtp-cache") for name in writer_threads)
        assert threading.current_thread().name not in writer_threads
        assert len(reported) == 1 and "12 bytes" in reported[0][1]
    finally:
        writer.close()
