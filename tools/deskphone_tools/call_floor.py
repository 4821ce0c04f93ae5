"""The floor of a call's CPU for any Python firmware on this machine (issue 19, bench call_cpu).

One process per phone, Python + uvloop, doing per 20 ms only what a two-way call cannot avoid:
one timer wake-up, receive one datagram, send one datagram, read one audio frame from a file and
write one to a file (the deskphone's FileAudio does the same: buffered reads, an unbuffered write
per frame). No codec, no SRTP, no RTCP, no jitter buffer, no signalling. Two of these send to each
other; their CPU % over the same window as the phones' is what no Python phone can go below: the
interpreter's and the loop's cost per wake-up plus the system calls themselves.

Two timer variants, chosen by --timer: "call_at" (the loop's own timer: epoll_wait's timeout, no
extra system call) and "timerfd" (what media/ticker.py uses: a kernel periodic timer read by the
loop, one read(2) more per frame but no drift). The bench reports the cheaper.

    python -m deskphone_tools.call_floor --port P --peer-port Q --capture F --playback G
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import os
import socket
import sys
import time

FRAME = 0.020
FRAME_BYTES = 320  # 20 ms of 16-bit 8 kHz audio, as the phone's device hands it
PACKET = bytes(172)  # an RTP header and 160 octets of G.711


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class _Itimerspec(ctypes.Structure):
    _fields_ = [("it_interval", _Timespec), ("it_value", _Timespec)]


def _timerfd(period: float) -> int:
    libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
    fd = int(libc.timerfd_create(1, os.O_NONBLOCK | os.O_CLOEXEC))  # CLOCK_MONOTONIC
    nanos = int(period * 1e9)
    spec = _Itimerspec(_Timespec(0, nanos), _Timespec(0, nanos))
    if fd < 0 or libc.timerfd_settime(fd, 0, ctypes.byref(spec), None) != 0:
        raise OSError(ctypes.get_errno(), "timerfd")
    return fd


def run(port: int, peer_port: int, capture: str, playback: str, timer: str) -> None:
    import uvloop

    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", port))
    sock.setblocking(False)
    peer = ("127.0.0.1", peer_port)
    source = open(capture, "rb")  # noqa: SIM115 - the process's lifetime
    sink = open(playback, "wb", buffering=0)  # noqa: SIM115
    silence = bytes(FRAME_BYTES)

    def frame() -> None:
        try:
            sock.recv(2048)
        except BlockingIOError:
            pass
        sock.sendto(PACKET, peer)
        sink.write(source.read(FRAME_BYTES) or silence)

    loop = uvloop.new_event_loop()
    if timer == "timerfd":
        fd = _timerfd(FRAME)

        def expired() -> None:
            try:
                os.read(fd, 8)
            except BlockingIOError:
                return
            frame()

        loop.add_reader(fd, expired)
    else:
        next_at = [time.monotonic() + FRAME]

        def tick() -> None:
            frame()
            next_at[0] += FRAME
            loop.call_at(loop.time() + (next_at[0] - time.monotonic()), tick)

        loop.call_at(loop.time() + FRAME, tick)
    loop.run_forever()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--peer-port", type=int, required=True)
    parser.add_argument("--capture", required=True)
    parser.add_argument("--playback", required=True)
    parser.add_argument("--timer", choices=("call_at", "timerfd"), default="call_at")
    args = parser.parse_args(argv)
    run(args.port, args.peer_port, args.capture, args.playback, args.timer)
    return 0


if __name__ == "__main__":
    sys.exit(main())
