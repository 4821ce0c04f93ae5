"""The retained-secret cache: persistence, expiry, verified flag, and crash safety (kill -9)."""

from __future__ import annotations

import hashlib
import os
import signal
import stat
import subprocess
import sys
import textwrap

from deskphone.zrtp import ZrtpCache

PEER = bytes(range(12))


def test_zid_is_created_once_and_persisted(tmp_path):
    path = tmp_path / "data" / "zrtp.sqlite"
    with ZrtpCache(path) as cache:
        zid = cache.local_zid()
        assert len(zid) == 12 and cache.local_zid() == zid
    with ZrtpCache(path) as cache:
        assert cache.local_zid() == zid
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_unknown_peer_then_rotation_of_rs1_into_rs2(tmp_path):
    with ZrtpCache(tmp_path / "c.sqlite") as cache:
        assert cache.lookup(PEER) is None
        cache.store_secret(PEER, b"\x01" * 32, verified=False)
        cache.store_secret(PEER, b"\x02" * 32, verified=True)
        entry = cache.lookup(PEER)
        assert (entry.rs1, entry.rs2, entry.verified) == (b"\x02" * 32, b"\x01" * 32, True)
        cache.clear_verified(PEER)
        assert not cache.lookup(PEER).verified
        assert "\\x02" not in repr(entry)  # secrets stay out of reprs


def test_expiry_and_do_not_cache(tmp_path):
    now = [1000.0]
    with ZrtpCache(tmp_path / "c.sqlite", clock=lambda: now[0]) as cache:
        cache.store_secret(PEER, b"\x01" * 32, verified=True, expiration_interval=60)
        assert cache.lookup(PEER).rs1 == b"\x01" * 32
        now[0] += 61
        expired = cache.lookup(PEER)
        assert expired.rs1 is None and expired.rs2 is None and not expired.verified
        cache.store_secret(PEER, b"\x03" * 32, verified=False, expiration_interval=0)
        assert cache.lookup(PEER) is None


WRITER = textwrap.dedent("""
    import hashlib, sys
    from deskphone.zrtp import ZrtpCache
    cache = ZrtpCache(sys.argv[1])
    peer = bytes(range(12))
    i = 0
    while True:
        i += 1
        cache.store_secret(peer, hashlib.sha256(str(i).encode()).digest(), verified=i % 2 == 0)
        print(i, flush=True)
""")


def test_kill_9_during_updates_leaves_a_consistent_cache(tmp_path):
    path = tmp_path / "zrtp.sqlite"
    for _ in range(3):
        child = subprocess.Popen([sys.executable, "-c", WRITER, str(path)],
                                 stdout=subprocess.PIPE, text=True)
        try:
            for _ in range(40):  # wait (on its output, not on a clock) until it is mid-stream
                assert child.stdout.readline()
            os.kill(child.pid, signal.SIGKILL)
        finally:
            child.wait(timeout=30)
            child.stdout.close()
        with ZrtpCache(path) as cache:
            assert cache.integrity_ok()
            entry = cache.lookup(PEER)
            assert entry is not None and entry.rs1 is not None and entry.rs2 is not None
            # rs2 is always the rs1 of the update before: never a torn row.
            n = next(i for i in range(1, 10**7)
                     if hashlib.sha256(str(i).encode()).digest() == entry.rs1)
            assert entry.rs2 == hashlib.sha256(str(n - 1).encode()).digest()
            assert entry.verified == (n % 2 == 0)
