"""Handing a nominated host/srflx pair's UDP socket from aioice to the media stream.

Why. aioice reads its sockets itself (one event-loop wake-up per datagram) and the media stream,
once secure, reads its socket at the 20 ms tick instead (transport.py, "drained" mode): one wake-up
per frame. To keep that on an ICE pair the stream must read the pair's socket. After nomination
(RFC 8445 §8.1.1) the pair no longer changes, so the stream takes the socket over:

* the socket is duplicated (`os.dup`: the same kernel socket, its own descriptor), wrapped for the
  stream and read by it from now on;
* aioice's own transport of that socket is closed (its reader goes with it; the duplicate keeps
  the kernel socket open), and the pair's aioice protocol writes through `AdoptedTransport` on
  the duplicate instead, so aioice still sends its consent checks (RFC 7675) and answers the
  peer's checks;
* STUN that the stream reads on the socket (RFC 7983 range 0-3) goes back to that aioice protocol
  (`datagram_received`), which matches responses to its transactions and answers requests after
  the agent's authentication checks (agent.py).

Only public attributes of aioice are used: `StunProtocol.transport` (an annotated attribute
assigned in `connection_made`) and `StunProtocol.datagram_received`. A relay pair is never taken
over: its socket carries TURN framing (RFC 8656 §12) that aioice's TURN client unwraps.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)


class AdoptedTransport(asyncio.DatagramTransport):
    """The transport aioice's protocol sees once the stream owns the socket: it writes to the
    stream's duplicate and never closes it (the stream does, when the call ends)."""

    def __init__(self, sock: socket.socket) -> None:
        super().__init__()
        self._sock = sock
        self._sockname = sock.getsockname()
        self.send_errors = 0

    def sendto(self, data: Any, addr: Any = None) -> None:
        if self._sock.fileno() < 0:
            return
        try:
            self._sock.sendto(data, addr)
        except OSError as exc:  # a full buffer or an ICMP error: STUN retransmits
            self.send_errors += 1
            log.debug("ICE STUN send to %s failed: %s", addr, exc)

    def close(self) -> None:  # the media stream closes the socket
        pass

    def is_closing(self) -> bool:
        return self._sock.fileno() < 0

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"socket": self._sock, "sockname": self._sockname}.get(name, default)


def take_over(protocol: Any) -> tuple[socket.socket, Callable[[bytes, tuple[str, int]], None]]:
    """The pair protocol's socket for the stream, and where the stream sends the STUN it reads.

    `protocol` is the nominated pair's aioice `StunProtocol`, whose transport is a plain UDP
    datagram transport (asyncio's or uvloop's)."""
    transport = protocol.transport
    raw = transport.get_extra_info("socket")
    if raw is None:
        raise OSError("the ICE pair's transport exposes no socket to take over")
    duplicate = socket.socket(fileno=os.dup(raw.fileno()))
    duplicate.setblocking(False)
    protocol.transport = AdoptedTransport(duplicate)
    transport.close()  # aioice stops reading; the kernel socket lives on in the duplicate

    def stun_received(data: bytes, addr: tuple[str, int]) -> None:
        protocol.datagram_received(data, addr)

    return duplicate, stun_received
