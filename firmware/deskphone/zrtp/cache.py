"""Retained-secret cache (RFC 6189 §4.9): our ZID; per peer ZID rs1, rs2 and the SAS-verified flag.

SQLite in the data directory: the storage behind the `lookup` / `store` callables a ZrtpSession
is given (`retained.py`); the session itself never touches this file. Every update is one
statement inside one transaction (WAL journal, synchronous=FULL), so a crash or kill -9 at any
point leaves either the old or the new row, never a half-written one. The file is created 0600
and put back to 0600 on every open (a copy or a umask may have loosened it): it holds long-term
secrets; `secure_delete` overwrites what a rotation or a forget removes. Nothing here logs a
secret. The wall clock (for expiry) is injectable for tests. `writer.CacheWriter` runs the writes
on a worker thread, so the event loop never waits for their fsync.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

from .retained import NEVER_EXPIRES, CacheWriteError, RetainedSecrets, SecretUpdate

__all__ = ["NEVER_EXPIRES", "RetainedSecrets", "ZrtpCache"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS local (name TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS peers (
    zid BLOB PRIMARY KEY CHECK (length(zid) = 12),
    rs1 BLOB, rs2 BLOB,
    expires_at REAL,            -- wall-clock expiry of rs1 and rs2, NULL for never
    verified INTEGER NOT NULL DEFAULT 0,
    updated_at REAL NOT NULL
);
"""


class ZrtpCache:
    """Open (or create) the cache at `path`; ":memory:" gives a throwaway cache for tests."""

    def __init__(self, path: str | os.PathLike[str], *, clock: Callable[[], float] = time.time,
                 rng: Callable[[int], bytes] = os.urandom) -> None:
        self._clock = clock
        self._rng = rng
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                os.fchmod(fd, 0o600)
            finally:
                os.close(fd)
        self._db = sqlite3.connect(self.path, isolation_level=None, timeout=5.0,
                                   check_same_thread=False)
        if self.path != ":memory:":
            self._db.execute("PRAGMA journal_mode=WAL")
            for suffix in ("-wal", "-shm"):  # SQLite creates these with the file's mode
                with contextlib.suppress(FileNotFoundError):
                    os.chmod(self.path + suffix, 0o600)
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA secure_delete=ON")
        self._db.executescript(_SCHEMA)  # idempotent: CREATE TABLE IF NOT EXISTS

    # -- plumbing ---------------------------------------------------------------------------------
    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> ZrtpCache:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- our identity -----------------------------------------------------------------------------
    def local_zid(self) -> bytes:
        """Our 96-bit ZID (§4.9), created once at random and then kept forever."""
        with self._transaction():
            row = self._db.execute("SELECT value FROM local WHERE name = 'zid'").fetchone()
            if row is not None and len(row[0]) == 12:
                return bytes(row[0])
            zid = self._rng(12)
            self._db.execute("INSERT OR REPLACE INTO local (name, value) VALUES ('zid', ?)", (zid,))
            return zid

    # -- peers ------------------------------------------------------------------------------------
    def lookup(self, peer_zid: bytes) -> RetainedSecrets | None:
        """The retained secrets for a peer, or None if never seen. Expired secrets read as None."""
        row = self._db.execute(
            "SELECT rs1, rs2, expires_at, verified FROM peers WHERE zid = ?", (bytes(peer_zid),)
        ).fetchone()
        if row is None:
            return None
        rs1, rs2, expires_at, verified = row
        if expires_at is not None and expires_at <= self._clock():
            rs1 = rs2 = None
        return RetainedSecrets(
            rs1=bytes(rs1) if rs1 else None, rs2=bytes(rs2) if rs2 else None,
            verified=bool(verified) and rs1 is not None,
        )

    def store_secret(self, peer_zid: bytes, new_rs1: bytes, *, verified: bool,
                     expiration_interval: int = NEVER_EXPIRES) -> None:
        """§4.6.1: rs2 = old rs1, rs1 = new_rs1, atomically. An interval of 0 means do not cache."""
        if len(peer_zid) != 12:
            raise ValueError(f"peer ZID must be 12 bytes, got {len(peer_zid)}")
        if expiration_interval == 0:
            self.forget(peer_zid)
            return
        now = self._clock()
        expires_at = None if expiration_interval == NEVER_EXPIRES else now + expiration_interval
        with self._transaction():
            self._db.execute(
                """INSERT INTO peers (zid, rs1, rs2, expires_at, verified, updated_at)
                   VALUES (:zid, :rs1, NULL, :exp, :verified, :now)
                   ON CONFLICT(zid) DO UPDATE SET
                       rs2 = CASE WHEN peers.expires_at IS NOT NULL AND peers.expires_at <= :now
                                  THEN NULL ELSE peers.rs1 END,
                       rs1 = :rs1, expires_at = :exp, verified = :verified, updated_at = :now""",
                {"zid": bytes(peer_zid), "rs1": new_rs1, "exp": expires_at,
                 "verified": int(verified), "now": now},
            )

    def store(self, update: SecretUpdate) -> None:
        """The `store_secrets` callable a ZrtpSession is given (retained.py); a failed write
        raises CacheWriteError, which the session reports as CacheWriteFailed."""
        try:
            if update.forget:
                self.forget(update.peer_zid)
            elif update.new_rs1 is not None:
                self.store_secret(update.peer_zid, update.new_rs1,
                                  verified=bool(update.verified),
                                  expiration_interval=update.expiration_interval)
            elif update.verified is not None:
                self.set_verified(update.peer_zid, update.verified)
        except (sqlite3.Error, OSError) as exc:
            raise CacheWriteError(f"{self.path}: {exc}") from exc

    def set_verified(self, peer_zid: bytes, verified: bool) -> None:
        with self._transaction():
            self._db.execute("UPDATE peers SET verified = ?, updated_at = ? WHERE zid = ?",
                             (int(verified), self._clock(), bytes(peer_zid)))

    def clear_verified(self, peer_zid: bytes) -> None:
        """For the phone menu: forget that the SAS was verified with this peer."""
        self.set_verified(peer_zid, False)

    def forget(self, peer_zid: bytes) -> None:
        with self._transaction():
            self._db.execute("DELETE FROM peers WHERE zid = ?", (bytes(peer_zid),))

    def peers(self) -> list[bytes]:
        return [bytes(row[0]) for row in self._db.execute("SELECT zid FROM peers ORDER BY zid")]

    def integrity_ok(self) -> bool:
        return self._db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *rest: object) -> None:
        self._db.execute("COMMIT" if exc_type is None else "ROLLBACK")
