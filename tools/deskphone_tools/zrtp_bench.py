"""Benchmarks: one full in-process ZRTP handshake (Hello .. Conf2ACK) per key agreement, and how
long a retained-secret write holds the caller's thread (the event loop, in the phone).

Both sessions run in this process with throwaway in-memory caches; the figure is CPU time for the
whole exchange on both sides (DH keygen and agreement, hashing, KDF, CFB, CRC), i.e. roughly twice
what one phone spends. `make bench` imports `measure_handshakes`.

`measure_cache_writes` (issue 13 F7): the cache commits with synchronous=FULL, an fsync per write.
Written inline that fsync holds the loop that carries audio; through `CacheWriter` the loop only
queues the write. Both are timed on a real file in `directory` (the figure depends on its disk).
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from deskphone.zrtp.cache import ZrtpCache
from deskphone.zrtp.retained import SecretUpdate
from deskphone.zrtp.session import ZrtpConfig, ZrtpSession
from deskphone.zrtp.writer import CacheWriter

# DPQ1 is the hybrid X25519 + ML-KEM-768 (deskphone.zrtp.pq_kem); it runs with S384/AES3, the
# others with the S256/AES1 both sides agree on by default.
KEY_AGREEMENTS = ("DPQ1", "DH3k", "DH2k", "EC25", "EC38", "X255")


def one_handshake(key_agreement: str) -> dict[str, int]:
    """Runs one handshake; returns the size in bytes of each ZRTP packet type sent (UDP payload,
    the largest of its kind)."""
    sizes: dict[str, int] = {}
    sessions = []
    for ssrc in (1, 2):
        cache = ZrtpCache(":memory:")
        config = ZrtpConfig(zid=cache.local_zid(), key_agreements=(key_agreement,))
        sessions.append(ZrtpSession(config, ssrc, lookup_secrets=cache.lookup,
                                    store_secrets=cache.store))
    a, b = sessions
    now = 0.0
    a.start(now)
    b.start(now)
    for _ in range(100):
        moved = False
        for sender, receiver in ((a, b), (b, a)):
            for datagram in sender.datagrams_to_send(now):
                kind = datagram[16:24].decode("latin-1").strip()
                sizes[kind] = max(sizes.get(kind, 0), len(datagram))
                receiver.receive_datagram(datagram, now)
                moved = True
        if a.is_secure and b.is_secure:
            return sizes
        if not moved:
            raise RuntimeError(f"{key_agreement} handshake stalled in states {a.state}, {b.state}")
    raise RuntimeError(f"{key_agreement} handshake did not finish")


def measure_handshakes(rounds: int = 10,
                       key_agreements: Iterable[str] = KEY_AGREEMENTS) -> dict[str, dict]:
    """{key agreement: {"median_ms", "min_ms", "max_ms", "rounds", "packet_bytes",
    "largest_packet_bytes"}} for full handshakes."""
    results: dict[str, dict] = {}
    for name in key_agreements:
        sizes = one_handshake(name)  # warm-up (imports, DH parameter objects)
        samples = []
        for _ in range(rounds):
            started = time.perf_counter()
            one_handshake(name)
            samples.append((time.perf_counter() - started) * 1000.0)
        results[name] = {"median_ms": round(statistics.median(samples), 3),
                         "min_ms": round(min(samples), 3), "max_ms": round(max(samples), 3),
                         "rounds": rounds, "packet_bytes": sizes,
                         "largest_packet_bytes": max(sizes.values())}
    return results


def _figures(samples: list[float]) -> dict[str, float]:
    return {"median_ms": round(statistics.median(samples), 3), "max_ms": round(max(samples), 3)}


def _timed_writes(store: Callable[[SecretUpdate], None], rounds: int,
                  done: Callable[[], None] = lambda: None) -> tuple[list[float], list[float]]:
    """(time in `store` on this thread, time until the write is on disk) per write, in ms."""
    held, completed = [], []
    for i in range(rounds):
        update = SecretUpdate(i.to_bytes(12, "big"), new_rs1=os.urandom(32), verified=True)
        started = time.perf_counter()
        store(update)
        held.append((time.perf_counter() - started) * 1000.0)
        done()
        completed.append((time.perf_counter() - started) * 1000.0)
    return held, completed


def measure_cache_writes(rounds: int = 20, directory: str | None = None) -> dict[str, object]:
    """{"inline": ..., "cache_writer": ...}: ms the caller's thread is held per write (median,
    max), and for the writer also ms until the write is durable."""
    with tempfile.TemporaryDirectory(dir=directory) as tmp:
        inline = ZrtpCache(Path(tmp) / "inline.sqlite")
        try:
            inline_held, _ = _timed_writes(inline.store, rounds)
        finally:
            inline.close()
        writer = CacheWriter(Path(tmp) / "writer.sqlite", lambda callback, *args: callback(*args))
        try:
            failures: list[str] = []
            writer_held, writer_done = _timed_writes(
                writer.store_for(failures.append), rounds, writer.flush)
        finally:
            writer.close()
        if failures:
            raise RuntimeError(f"cache writes failed in the benchmark: {failures[:3]}")
    return {"rounds": rounds, "inline": {"loop_held": _figures(inline_held)},
            "cache_writer": {"loop_held": _figures(writer_held),
                             "until_durable": _figures(writer_done)}}


if __name__ == "__main__":  # python -m deskphone_tools.zrtp_bench
    for algorithm, figures in measure_handshakes().items():
        print(f"{algorithm}: {figures}")
    print(f"cache writes: {measure_cache_writes()}")
