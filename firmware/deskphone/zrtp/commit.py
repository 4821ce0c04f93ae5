"""ZRTP Commit and Commit contention (RFC 6189 §4.2, §5.4).

Once discovery is done an endpoint becomes a candidate initiator: it builds its DHPart2 first (hvi
commits to it, §4.4.1.1) and sends Commit on timer T2. When both sides commit at once, the Commit
with the larger hvi wins and the other side turns responder, answering with DHPart1. Handlers take
the session first, as the state table in `session.py` calls them.
"""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING

from . import packets
from .algorithms import HASHES
from .dh_exchange import build_dhpart
from .hashchain import implicit_mac, preimage_matches
from .negotiation import NegotiationError, check_commit, choose, our_secret_ids
from .states import State

if TYPE_CHECKING:
    from .session import ZrtpSession


def maybe_commit(session: ZrtpSession, now: float) -> None:
    """Become candidate initiator once we hold the peer's Hello and our Hello is acknowledged."""
    if session.state is not State.DISCOVERY or session._peer_hello is None:
        return
    if not session._hello_acknowledged:
        return
    try:
        choice = choose(session._hello, session._peer_hello)
    except NegotiationError as exc:
        session._fail_with_error(exc.error_code, now, str(exc))
        return
    session._choice = choice
    h = HASHES[choice.hash]
    session._retained = session._lookup_retained()
    rs1, rs2 = session._retained_pair()
    rs1_id, rs2_id = our_secret_ids(h, rs1, rs2, True, session._rng)
    key_agreement = session._key_agreement(choice.key_agreement)
    # §4.4.1.1: DHPart2 is built first; hvi = hash(DHPart2 || responder's Hello).
    session._our_dhpart_bytes = build_dhpart(session, 2, rs1_id, rs2_id,
                                             key_agreement.public_value)
    hvi = h.digest(session._our_dhpart_bytes + session._peer_hello_bytes)[:32]
    commit = packets.Commit(
        h2=session._chain.h2, zid=session.config.zid, hash=choice.hash, cipher=choice.cipher,
        auth_tag=choice.auth_tag, key_agreement=choice.key_agreement,
        sas_type=choice.sas_type, hvi=hvi,
    )
    unsigned = commit.encode()[:-8]
    session._our_commit = commit
    session._commit_bytes = unsigned + implicit_mac(session._chain.h1, unsigned)
    session.state = State.COMMIT_SENT
    session.role = "initiator"
    session._send(session._commit_bytes)
    session._arm_t2(session._commit_bytes, now, "DHPart1")


def on_commit(session: ZrtpSession, packet, commit: packets.Commit, now: float) -> None:
    peer_hello = session._peer_hello
    if peer_hello is None:
        session.stats.dropped_unexpected += 1  # need the Hello to check the hash chain
        return
    if commit.zid != peer_hello.zid:
        session.stats.dropped_malformed += 1
        return
    # §9: H2 must hash to the Hello's H3, and the Hello's MAC is keyed by H2.
    if not preimage_matches(commit.h2, peer_hello.h3):
        session.stats.dropped_hash_chain += 1
        return
    if not hmac.compare_digest(implicit_mac(commit.h2, session._peer_hello_bytes[:-8]),
                               peer_hello.mac):
        session.stats.dropped_mac += 1
        return
    if commit.key_agreement == "Prsh":
        session._fail_with_error(packets.ERROR_NO_SHARED_SECRET, now,
                                 "peer asked for Preshared mode; we only do DH mode")
        return
    if commit.key_agreement == "Mult":
        session._fail_with_error(packets.ERROR_KEY_AGREEMENT_UNSUPPORTED, now,
                                 "peer asked for Multistream mode without a DH session")
        return
    session._hello_acknowledged = True  # a Commit implies HelloACK (§4.1)
    if session.state is State.COMMIT_SENT:
        session.stats.commit_contentions += 1
        assert session._our_commit is not None
        # §4.2: both DH mode, the Commit with the larger hvi (as a big unsigned integer) wins.
        if int.from_bytes(session._our_commit.hvi, "big") >= int.from_bytes(commit.hvi, "big"):
            return  # we stay initiator and keep retransmitting our Commit
    try:
        choice = check_commit(commit, session._hello)
    except NegotiationError as exc:
        session._fail_with_error(exc.error_code, now, str(exc))
        return
    session._stop_timer()
    session._choice = choice
    session.role = "responder"
    session._our_commit = None
    session._peer_commit = commit
    session._commit_bytes = packet.message
    session._accept(packet.message)
    h = HASHES[choice.hash]
    session._retained = session._lookup_retained()
    rs1, rs2 = session._retained_pair()
    rs1_id, rs2_id = our_secret_ids(h, rs1, rs2, False, session._rng)
    key_agreement = session._key_agreement(choice.key_agreement)
    session._our_dhpart_bytes = build_dhpart(session, 1, rs1_id, rs2_id,
                                             key_agreement.public_value)
    session.state = State.DHPART1_SENT
    session._last_reply = session._our_dhpart_bytes
    session._send(session._our_dhpart_bytes)


def on_commit_again(session: ZrtpSession, packet, commit, now: float) -> None:
    """Responder: the initiator retransmitted its Commit, so our DHPart1 was lost."""
    if session._is_duplicate(packet.message, session._commit_bytes):
        session._send(session._last_reply)
    else:
        session.stats.dropped_unexpected += 1
