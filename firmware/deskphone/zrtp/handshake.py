"""The state of one ZRTP handshake (RFC 6189 §4), as one dataclass the phase handlers are given.

Everything a handler needs lives here: our Hello and hash chain, what the peer sent so far, the
negotiated algorithms, the derived keys, the retained secrets looked up for the peer. The phase
modules read and update these fields; the state name (`state`) is written only by `ZrtpSession`,
which moves it along its table. Secrets never appear in a repr.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from . import packets
from .algorithms import KeyAgreement, new_key_agreement
from .config import ZrtpConfig, ZrtpStats
from .events import ZrtpEvent
from .hashchain import HashChain, implicit_hash, implicit_mac
from .kdf import SessionKeys
from .negotiation import AlgorithmChoice, our_offer
from .packets import ZRTP_VERSION
from .pq_kem import HybridKemInitiator, HybridKemResponder
from .retained import NEVER_EXPIRES, RetainedSecrets, SecretLookup
from .states import State


@dataclass(eq=False, repr=False)
class Handshake:
    config: ZrtpConfig
    rng: Callable[[int], bytes]
    lookup_secrets: SecretLookup
    chain: HashChain
    hello: packets.Hello
    hello_bytes: bytes
    stats: ZrtpStats = field(default_factory=ZrtpStats)
    state: State = State.IDLE  # written by ZrtpSession only
    role: str | None = None  # "initiator" or "responder" once known
    expected_peer_hello_hash: bytes | None = None  # from the peer's SDP a=zrtp-hash (§8.1.1)
    peer_hello: packets.Hello | None = None
    peer_hello_bytes: bytes = b""
    peer_zid: bytes | None = None
    hello_acknowledged: bool = False
    choice: AlgorithmChoice | None = None
    key_agreements: dict[str, KeyAgreement] = field(default_factory=dict)
    kem: HybridKemInitiator | HybridKemResponder | None = None  # DPQ1 only (pq_kem.py)
    retained: RetainedSecrets | None = None
    commit_bytes: bytes = b""  # the Commit that won (ours or the peer's)
    our_commit: packets.Commit | None = None
    peer_commit: packets.Commit | None = None
    our_dhpart_bytes: bytes = b""
    peer_dhpart: packets.DHPart | None = None
    peer_dhpart_bytes: bytes = b""
    keys: SessionKeys | None = None
    cache_mismatch: bool = False
    local_verified: bool = False
    peer_verified: bool = False
    peer_cache_expiration: int = NEVER_EXPIRES
    last_reply: bytes = b""  # responder: resent when the initiator retransmits
    last_peer_message: bytes = b""
    seen_peer_messages: set[bytes] = field(default_factory=set)
    finished_event: ZrtpEvent | None = None
    # §4.6.1.1: after a cache mismatch the new rs1 waits here until the SAS is verified.
    pending_rs1: bytes | None = field(default=None, repr=False)
    pending_expiration: int = NEVER_EXPIRES

    @classmethod
    def new(cls, config: ZrtpConfig, rng: Callable[[int], bytes],
            lookup_secrets: SecretLookup) -> Handshake:
        """A fresh hash chain (§9) and our Hello (§5.2), MACed with H2."""
        chain = HashChain.generate(rng)
        hello = packets.Hello(
            version=ZRTP_VERSION, client_id=config.client_id, h3=chain.h3, zid=config.zid,
            hashes=our_offer("hash", config.hashes), ciphers=our_offer("cipher", config.ciphers),
            auth_tags=our_offer("auth_tag", config.auth_tags),
            key_agreements=our_offer("key_agreement", config.key_agreements),
            sas_types=our_offer("sas", config.sas_types),
        )
        unsigned = hello.encode()
        hello_bytes = unsigned[:-8] + implicit_mac(chain.h2, unsigned[:-8])
        return cls(config=config, rng=rng, lookup_secrets=lookup_secrets, chain=chain,
                   hello=hello, hello_bytes=hello_bytes)

    def __repr__(self) -> str:
        return f"Handshake(state={self.state.name}, role={self.role})"

    # --- helpers over this state, shared by the phase handlers ----------------------------------
    def is_duplicate(self, raw: bytes, previous: bytes) -> bool:
        if raw == previous:
            self.stats.duplicates += 1
            return True
        return False

    def accept(self, raw: bytes) -> None:
        """Remember a processed peer message: a later copy is a duplicate, not an attack."""
        self.last_peer_message = raw
        self.seen_peer_messages.add(implicit_hash(raw))

    def was_seen(self, raw: bytes) -> bool:
        return implicit_hash(raw) in self.seen_peer_messages

    def look_up_retained(self) -> RetainedSecrets | None:
        assert self.peer_zid is not None
        self.retained = self.lookup_secrets(self.peer_zid)
        return self.retained

    def retained_pair(self) -> tuple[bytes | None, bytes | None]:
        if self.retained is None:
            return None, None
        return self.retained.rs1, self.retained.rs2

    def key_agreement(self, name: str) -> KeyAgreement:
        if name not in self.key_agreements:
            self.key_agreements[name] = new_key_agreement(name)
        return self.key_agreements[name]

    def peer_keys(self) -> tuple[bytes, bytes]:
        """(mac key, zrtp key) the peer uses for what it sends."""
        assert self.keys is not None
        if self.role == "initiator":
            return self.keys.mac_key_responder, self.keys.zrtp_key_responder
        return self.keys.mac_key_initiator, self.keys.zrtp_key_initiator
