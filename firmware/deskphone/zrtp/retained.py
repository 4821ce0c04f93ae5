"""What the ZRTP core asks of its retained-secret storage (RFC 6189 §4.9), and nothing more.

The session never opens a file: like aioquic's `session_ticket_fetcher` / `session_ticket_handler`
it is handed two callables, `lookup(peer_zid)` and `store(update)`. `cache.ZrtpCache` (SQLite) is
the storage the phone plugs in; tests and the MITM relay may plug in anything with these shapes.
A store that cannot write raises `CacheWriteError` (or reports it later through
`ZrtpSession.cache_write_failed`): the handshake then ends with a NotSecure that says so.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

NEVER_EXPIRES = 0xFFFFFFFF  # cache expiration interval meaning "forever" (§5.7)
DO_NOT_CACHE = 0  # cache expiration interval meaning "do not keep the new rs1" (§5.7)


@dataclass(frozen=True)
class RetainedSecrets:
    rs1: bytes | None = field(repr=False)
    rs2: bytes | None = field(repr=False)
    verified: bool


@dataclass(frozen=True)
class SecretUpdate:
    """One change to the cache entry of `peer_zid`.

    With `new_rs1`: rotate (§4.6.1: rs2 = rs1, rs1 = new_rs1) and set the verified flag to
    `verified`, rs1 kept for `expiration_interval` seconds. Without: only the SAS-verified flag
    changes (None leaves it). `forget` deletes the entry.
    """

    peer_zid: bytes
    new_rs1: bytes | None = field(default=None, repr=False)
    verified: bool | None = None
    expiration_interval: int = NEVER_EXPIRES
    forget: bool = False


class CacheWriteError(Exception):
    """The retained-secret storage could not persist an update."""


SecretLookup = Callable[[bytes], RetainedSecrets | None]
SecretStore = Callable[[SecretUpdate], None]
