"""A hostile-network flood at a phone's SIP and media ports from many source addresses (issue 16).

What an attacker on the LAN (a SIP scanner, an INVITE flood, junk at the media port) sends, from
`sources` addresses at once — 127.0.0.x aliases of loopback, each its own socket, or any local
addresses given — so that a per-source rate limit alone cannot hold it (64 sources at 30/s each
are 2,000/s). The mix, per datagram drawn at random (seeded):

- at the SIP port: junk bytes, SIP requests cut short, oversize requests (thousands of header
  lines), OPTIONS, REGISTER, INVITEs with a fresh Call-ID each (and an SDP offer), BYEs and INFOs
  for dialogs that do not exist;
- at the media port: random datagrams, forged RTP (a valid header, random SSRC) and forged SRTP
  (a valid header, an SSRC taken from the real stream if given, a random authentication tag).

Every source socket also listens: what the phone sends back is counted per request (its Call-ID
and CSeq method) and per status, so that a test can check the phone reflects no more than the RFC
requires (one response per non-INVITE request, RFC 3261 §17.2.2; a 100 and a final response
retransmitted until Timer H for an INVITE that is never ACKed, §17.2.1) and nothing at all to
media junk. Run as `python -m deskphone_tools.flood --sip HOST:PORT --media HOST:PORT --rate 500
--seconds 10`; it prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import random
import selectors
import socket
import struct
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

Addr = tuple[str, int]

# The share of each kind in the mix (weights; SIP and media side by side, as in the issue).
SIP_KINDS = {"junk": 2, "truncated": 2, "oversize": 1, "options": 2, "register": 2,
             "invite": 3, "bye": 2, "info": 1}
MEDIA_KINDS = {"media_junk": 3, "forged_rtp": 3, "forged_srtp": 3}
INVITE_RESPONSE_BOUND = 13  # 100 + the final + its retransmissions until Timer H (see below)


def invite_response_bound(t1: float = 0.5, t2: float = 4.0) -> int:
    """Responses RFC 3261 §17.2.1 lets an UA send to one INVITE that is never ACKed over UDP:
    a 100 Trying, the final response, and its retransmissions at Timer G (T1, doubling up to T2)
    until Timer H (64*T1) ends the transaction."""
    sent, at, interval = 2, 0.0, t1
    while at + interval < 64 * t1:
        at += interval
        sent += 1
        interval = min(2 * interval, t2)
    return sent


@dataclass
class FloodStats:
    sent: Counter[str] = field(default_factory=Counter)
    send_errors: int = 0
    responses: Counter[str] = field(default_factory=Counter)  # by "METHOD status"
    responses_to_media: int = 0  # anything back from the media port (none is due)
    per_request: Counter[tuple[str, str]] = field(default_factory=Counter)  # (call-id, method)
    unparsable_responses: int = 0
    elapsed: float = 0.0

    def report(self) -> dict[str, Any]:
        by_method: dict[str, int] = {}
        for (_, method), count in self.per_request.items():
            by_method[method] = max(by_method.get(method, 0), count)
        total_sent = sum(self.sent.values())
        total_back = sum(self.responses.values()) + self.responses_to_media
        return {
            "sent": dict(self.sent), "sent_total": total_sent, "send_errors": self.send_errors,
            "rate_achieved": round(total_sent / self.elapsed, 1) if self.elapsed else 0.0,
            "seconds": round(self.elapsed, 2),
            "responses": dict(self.responses), "responses_total": total_back,
            "responses_to_media": self.responses_to_media,
            "unparsable_responses": self.unparsable_responses,
            "max_responses_per_request": by_method,
            "requests_answered": len(self.per_request),
        }


class Flood:
    def __init__(self, sip: Addr | None, media: Addr | None, *, sources: int = 64,
                 seed: int = 16, srtp_ssrc: int | None = None,
                 source_hosts: list[str] | None = None, skip: tuple[str, ...] = ()) -> None:
        self.sip, self.media = sip, media
        self.rng = random.Random(seed)
        self.srtp_ssrc = srtp_ssrc
        self.stats = FloodStats()
        hosts = source_hosts or [f"127.0.{1 + i // 250}.{1 + i % 250}" for i in range(sources)]
        self.sockets: list[socket.socket] = []
        self._media_socks: set[int] = set()
        self.selector = selectors.DefaultSelector()
        for host in hosts:
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            # IP_FREEBIND (15, <linux/in.h>): bind to an address the host does not (yet) have,
            # for source addresses given on the command line; 127/8 needs none of it.
            sock.setsockopt(socket.IPPROTO_IP, 15, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
            sock.bind((host, 0))
            sock.setblocking(False)
            self.sockets.append(sock)
            self.selector.register(sock, selectors.EVENT_READ)
        kinds: dict[str, int] = {}
        if sip is not None:
            kinds.update(SIP_KINDS)
        if media is not None:
            kinds.update(MEDIA_KINDS)
        unknown = set(skip) - set(SIP_KINDS) - set(MEDIA_KINDS)
        if unknown:
            raise ValueError(f"no such kind to skip: {sorted(unknown)}")
        kinds = {kind: weight for kind, weight in kinds.items() if kind not in skip}
        if not kinds:
            raise ValueError("a flood needs a SIP or a media target (got neither)")
        self._kinds = list(kinds)
        self._weights = list(kinds.values())
        self._seq = 0

    def close(self) -> None:
        self.selector.close()
        for sock in self.sockets:
            sock.close()

    # -- what is sent ----------------------------------------------------------------------------
    def _request(self, method: str, sock: socket.socket, *, to_tag: bool = False,
                 body: bytes = b"", extra: str = "") -> bytes:
        assert self.sip is not None
        self._seq += 1
        host, port = sock.getsockname()
        call_id = f"flood{self._seq}-{self.rng.getrandbits(32):08x}"
        target = f"sip:ext{self.rng.randrange(100, 999)}@{self.sip[0]}:{self.sip[1]}"
        tag = f";tag=t{self.rng.getrandbits(24):x}" if to_tag else ""
        head = (f"{method} {target} SIP/2.0\r\n"
                f"Via: SIP/2.0/UDP {host}:{port};branch=z9hG4bK{self.rng.getrandbits(48):x}"
                f";rport\r\n"
                f"Max-Forwards: 70\r\nFrom: <sip:scan@{host}>;tag=f{self.seq_tag()}\r\n"
                f"To: <{target}>{tag}\r\nCall-ID: {call_id}\r\nCSeq: 1 {method}\r\n"
                f"Contact: <sip:scan@{host}:{port}>\r\n{extra}"
                f"Content-Length: {len(body)}\r\n")
        if body:
            head += "Content-Type: application/sdp\r\n"
        return head.encode() + b"\r\n" + body

    def seq_tag(self) -> str:
        return f"{self._seq:x}"

    def _sdp(self, host: str) -> bytes:
        return (f"v=0\r\no=- {self._seq} 1 IN IP4 {host}\r\ns=-\r\nc=IN IP4 {host}\r\nt=0 0\r\n"
                f"m=audio {self.rng.randrange(20000, 30000, 2)} RTP/AVP 0 8 101\r\n"
                f"a=rtpmap:101 telephone-event/8000\r\n").encode()

    def datagram(self, kind: str, sock: socket.socket) -> bytes:
        rng = self.rng
        host = sock.getsockname()[0]
        if kind == "junk":
            return rng.randbytes(rng.randrange(1, 1400))
        if kind == "truncated":
            whole = self._request("INVITE", sock, body=self._sdp(host))
            return whole[:rng.randrange(1, len(whole))]
        if kind == "oversize":
            filler = "".join(f"X-Flood-{i}: {'a' * 8}\r\n" for i in range(rng.randrange(500, 3000)))
            return self._request("OPTIONS", sock, extra=filler)
        if kind == "options":
            return self._request("OPTIONS", sock)
        if kind == "register":
            return self._request("REGISTER", sock, extra="Expires: 3600\r\n")
        if kind == "invite":
            return self._request("INVITE", sock, body=self._sdp(host))
        if kind == "bye":
            return self._request("BYE", sock, to_tag=True)
        if kind == "info":
            return self._request("INFO", sock, to_tag=True)
        if kind == "media_junk":
            return rng.randbytes(rng.randrange(1, 1200))
        # RTP (RFC 3550 §5.1): V=2, PT 0, random sequence/timestamp; SRTP adds a 10-byte tag.
        ssrc = (self.srtp_ssrc if kind == "forged_srtp" and self.srtp_ssrc is not None
                else rng.getrandbits(32))
        header = struct.pack("!BBHII", 0x80, 0, rng.getrandbits(16), rng.getrandbits(32), ssrc)
        tag = rng.randbytes(10) if kind == "forged_srtp" else b""
        return header + rng.randbytes(160) + tag

    # -- the run ---------------------------------------------------------------------------------
    def run(self, rate: float, seconds: float) -> FloodStats:
        """Send `rate` datagrams/s spread evenly over the sources for `seconds`, reading what
        comes back as it goes (and for one T1 after, for responses already on their way)."""
        started = time.monotonic()
        end = started + seconds
        interval = 1.0 / rate
        due = started
        n = 0
        while (now := time.monotonic()) < end:
            while due <= now and due < end:
                sock = self.sockets[n % len(self.sockets)]
                kind = self.rng.choices(self._kinds, self._weights)[0]
                target = self.media if kind in MEDIA_KINDS else self.sip
                assert target is not None
                try:
                    sock.sendto(self.datagram(kind, sock), target)
                    self.stats.sent[kind] += 1
                except OSError:
                    self.stats.send_errors += 1
                n += 1
                due += interval
            self._receive(max(0.0, min(due, end) - time.monotonic()))
        self.stats.elapsed = time.monotonic() - started
        linger = time.monotonic() + 0.5
        while (left := linger - time.monotonic()) > 0:
            self._receive(left)
        return self.stats

    def _receive(self, timeout: float) -> None:
        for key, _ in self.selector.select(timeout):
            sock = key.fileobj
            assert isinstance(sock, socket.socket)
            while True:
                try:
                    data, addr = sock.recvfrom(65535)
                except BlockingIOError:
                    break
                except OSError:
                    break  # ICMP unreachable reported on the socket
                self._count(data, addr)

    def _count(self, data: bytes, addr: Addr) -> None:
        if self.media is not None and addr[1] in (self.media[1], self.media[1] + 1):
            self.stats.responses_to_media += 1
            return
        head = data.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace").split("\r\n")
        parts = head[0].split(" ", 2)
        if len(parts) < 2 or parts[0] != "SIP/2.0":
            self.stats.unparsable_responses += 1
            return
        call_id = method = ""
        for line in head[1:]:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            if name in ("call-id", "i"):
                call_id = value.strip()
            elif name == "cseq":
                method = value.split()[-1] if value.split() else ""
        self.stats.responses[f"{method} {parts[1]}"] += 1
        self.stats.per_request[(call_id, method)] += 1


def _addr(text: str) -> Addr:
    host, _, port = text.rpartition(":")
    return host, int(port)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="deskphone_tools.flood", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sip", type=_addr, help="HOST:PORT of the phone's SIP listener")
    parser.add_argument("--media", type=_addr, help="HOST:PORT of the phone's RTP port")
    parser.add_argument("--rate", type=float, default=500.0, help="datagrams/s, all sources")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--sources", type=int, default=64)
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--srtp-ssrc", type=int, default=None,
                        help="SSRC of the real stream, for SRTP forgeries the phone must check")
    parser.add_argument("--skip", action="append", default=[], metavar="KIND",
                        help="leave this kind out of the mix (e.g. invite: strangers' INVITEs "
                             "would make an idle phone ring for them)")
    args = parser.parse_args(argv)
    flood = Flood(args.sip, args.media, sources=args.sources, seed=args.seed,
                  srtp_ssrc=args.srtp_ssrc, skip=tuple(args.skip))
    try:
        stats = flood.run(args.rate, args.seconds)
    finally:
        flood.close()
    json.dump(stats.report(), sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
