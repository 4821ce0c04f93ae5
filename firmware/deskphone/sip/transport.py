"""The one asyncio layer of the SIP stack: UDP, TCP and TLS around a sans-IO `UserAgent`.

`SipEndpoint` owns the sockets and one loop timer. It feeds the core whole messages with the
loop's monotonic clock as `now`, sends what the core queues, re-arms the timer from
`get_timer()`, and publishes the core's events on an asyncio queue. Streams (TCP, TLS) are cut
into messages by Content-Length (RFC 3261 §18.3); a framing error closes the connection.
TLS verifies the peer against the system CAs or a configured CA file (RFC 5630 §3.1.3).
Abusive sources are rate limited per IP with a token bucket and counted.

UDP datagrams are not handled in the socket's callback but queued and handled in slices of at most
SLICE_SECONDS, each slice yielding to the loop: under a flood from many sources (each under its
rate limit) the media tick, the keypad and the control socket wait for one slice at most, never
for a whole burst the kernel had buffered. The queue is bounded (MAX_QUEUED): past it datagrams
are dropped and counted, as the kernel would drop them from a full socket buffer.
(MAX_QUEUED datagrams or MAX_QUEUED_BYTES, whichever comes first.)

Datagrams from sources the core knows (`ServerAdmission.is_known`: the registrars, LAN directory
peers, dialog peers) wait in a queue of their own (MAX_QUEUED_KNOWN) that each slice serves
first: strangers filling their queue cannot push a registrar's INVITE or a peer's BYE out, nor
make it wait behind a second of flood. A forged source address defeats this as it defeats the
core's reserve (admission.py); it then shares the known queue, bounded all the same.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import ssl
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from deskphone.sip import events as ev
from deskphone.sip.message import SipParseError, StreamFramer
from deskphone.sip.useragent import UserAgent

log = logging.getLogger(__name__)
Addr = tuple[str, int]
MAX_DATAGRAM = 65535
CORE_ERROR_BACKOFF = 1.0  # seconds before the timer runs again after the core raised
SLICE_SECONDS = 0.004  # SIP work per loop turn at most: a fifth of a 20 ms audio frame
MAX_QUEUED = 1024  # UDP datagrams waiting for a slice (~1 s of a 1,000/s flood)
MAX_QUEUED_BYTES = 2 << 20  # and their size: 1,024 datagrams of 64 KB would be 64 MiB
MAX_QUEUED_KNOWN = 256  # from known sources, in their own queue (a byte budget of its own)


@dataclass(frozen=True)
class TransportConfig:
    """Rate limit: 50 messages/s sustained with bursts of 200 per source IP (a phone sees a
    handful per call; Kamailio's pike module defaults to 30 requests per 2 s)."""

    rate_per_second: float = 50.0
    burst: float = 200.0
    ca_file: str | None = None  # None: the system CA store
    cert_file: str | None = None  # our certificate for a TLS listener
    key_file: str | None = None
    verify_peer: bool = True
    connect_timeout: float = 5.0


@dataclass
class TransportStats:
    datagrams_in: int = 0
    datagrams_out: int = 0
    oversize_dropped: int = 0
    rate_limited: int = 0
    framing_errors: int = 0
    send_failures: int = 0
    unresolved: int = 0  # host names that did not resolve (each try counted)
    core_errors: int = 0  # exceptions out of the UA core (a bug): logged, counted, survived
    queue_dropped: int = 0  # UDP datagrams dropped: MAX_QUEUED already waiting (overload)
    queue_peak: int = 0  # the most datagrams that waited at once
    known_queued: int = 0  # datagrams from known sources that took their own queue


@dataclass
class _Bucket:
    tokens: float
    stamp: float


@dataclass
class _Stream:
    writer: asyncio.StreamWriter
    framer: StreamFramer = field(default_factory=StreamFramer)


class SipEndpoint:
    def __init__(self, ua: UserAgent, config: TransportConfig | None = None, *,
                 bind_host: str | None = None):
        self.ua = ua
        self.config = config or TransportConfig()
        # Where the socket binds; None: the host Via and Contact name. A wildcard (0.0.0.0)
        # binds every address while Via/Contact name one of them (`advertise`).
        self.bind_host = bind_host
        self.kind = ua.config.transport.lower()
        if self.kind not in ("udp", "tcp", "tls"):
            raise ValueError(f"transport {ua.config.transport!r} is not one of udp, tcp, tls")
        self.stats = TransportStats()
        self.events: asyncio.Queue[ev.Event] = asyncio.Queue()
        self._loop = asyncio.get_running_loop()
        self._udp: asyncio.DatagramTransport | None = None
        self._server: asyncio.AbstractServer | None = None
        self._streams: dict[Addr, _Stream] = {}
        self._connecting: dict[Addr, asyncio.Task[None]] = {}
        self._pending: dict[Addr, list[bytes]] = {}
        self._buckets: dict[str, _Bucket] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._resolved: dict[str, str] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._queue: deque[tuple[bytes, Addr]] = deque()
        self._known_queue: deque[tuple[bytes, Addr]] = deque()
        self._queued_bytes = [0, 0]  # waiting in the strangers' queue, in the known queue
        self._slice_scheduled = False

    # -- lifecycle -----------------------------------------------------------------------------
    async def start(self) -> None:
        host, port = self.bind_host or self.ua.config.local_host, self.ua.config.local_port
        if self.kind == "udp":
            self._udp, _ = await self._loop.create_datagram_endpoint(
                lambda: _Datagrams(self), local_addr=(host, port)
            )
        elif self.kind == "tcp" or self.config.cert_file:
            server_ssl = self._server_ssl() if self.kind == "tls" else None
            self._server = await asyncio.start_server(self._accept, host, port, ssl=server_ssl)
        # TLS without a certificate is client-only: requests come back on our own connections.

    async def rebind(self, host: str) -> None:
        """Listen on `host` from now on, on the same port: the address we were bound to has gone
        (the interface was renumbered), and a socket bound to it can neither send nor receive.
        Streams to peers are dropped (their local address is gone too); the core re-sends."""
        port = self.local_address[1]
        self.ua.config = replace(self.ua.config, local_host=host, local_port=port)
        self.bind_host = None
        old_udp, old_server = self._udp, self._server
        self._udp = self._server = None
        for stream in self._streams.values():
            stream.writer.close()
        self._streams.clear()
        if old_udp is not None:
            old_udp.close()
        if old_server is not None:
            old_server.close()
        await self.start()

    def advertise(self, host: str) -> None:
        """Put `host` in Via sent-by and Contact from now on, the socket staying where it is:
        bound to a wildcard, it receives on the new address already (calls/network.py).
        Streams to peers are dropped: their local address may be the one that went."""
        self.ua.config = replace(self.ua.config, local_host=host)
        for stream in self._streams.values():
            stream.writer.close()
        self._streams.clear()

    async def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        for task in list(self._connecting.values()) + list(self._tasks):
            task.cancel()
        for stream in self._streams.values():
            stream.writer.close()
        if self._udp is not None:
            self._udp.close()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def now(self) -> float:
        return self._loop.time()

    @property
    def local_address(self) -> Addr:
        """Where we listen, as bound (a configured port 0 becomes the kernel's choice)."""
        if self._udp is not None:
            sockname = self._udp.get_extra_info("sockname")
        elif self._server is not None and getattr(self._server, "sockets", None):
            sockname = self._server.sockets[0].getsockname()  # type: ignore[attr-defined]
        else:
            return (self.ua.config.local_host, self.ua.config.local_port)
        return (sockname[0], sockname[1])

    def resolved(self, host: str) -> str:
        """The address `host` was last resolved to for sending (`host` itself until then)."""
        return self._resolved.get(host, host)

    def command(self, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run a UA command (e.g. `ep.command(ua.invite, target, sdp)`) with `now` and flush."""
        result = method(*args, now=self.now(), **kwargs)
        self._flush()
        return result

    # -- input ---------------------------------------------------------------------------------
    def _allow(self, ip: str) -> bool:
        now = self.now()
        bucket = self._buckets.get(ip)
        if bucket is None:
            if len(self._buckets) > 10000:
                self._buckets.clear()  # bounded memory under a spoofed-source flood
            bucket = self._buckets[ip] = _Bucket(self.config.burst, now)
        bucket.tokens = min(
            self.config.burst, bucket.tokens + (now - bucket.stamp) * self.config.rate_per_second
        )
        bucket.stamp = now
        if bucket.tokens < 1:
            self.stats.rate_limited += 1
            return False
        bucket.tokens -= 1
        return True

    def _admit(self, data: bytes, addr: Addr) -> bool:
        self.stats.datagrams_in += 1
        if len(data) > MAX_DATAGRAM:
            self.stats.oversize_dropped += 1
            return False
        return self._allow(addr[0])

    def deliver(self, data: bytes, addr: Addr) -> None:
        """Handle one message now (a stream's, or a test's)."""
        if self._admit(data, addr):
            self._receive(data, addr)
            self._flush()

    def enqueue(self, data: bytes, addr: Addr) -> None:
        """A UDP datagram: queue it for the next slice (module docstring)."""
        if not self._admit(data, addr):
            return
        known = self.ua.admission.is_known(addr[0], self.now())
        queue, most = (self._known_queue, MAX_QUEUED_KNOWN) if known else (self._queue, MAX_QUEUED)
        if len(queue) >= most or self._queued_bytes[known] + len(data) > MAX_QUEUED_BYTES:
            self.stats.queue_dropped += 1
            return
        queue.append((data, addr))
        self._queued_bytes[known] += len(data)
        self.stats.known_queued += known
        waiting = len(self._queue) + len(self._known_queue)
        self.stats.queue_peak = max(self.stats.queue_peak, waiting)
        if not self._slice_scheduled:
            self._slice_scheduled = True
            self._loop.call_soon(self._slice)

    def _slice(self) -> None:
        """Handle queued datagrams for SLICE_SECONDS at most, known sources' first, send what
        they produced, and come back on the next loop turn if more wait (after the loop served
        its other fds)."""
        deadline = self._loop.time() + SLICE_SECONDS
        try:
            while self._known_queue or self._queue:
                known = bool(self._known_queue)
                data, addr = (self._known_queue if known else self._queue).popleft()
                self._queued_bytes[known] -= len(data)
                self._receive(data, addr)
                if self._loop.time() >= deadline:
                    break
            self._flush()
        finally:  # a send that raised must not leave the queue unserved for good
            if self._known_queue or self._queue:
                self._loop.call_soon(self._slice)
            else:
                self._slice_scheduled = False

    def _receive(self, data: bytes, addr: Addr) -> None:
        try:
            self.ua.receive_datagram(data, (addr[0], addr[1]), self.now())
        except Exception:  # the core documents that it never raises; if it does, live on
            self.stats.core_errors += 1
            log.exception("SIP core failed on a %d-byte message", len(data))

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        addr = (peer[0], peer[1])
        self._streams[addr] = _Stream(writer)
        await self._read_stream(addr, reader)

    async def _read_stream(self, addr: Addr, reader: asyncio.StreamReader) -> None:
        stream = self._streams.get(addr)
        try:
            while stream is not None:
                chunk = await reader.read(16384)
                if not chunk:
                    break
                try:
                    messages = stream.framer.feed(chunk)
                except SipParseError as error:
                    self.stats.framing_errors += 1
                    log.info("closing %s:%d: %s", addr[0], addr[1], error.reason)
                    break
                for message in messages:
                    self.deliver(message, addr)
        except (ConnectionError, ssl.SSLError, asyncio.IncompleteReadError) as error:
            log.info("stream %s:%d failed: %s", addr[0], addr[1], error)
        finally:
            dropped = self._streams.pop(addr, None)
            if dropped is not None:
                dropped.writer.close()

    # -- output --------------------------------------------------------------------------------
    def _flush(self, not_before: float | None = None) -> None:
        now = self.now()
        for data, addr in self.ua.datagrams_to_send(now):
            self._send(data, addr)
        while (event := self.ua.next_event()) is not None:
            self.events.put_nowait(event)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        deadline = self.ua.get_timer()
        if deadline is not None:
            earliest = now if not_before is None else not_before
            self._timer = self._loop.call_at(max(deadline, earliest), self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        try:
            self.ua.handle_timer(self.now())
        except Exception:  # one failure must not stop the SIP timer for good: re-arm below
            self.stats.core_errors += 1
            log.exception("SIP core failed in handle_timer")
            # The deadline that failed may still be due: wait a second rather than spin on it.
            self._flush(not_before=self.now() + CORE_ERROR_BACKOFF)
            return
        self._flush()

    def _send(self, data: bytes, addr: Addr) -> None:
        host = self._resolved.get(addr[0], addr[0])
        if not _is_ip(host):
            task = asyncio.ensure_future(self._resolve_then_send(data, addr))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            return
        target = (host, addr[1])
        self.stats.datagrams_out += 1
        if self.kind == "udp":
            assert self._udp is not None
            self._udp.sendto(data, target)
            return
        stream = self._streams.get(target)
        if stream is not None:
            stream.writer.write(data)
            return
        self._pending.setdefault(target, []).append(data)
        if target not in self._connecting:
            self._connecting[target] = asyncio.ensure_future(self._connect(target))

    async def _resolve_then_send(self, data: bytes, addr: Addr) -> None:
        try:
            infos = await self._loop.getaddrinfo(addr[0], addr[1], type=2)  # SOCK_DGRAM
            self._resolved[addr[0]] = str(infos[0][4][0])
        except OSError as error:
            self.stats.send_failures += 1
            self.stats.unresolved += 1
            log.info("cannot resolve %s: %s", addr[0], error)
            self.ua.transport_error(addr, self.now(), unresolved=True)
            self._flush()
            return
        self._send(data, addr)

    async def _connect(self, addr: Addr) -> None:
        client_ssl = self._client_ssl() if self.kind == "tls" else None
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(
                    addr[0],
                    addr[1],
                    ssl=client_ssl,
                    server_hostname=addr[0] if client_ssl else None,
                ),
                self.config.connect_timeout,
            )
        except (OSError, ssl.SSLError, TimeoutError) as error:
            log.info("cannot connect to %s:%d: %s", addr[0], addr[1], error)
            self._connecting.pop(addr, None)
            self._pending.pop(addr, None)
            self.stats.send_failures += 1
            self.ua.transport_error(addr, self.now())
            self._flush()
            return
        self._connecting.pop(addr, None)
        self._streams[addr] = _Stream(writer)
        for data in self._pending.pop(addr, []):
            writer.write(data)
        task = asyncio.ensure_future(self._read_stream(addr, reader))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- TLS contexts --------------------------------------------------------------------------
    def _client_ssl(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=self.config.ca_file)
        if not self.config.verify_peer:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def _server_ssl(self) -> ssl.SSLContext:
        if not self.config.cert_file:
            raise ValueError("a TLS listener needs TransportConfig.cert_file (and key_file)")
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.config.cert_file, self.config.key_file)
        return context


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, endpoint: SipEndpoint):
        self.endpoint = endpoint

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.endpoint.enqueue(data, (addr[0], addr[1]))

    def error_received(self, exc: Exception) -> None:
        log.info("UDP error: %s", exc)  # ICMP unreachable: the transaction timers decide


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
