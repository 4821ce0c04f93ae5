"""The durable writes of the firmware, run in a loop by a child process that the power-cut tests
kill with SIGKILL at varied moments (`python -m tests.power.writers KIND PATH FIRST`).

Each write `i` is a pure function of `i`, so the test can tell from the file alone which writes
landed. The child prints `done i` after write `i` returned: every write up to the last `done` must
be in the file, and the one in flight when the signal came may be, whole or not at all.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

PEERS = [bytes([n]) * 12 for n in range(3)]
Model = dict[bytes, tuple[bytes | None, bytes | None, bool]]  # peer -> rs1, rs2, verified


def secret(i: int) -> bytes:
    return hashlib.sha256(f"rs1 {i}".encode()).digest()


def zrtp_op(i: int) -> tuple[str, bytes]:
    """Write i to the ZRTP cache: mostly a new rs1 (rs2 rotates, RFC 6189 §4.6.1), sometimes
    the SAS-verified flag, sometimes forgetting the peer."""
    kind = {5: "verify", 11: "forget"}.get(i % 13, "store")
    return kind, PEERS[i % len(PEERS)]


def apply_zrtp(cache: object, i: int) -> None:
    kind, peer = zrtp_op(i)
    if kind == "store":
        cache.store_secret(peer, secret(i), verified=i % 2 == 0)  # type: ignore[attr-defined]
    elif kind == "verify":
        cache.set_verified(peer, True)  # type: ignore[attr-defined]
    else:
        cache.forget(peer)  # type: ignore[attr-defined]


def model_zrtp(model: Model, i: int) -> Model:
    """What the cache holds after write i, given what it held before (a new dict)."""
    kind, peer = zrtp_op(i)
    after = dict(model)
    if kind == "store":
        old = model.get(peer)
        after[peer] = (secret(i), old[0] if old else None, i % 2 == 0)
    elif kind == "verify" and peer in model:
        rs1, rs2, _ = model[peer]
        after[peer] = (rs1, rs2, True)
    elif kind == "forget":
        after.pop(peer, None)
    return after


def content(i: int) -> bytes:
    """Version i of a file written with atomic_write_bytes: a header naming its length and hash,
    then 1 KB to 200 KB of data (a big write keeps the kill inside it more often)."""
    size = 1000 + (i * 7919) % 200_000
    body = hashlib.shake_256(f"body {i}".encode()).digest(size)
    return f"v={i} n={size} sha={hashlib.sha256(body).hexdigest()}\n".encode() + body


def parse_content(data: bytes) -> int:
    """The version of a whole file; ValueError if it is torn or mixed."""
    header, _, body = data.partition(b"\n")
    fields = dict(part.split("=", 1) for part in header.decode().split())
    if len(body) != int(fields["n"]) or hashlib.sha256(body).hexdigest() != fields["sha"]:
        raise ValueError(f"torn file: header {header!r}, body of {len(body)} bytes")
    return int(fields["v"])


def history_call(i: int) -> object:
    """Call i as the phone machine reports it: each one's peer names its number, so the file
    tells which calls it holds; names vary in length so the file size moves."""
    from deskphone.phone.feature_events import RecordCall

    return RecordCall(direction=("incoming", "outgoing", "missed")[i % 3],
                      peer=f"sip:{i}@192.0.2.7", name="Caller " + "x" * (i * 37 % 200),
                      started=float(i), answered=None if i % 3 == 2 else i + 1.0,
                      ended=i + 30.0, security="secure")


def volume_change(i: int) -> tuple[str, str]:
    """Change i of the volumes: earpiece and ringer in turn, a level from 0 to 10."""
    return ("earpiece", "ringer")[i % 2], str(i * 7 % 11)


def main(argv: list[str]) -> int:
    kind, path, first = argv[1], Path(argv[2]), int(argv[3])
    if kind == "zrtp":
        from deskphone.zrtp.cache import ZrtpCache

        cache = ZrtpCache(path)
        print("zid", cache.local_zid().hex(), flush=True)
        write = lambda i: apply_zrtp(cache, i)  # noqa: E731
    elif kind == "atomic":
        from deskphone.storage import atomic_write_bytes

        print("ready", flush=True)
        write = lambda i: atomic_write_bytes(path, content(i), mode=0o640)  # noqa: E731
    elif kind == "history":
        from deskphone.phone_files import HistoryKeeper

        keeper = HistoryKeeper(path, clock=lambda: 0.0, wall=lambda: 1.7e9)
        print("ready", flush=True)
        write = lambda i: keeper.apply(history_call(i))  # type: ignore[arg-type]  # noqa: E731
    elif kind == "volume":
        from deskphone.phone_files import VolumeKeeper

        volumes = VolumeKeeper(path)
        print("ready", flush=True)
        write = lambda i: volumes.change(*volume_change(i))  # noqa: E731
    else:
        print(f"unknown writer {kind!r} (expected zrtp, atomic, history or volume)",
              file=sys.stderr)
        return 2
    i = first
    while True:
        write(i)
        print("done", i, flush=True)
        i += 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
