"""ZRTP configuration and counters: plain data, shared by the session and its phase handlers."""

from __future__ import annotations

from dataclasses import dataclass

from .fragments import DEFAULT_MTU, MINIMUM_MTU
from .retained import NEVER_EXPIRES


@dataclass(frozen=True)
class ZrtpConfig:
    zid: bytes
    client_id: str = "deskphone 0.1"
    hashes: tuple[str, ...] = ("S256", "S384")
    ciphers: tuple[str, ...] = ("AES1", "AES3")
    auth_tags: tuple[str, ...] = ("HS80", "HS32")
    key_agreements: tuple[str, ...] = ("DPQ1", "DH3k", "X255", "EC25", "DH2k", "EC38")
    sas_types: tuple[str, ...] = ("B32", "B256")
    t1: float = 0.05
    t2: float = 0.2
    # Accepted for the [zrtp] enrolled_pbx_zids setting, but trusts nothing: a relayed SAS
    # (§7.3) needs a PBX enrolment proven by a pbxsecret (§7.3.1), which is not implemented, so
    # every SASrelay is refused with Error 0x63 whatever this holds.
    pbx_enrolled: frozenset[bytes] = frozenset()
    # §5.7: what our Confirm asks the peer to keep the new rs1 for (seconds).
    cache_expiration: int = NEVER_EXPIRES
    # Largest ZRTP packet we send (UDP payload); a bigger message goes as fragments
    # (fragments.py). Only DPQ1's Commit and DHPart1 (1348, 1220 bytes) can exceed it.
    mtu: int = DEFAULT_MTU

    def __post_init__(self) -> None:
        if len(self.zid) != 12:
            raise ValueError(f"ZID must be 12 bytes (96 bits, §4.9), got {len(self.zid)}")
        if not 0 <= self.cache_expiration <= NEVER_EXPIRES:
            raise ValueError(f"cache expiration {self.cache_expiration} is not a 32-bit count")
        if not MINIMUM_MTU <= self.mtu <= 65507:
            raise ValueError(f"ZRTP MTU {self.mtu} must be {MINIMUM_MTU} to 65507 bytes")


@dataclass
class ZrtpStats:
    received: int = 0
    sent: int = 0
    retransmitted: int = 0
    dropped_crc: int = 0
    dropped_malformed: int = 0
    dropped_mac: int = 0
    dropped_hash_chain: int = 0
    dropped_unexpected: int = 0
    dropped_hello_hash: int = 0
    dropped_version: int = 0
    duplicates: int = 0
    commit_contentions: int = 0
    errors_sent: int = 0
    errors_received: int = 0
    goclear_refused: int = 0
    sasrelay_refused: int = 0
    errors_ignored: int = 0  # unauthenticated Errors after Confirm1 verified (§4.6, §5.9)
    conf2ack_implicit: int = 0  # initiator: peer's SRTP authenticated before Conf2ACK (§4.6)
    conf2ack_missing: int = 0  # initiator: Confirm2 retransmissions spent, no Conf2ACK
    cache_write_failures: int = 0
    fragments_sent: int = 0  # packets carrying a fragment of a message (fragments.py)
    fragments_received: int = 0
    messages_reassembled: int = 0
