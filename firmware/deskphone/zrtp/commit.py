"""ZRTP Commit and Commit contention (RFC 6189 §4.2, §5.4).

Once discovery is done an endpoint becomes a candidate initiator: it builds its DHPart2 first (hvi
commits to it, §4.4.1.1) and sends Commit on timer T2. When both sides commit at once, the Commit
with the larger hvi wins and the other side turns responder, answering with DHPart1. Handlers get
the handshake state and return a `Step` (see `actions.py`).
"""

from __future__ import annotations

import hmac

from . import packets
from .actions import STAY, ArmT2, Send, Step, StopTimer, fail
from .algorithms import HASHES
from .dh_exchange import build_dhpart
from .handshake import Handshake
from .hashchain import implicit_mac, preimage_matches
from .negotiation import NegotiationError, check_commit, choose, our_secret_ids
from .pq_kem import (
    NONCE_LENGTH,
    HybridKemInitiator,
    HybridKemResponder,
    InvalidKemValue,
    is_post_quantum,
)
from .states import State


def ready_to_commit(hs: Handshake) -> bool:
    """§4.1: we hold the peer's Hello and our Hello is acknowledged."""
    return hs.peer_hello is not None and hs.hello_acknowledged


def become_initiator(hs: Handshake, now: float) -> Step:
    """Candidate initiator: choose the algorithms, build DHPart2, send Commit on T2."""
    assert hs.peer_hello is not None
    try:
        choice = choose(hs.hello, hs.peer_hello)
    except NegotiationError as exc:
        return fail(str(exc), exc.error_code)
    hs.choice = choice
    h = HASHES[choice.hash]
    hs.look_up_retained()
    rs1, rs2 = hs.retained_pair()
    rs1_id, rs2_id = our_secret_ids(h, rs1, rs2, True, hs.rng)
    commit_value = b""
    if is_post_quantum(choice.key_agreement):
        # KEM (pq_kem.py, as bzrtp): the key shares go in the Commit, DHPart2 holds a nonce.
        hs.kem = HybridKemInitiator()
        commit_value, our_value = hs.kem.commit_value, hs.rng(NONCE_LENGTH)
    else:
        our_value = hs.key_agreement(choice.key_agreement).public_value
    # §4.4.1.1: DHPart2 is built first; hvi = hash(DHPart2 || responder's Hello).
    hs.our_dhpart_bytes = build_dhpart(hs, 2, rs1_id, rs2_id, our_value)
    hvi = h.digest(hs.our_dhpart_bytes + hs.peer_hello_bytes)[:32]
    commit = packets.Commit(
        h2=hs.chain.h2, zid=hs.config.zid, hash=choice.hash, cipher=choice.cipher,
        auth_tag=choice.auth_tag, key_agreement=choice.key_agreement,
        sas_type=choice.sas_type, hvi=hvi, public_value=commit_value,
    )
    unsigned = commit.encode()[:-8]
    hs.our_commit = commit
    hs.commit_bytes = unsigned + implicit_mac(hs.chain.h1, unsigned)
    hs.role = "initiator"
    return Step(State.COMMIT_SENT, [Send(hs.commit_bytes), ArmT2(hs.commit_bytes, "DHPart1")])


def _authentic(hs: Handshake, commit: packets.Commit) -> bool:
    """The Commit closes the hash chain of the peer's Hello (§9); counts what it drops."""
    peer_hello = hs.peer_hello
    if peer_hello is None:
        hs.stats.dropped_unexpected += 1  # need the Hello to check the hash chain
        return False
    if commit.zid != peer_hello.zid:
        hs.stats.dropped_malformed += 1
        return False
    # §9: H2 must hash to the Hello's H3, and the Hello's MAC is keyed by H2.
    if not preimage_matches(commit.h2, peer_hello.h3):
        hs.stats.dropped_hash_chain += 1
        return False
    if not hmac.compare_digest(implicit_mac(commit.h2, hs.peer_hello_bytes[:-8]), peer_hello.mac):
        hs.stats.dropped_mac += 1
        return False
    return True


def _refuse_non_dh(commit: packets.Commit) -> Step | None:
    if commit.key_agreement == "Prsh":
        return fail("peer asked for Preshared mode; we only do DH mode",
                    packets.ERROR_NO_SHARED_SECRET)
    if commit.key_agreement == "Mult":
        return fail("peer asked for Multistream mode without a DH session",
                    packets.ERROR_KEY_AGREEMENT_UNSUPPORTED)
    return None


def on_commit(hs: Handshake, packet, commit: packets.Commit, now: float) -> Step:
    """Discovery: the peer committed first; we become responder."""
    if not _authentic(hs, commit):
        return Step(STAY)
    if (refused := _refuse_non_dh(commit)) is not None:
        return refused
    hs.hello_acknowledged = True  # a Commit implies HelloACK (§4.1)
    return become_responder(hs, packet, commit)


def on_commit_in_contention(hs: Handshake, packet, commit: packets.Commit, now: float) -> Step:
    """Both sides sent Commit (§4.2): the larger hvi wins; we stay initiator or turn responder."""
    if not _authentic(hs, commit):
        return Step(STAY)
    hs.hello_acknowledged = True
    hs.stats.commit_contentions += 1
    if commit.key_agreement in ("Prsh", "Mult"):
        # §4.2: a DH Commit against a non-DH (Preshared, Multistream) one: the non-DH Commit is
        # discarded and the DH Commit (ours) proceeds; the peer, seeing ours, turns responder.
        return Step(STAY)
    assert hs.our_commit is not None
    # §4.2: both DH mode, the Commit with the larger hvi (as a big unsigned integer) wins.
    if int.from_bytes(hs.our_commit.hvi, "big") >= int.from_bytes(commit.hvi, "big"):
        return Step(STAY)  # we stay initiator and keep retransmitting our Commit
    return become_responder(hs, packet, commit)


def become_responder(hs: Handshake, packet, commit: packets.Commit) -> Step:
    try:
        choice = check_commit(commit, hs.hello)
    except NegotiationError as exc:
        return fail(str(exc), exc.error_code)
    if is_post_quantum(choice.key_agreement):
        try:  # the responder encapsulates to the Commit's keys; DHPart1 carries the result
            hs.kem = HybridKemResponder.encapsulate(commit.public_value)
        except InvalidKemValue as exc:
            return fail(str(exc), packets.ERROR_BAD_PUBLIC_VALUE)
        our_value = hs.kem.dhpart1_value
    else:
        hs.kem = None  # we may have been a DPQ1 initiator before losing the contention
        our_value = hs.key_agreement(choice.key_agreement).public_value
    hs.choice = choice
    hs.role = "responder"
    hs.our_commit = None
    hs.peer_commit = commit
    hs.commit_bytes = packet.message
    hs.accept(packet.message)
    h = HASHES[choice.hash]
    hs.look_up_retained()
    rs1, rs2 = hs.retained_pair()
    rs1_id, rs2_id = our_secret_ids(h, rs1, rs2, False, hs.rng)
    hs.our_dhpart_bytes = build_dhpart(hs, 1, rs1_id, rs2_id, our_value)
    hs.last_reply = hs.our_dhpart_bytes
    return Step(State.DHPART1_SENT, [StopTimer(), Send(hs.our_dhpart_bytes)])


def on_commit_again(hs: Handshake, packet, commit, now: float) -> Step:
    """Responder: the initiator retransmitted its Commit, so our DHPart1 was lost."""
    if hs.is_duplicate(packet.message, hs.commit_bytes):
        return Step(STAY, [Send(hs.last_reply)])
    hs.stats.dropped_unexpected += 1
    return Step(STAY)
