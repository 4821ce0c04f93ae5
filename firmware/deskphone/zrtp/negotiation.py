"""Algorithm negotiation (RFC 6189 §4.1.2) and retained-secret matching (§4.3).

The RFC's mandatory algorithms (S256, AES1, HS32+HS80, DH3k, B32) are implied in every Hello even
when the peer does not list them: one real implementation commits to AES3 without listing it, and
every implementation must accept the mandatory set anyway.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from . import packets
from .algorithms import KEY_AGREEMENT_SPEED_ORDER, MANDATORY, SUPPORTED, HashAlgorithm
from .kdf import secret_id
from .pq_kem import REQUIRED_CIPHER, REQUIRED_HASH, is_post_quantum


@dataclass(frozen=True)
class AlgorithmChoice:
    hash: str
    cipher: str
    auth_tag: str
    key_agreement: str
    sas_type: str


class NegotiationError(Exception):
    """No acceptable algorithm; `error_code` is the ZRTP Error code to send (§5.9)."""

    def __init__(self, error_code: int, message: str) -> None:
        super().__init__(message)
        self.error_code = error_code


_ERROR_FOR_KIND = {
    "hash": packets.ERROR_HASH_UNSUPPORTED,
    "cipher": packets.ERROR_CIPHER_UNSUPPORTED,
    "auth_tag": packets.ERROR_AUTH_TAG_UNSUPPORTED,
    "key_agreement": packets.ERROR_KEY_AGREEMENT_UNSUPPORTED,
    "sas": packets.ERROR_SAS_UNSUPPORTED,
}


def with_mandatory(kind: str, listed: Sequence[str]) -> tuple[str, ...]:
    """The algorithms an endpoint accepts: what it listed, then the implied mandatory ones."""
    return tuple(listed) + tuple(name for name in MANDATORY[kind] if name not in listed)


def our_offer(kind: str, configured: Sequence[str]) -> tuple[str, ...]:
    """What we list in our Hello: configured and supported, in preference order (max 7)."""
    unknown = [name for name in configured if name not in SUPPORTED[kind]]
    if unknown:
        raise ValueError(f"{kind} algorithms {unknown} are not supported; expected from "
                         f"{SUPPORTED[kind]}")
    return tuple(dict.fromkeys(configured))[:7]


def hello_lists(hello: packets.Hello) -> dict[str, tuple[str, ...]]:
    return {"hash": hello.hashes, "cipher": hello.ciphers, "auth_tag": hello.auth_tags,
            "key_agreement": hello.key_agreements, "sas": hello.sas_types}


# §4.1.2 leaves hash, cipher, auth tag and SAS type to "whatever the initiator selects" from the
# common algorithms, and which side becomes initiator is decided by a coin toss (the larger hvi
# wins Commit contention, §4.2). Picking our own first choice would make the outcome of a call
# depend on that toss whenever the two Hellos order things differently (linphone set to S384/AES3/
# B256 lists them first, we list S256/AES1/B32 first). So, as §4.1.2 does for key agreements, we
# compare the two first choices and take the one ranked earlier below: the stronger hash, cipher
# and tag, and for the SAS the non-default rendering (B32 is the mandatory default, so a peer that
# puts B256 first has been configured for it). An endpoint following its own first choice (bzrtp
# does) then lands on the same algorithms whichever side wins the contention.
TIE_BREAK_ORDER: dict[str, tuple[str, ...]] = {
    "hash": ("S384", "S256"),
    "cipher": ("AES3", "AES1"),
    "auth_tag": ("HS80", "HS32"),
    "sas": ("B256", "B32"),
}


def tie_break(kind: str, my_first: str, peer_first: str) -> str:
    """Between the two sides' first common choices, the one both sides would pick (see above)."""
    if my_first == peer_first:
        return my_first
    order = TIE_BREAK_ORDER[kind]
    rank = {name: index for index, name in enumerate(order)}
    return min(my_first, peer_first, key=lambda name: rank.get(name, len(order)))


