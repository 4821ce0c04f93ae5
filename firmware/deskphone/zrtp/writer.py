"""The phone's retained-secret storage for ZrtpSession: reads here, writes on a worker thread.

`ZrtpCache` commits with synchronous=FULL, i.e. an fsync per write, which on a phone's flash can
take tens of milliseconds: too long to hold the one event loop that also carries audio. So the
`store` callable only queues the write for a single worker thread (its own SQLite connection) and
returns; a failed write comes back to the loop through `on_failure` (the call layer passes it on
to `ZrtpSession.cache_write_failed`). Reads stay on the caller's thread with their own
connection (WAL lets them run beside the writer); a lookup for a peer whose write is still in
flight waits for that write first, so a second call never reads the secret the first replaced.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from .cache import ZrtpCache
from .retained import CacheWriteError, RetainedSecrets, SecretStore, SecretUpdate

FailureReport = Callable[[str], None]
# How a worker thread hands a callback to the event loop: loop.call_soon_threadsafe.
CallSoon = Callable[..., object]

LOOKUP_WAIT = 5.0  # seconds a lookup waits for the same peer's write in flight


class CacheWriter:
    def __init__(self, path: str | os.PathLike[str], call_soon_threadsafe: CallSoon, *,
                 clock: Callable[[], float] = time.time) -> None:
        if str(path) == ":memory:":
            raise ValueError("CacheWriter needs a file: two connections to ':memory:' are two "
                             "different databases")
        self._call_soon = call_soon_threadsafe
        self.reader = ZrtpCache(path, clock=clock)  # this thread: lookups, our ZID, the menu
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="zrtp-cache")
        self._writer = self._executor.submit(ZrtpCache, path, clock=clock).result()
        self._in_flight: dict[bytes, Future[None]] = {}
        self._lock = threading.Lock()

    def lookup(self, peer_zid: bytes) -> RetainedSecrets | None:
        with self._lock:
            pending = self._in_flight.get(bytes(peer_zid))
        if pending is not None:
            with contextlib.suppress(Exception):  # its failure was reported to the session
                pending.result(timeout=LOOKUP_WAIT)
        return self.reader.lookup(peer_zid)

    def store(self, update: SecretUpdate, on_failure: FailureReport) -> None:
        """Queue the write; return at once. `on_failure(reason)` runs on the loop if it fails."""
        zid = bytes(update.peer_zid)
        future = self._executor.submit(self._writer.store, update)
        with self._lock:
            self._in_flight[zid] = future

        def done(finished: Future[None], zid: bytes = zid) -> None:
            with self._lock:
                if self._in_flight.get(zid) is finished:
                    del self._in_flight[zid]
            exc = finished.exception()
            if exc is not None:
                reason = str(exc) if isinstance(exc, CacheWriteError) else repr(exc)
                self._call_soon(on_failure, reason)

        future.add_done_callback(done)

    def store_for(self, on_failure: FailureReport) -> SecretStore:
        """The `store_secrets` callable of one ZrtpSession, reporting failures to `on_failure`."""
        return lambda update: self.store(update, on_failure)

    def flush(self) -> None:
        """Wait until every queued write is done (tests, shutdown)."""
        self._executor.submit(lambda: None).result()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._executor.submit(self._writer.close).result()
        self._executor.shutdown(wait=True)
        self.reader.close()
