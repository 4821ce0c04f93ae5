"""Hostile STUN at a running phone's ICE socket (issue 14, "Bad input"), on loopback.

Two phones are in an ICE call (the caller has a STUN server, the callee answers with host
candidates). Forty forged sources (127.0.0.2-41) then flood the callee's nominated socket:
Binding requests without USERNAME/MESSAGE-INTEGRITY, with a made-up USERNAME, a wrong
MESSAGE-INTEGRITY and ICE-CONTROLLING (a role conflict only an authenticated peer may raise,
RFC 8445 §7.3.1.1), with 150 unknown attributes, and truncated ones. The phone must count them
in `state`, answer at most a rate-limited trickle of errors none larger than the request that
caused it (never a reflector or an amplifier), send no media to any of those sources, keep its
pair and keep the call secure with audio still coming in.
"""

from __future__ import annotations

import os
import socket
import struct
from pathlib import Path

import pytest

from deskphone_tools.harness import PhonePair
from tests.e2e.test_lan_call import call_and_answer
from tests.nat.test_ice_loopback import StunResponder, stun  # noqa: F401 — the fixture

pytestmark = [pytest.mark.timeout(90)]

COOKIE = 0x2112A442
SOURCES = [f"127.0.0.{n}" for n in range(2, 42)]


def _attribute(kind: int, value: bytes) -> bytes:
    padding = b"\0" * (-len(value) % 4)
    return struct.pack("!HH", kind, len(value)) + value + padding


def _binding(*attributes: bytes) -> bytes:
    body = b"".join(attributes)
    return struct.pack("!HHI", 0x0001, len(body), COOKIE) + os.urandom(12) + body


def _hostile_requests() -> list[bytes]:
    forged_integrity = _attribute(0x0008, os.urandom(20))
    return [
        _binding(),  # no USERNAME, no MESSAGE-INTEGRITY
        _binding(_attribute(0x0006, b"nobody:knows"),  # wrong ufrag, wrong integrity,
                 _attribute(0x802A, os.urandom(8)),  # ICE-CONTROLLING: a role conflict
                 _attribute(0x0024, struct.pack("!I", 0x6E7FFFFF)),  # PRIORITY
                 _attribute(0x0025, b""),  # USE-CANDIDATE: "nominate me"
                 forged_integrity),
        _binding(*[_attribute(0x8000 + n, b"\xff" * 4) for n in range(150)]),  # 1220 bytes
        _binding(_attribute(0x0006, b"x" * 40))[:30],  # truncated inside an attribute
    ]


def test_a_stun_flood_from_forged_sources_is_counted_never_reflected(
        tmp_path: Path, stun: StunResponder) -> None:  # noqa: F811
    nat = f'[nat]\nstun = "127.0.0.1:{stun.port}"\n'
    with PhonePair(tmp_path / "phones", extra_a=nat) as phones:
        a, b = phones.a, phones.b
        a.wait(lan_peers=f"~{b.extension}")
        call_and_answer(a, b)
        sb = b.wait(**{"media.packets_received": ">20"})
        assert sb["ice"]["state"] == "connected", sb
        host, port = sb["ice"]["local"].rsplit(":", 1)
        target = (host, int(port))
        pair_before = sb["ice"]["pair"]
        sockets = []
        try:
            for source in SOURCES:
                sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                sock.bind((source, 0))
                sock.setblocking(False)
                sockets.append(sock)
            sent = 0
            largest = 0
            for _round in range(5):
                for sock in sockets:
                    for request in _hostile_requests():
                        sock.sendto(request, target)
                        sent += 1
                        largest = max(largest, len(request))
            more = sb["media"]["packets_received"] + 50
            received = b.wait(**{"media.packets_received": f">{more}"})
            # every datagram a forged source got back, after the phone has moved on
            answers: list[bytes] = []
            for sock in sockets:
                while True:
                    try:
                        answers.append(sock.recv(4096))
                    except BlockingIOError:
                        break
        finally:
            for sock in sockets:
                sock.close()
        stats = received["ice"]["stats"]
        context = f"{stats}\n{b.log_tail()}"
        assert received["call"] == "in_call" and received["media"]["secure"], context
        assert received["ice"]["pair"] == pair_before, context  # nobody stole the pair
        assert stats["stun_bad_requests"] + stats["stun_unauthenticated"] > 0, context
        assert stats["stun_answers_suppressed"] > 0, context  # the error answers are capped
        assert len(answers) < sent // 4, (len(answers), sent, context)
        # nothing but STUN (first byte 0-3, RFC 7983) went to them: no RTP, no ZRTP
        assert all(answer[0] <= 3 for answer in answers), [a[:4] for a in answers]
        assert all(len(answer) <= largest for answer in answers), context  # no amplification
        a.ctl("hook", "on")
        b.wait(call="ended")