def choose(ours: packets.Hello, theirs: packets.Hello) -> AlgorithmChoice:
    """The algorithms we commit to as initiator (§4.1.2, with the tie-break above)."""
    our_lists, their_lists = hello_lists(ours), hello_lists(theirs)
    commons: dict[str, list[str]] = {}
    for kind in ("hash", "cipher", "auth_tag", "sas", "key_agreement"):
        mine = [n for n in with_mandatory(kind, our_lists[kind]) if n in SUPPORTED[kind]]
        peer = with_mandatory(kind, their_lists[kind])
        commons[kind] = [name for name in mine if name in peer]
    if REQUIRED_HASH not in commons["hash"] or REQUIRED_CIPHER not in commons["cipher"]:
        # A post-quantum agreement needs S384 and AES3 (pq_kem.py); without both in common it is
        # not common either. Both sides see the same lists, so both drop it.
        commons["key_agreement"] = [n for n in commons["key_agreement"] if not is_post_quantum(n)]
    chosen: dict[str, str] = {}
    for kind in ("key_agreement", "hash", "cipher", "auth_tag", "sas"):
        common = commons[kind]
        if not common:
            raise NegotiationError(_ERROR_FOR_KIND[kind], f"no common {kind} algorithm")
        my_first = common[0]
        peer_first = next(name for name in with_mandatory(kind, their_lists[kind])
                          if name in common)
        if kind == "key_agreement":
            # §4.1.2: if the two first choices differ, use the faster of them so that both sides
            # tend to commit to the same key agreement (cheaper Commit contention).
            chosen[kind] = min(my_first, peer_first, key=KEY_AGREEMENT_SPEED_ORDER.index)
        elif is_post_quantum(chosen["key_agreement"]) and kind in ("hash", "cipher"):
            chosen[kind] = REQUIRED_HASH if kind == "hash" else REQUIRED_CIPHER
        else:
            chosen[kind] = tie_break(kind, my_first, peer_first)
    return AlgorithmChoice(chosen["hash"], chosen["cipher"], chosen["auth_tag"],
                           chosen["key_agreement"], chosen["sas"])


def check_commit(commit: packets.Commit, ours: packets.Hello) -> AlgorithmChoice:
    """Accept the peer's Commit only with algorithms we offered or that are mandatory (§4.1.2)."""
    our_lists = hello_lists(ours)
    committed = {"hash": commit.hash, "cipher": commit.cipher, "auth_tag": commit.auth_tag,
                 "key_agreement": commit.key_agreement, "sas": commit.sas_type}
    for kind, name in committed.items():
        if name not in with_mandatory(kind, our_lists[kind]) or name not in SUPPORTED[kind]:
            raise NegotiationError(_ERROR_FOR_KIND[kind],
                                   f"peer committed to {kind} {name!r}, which we do not offer")
    if is_post_quantum(commit.key_agreement):
        for kind, required in (("hash", REQUIRED_HASH), ("cipher", REQUIRED_CIPHER)):
            if committed[kind] != required:
                raise NegotiationError(_ERROR_FOR_KIND[kind], f"peer committed to {kind} "
                                       f"{committed[kind]!r} with {commit.key_agreement}, "
                                       f"which needs {required!r}")
    return AlgorithmChoice(commit.hash, commit.cipher, commit.auth_tag, commit.key_agreement,
                           commit.sas_type)


# --- retained secrets (§4.3) -------------------------------------------------------------------
INITIATOR_LABEL = b"Initiator"
RESPONDER_LABEL = b"Responder"


def our_secret_ids(h: HashAlgorithm, rs1: bytes | None, rs2: bytes | None, is_initiator: bool,
                   rng) -> tuple[bytes, bytes]:
    """rs1ID/rs2ID we send in our DHPart; random when we have no such secret (§4.3.1)."""
    label = INITIATOR_LABEL if is_initiator else RESPONDER_LABEL
    return tuple(secret_id(h, secret, label) if secret else rng(8)  # type: ignore[return-value]
                 for secret in (rs1, rs2))


def match_retained_secret(h: HashAlgorithm, rs1: bytes | None, rs2: bytes | None,
                          peer_rs1_id: bytes, peer_rs2_id: bytes,
                          is_initiator: bool) -> bytes | None:
    """s1 per §4.3.1: the first matching pair in the fixed order (initiator rs1, responder rs1),
    (rs1, rs2), (rs2, rs1), (rs2, rs2), which both sides evaluate identically."""
    peer_label = RESPONDER_LABEL if is_initiator else INITIATOR_LABEL
    mine = (rs1, rs2)
    peer_ids = (peer_rs1_id, peer_rs2_id)
    for initiator_index, responder_index in ((0, 0), (0, 1), (1, 0), (1, 1)):
        my_index, peer_index = ((initiator_index, responder_index) if is_initiator
                                else (responder_index, initiator_index))
        secret = mine[my_index]
        if secret and secret_id(h, secret, peer_label) == peer_ids[peer_index]:
            return secret
    return None
