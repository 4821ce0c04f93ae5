"""Issue 16 item 1 (SIP transport): a UDP burst is handled in slices that yield to the loop.

The kernel may hand the loop hundreds of buffered datagrams at once under a flood. The endpoint
queues them and handles them in slices, so whatever else is ready (the media tick, the control
socket) runs between slices rather than after the whole burst; the queue is bounded in datagrams
and bytes, and what does not fit is dropped and counted.
"""

from __future__ import annotations

import asyncio

from deskphone.sip import transport
from deskphone.sip.transport import SipEndpoint
from deskphone.sip.useragent import UaConfig, UserAgent


def _options(i: int) -> bytes:
    return (f"OPTIONS sip:u@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.9.{i // 250}.{i % 250}:9;"
            f"branch=z9hG4bK{i}\r\nFrom: <sip:a@x>;tag={i}\r\nTo: <sip:u@127.0.0.1>\r\n"
            f"Call-ID: s{i}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n").encode()


async def _burst(count: int, size_pad: int = 0) -> tuple[SipEndpoint, list[int]]:
    ua = UserAgent(UaConfig(user="u", display_name="", local_host="127.0.0.1", local_port=0))
    endpoint = SipEndpoint(ua)
    await endpoint.start()  # answers go out from a real socket (to a discard port on loopback)
    handled_when_other_work_ran: list[int] = []
    # A burst from many sources, all in one loop turn, as a busy socket delivers it.
    for i in range(count):
        data = _options(i) + b"x" * size_pad
        endpoint.enqueue(data, (f"127.9.{i // 250}.{i % 250}", 9))
    loop = asyncio.get_running_loop()

    def other_work() -> None:  # stands for the media tick: ready once per loop turn
        handled_when_other_work_ran.append(endpoint.stats.datagrams_in
                                           - endpoint.stats.queue_dropped
                                           - len(endpoint._queue))
        if endpoint._queue:
            loop.call_soon(other_work)

    loop.call_soon(other_work)
    for _ in range(100_000):  # loop turns, bounded: a stuck queue fails the test, never hangs it
        if not endpoint._queue:
            break
        await asyncio.sleep(0)
    await endpoint.close()
    return endpoint, handled_when_other_work_ran


def test_a_burst_is_handled_in_slices_with_other_work_in_between() -> None:
    endpoint, seen = asyncio.run(_burst(transport.MAX_QUEUED))
    assert endpoint.stats.queue_dropped == 0 and endpoint.stats.queue_peak == transport.MAX_QUEUED
    assert endpoint.ua.stats.stateless_answered > 0  # they were all handled in the end
    # The other callback ran while the burst was still being worked through, several times.
    assert len(seen) > 2 and seen[0] < transport.MAX_QUEUED


def test_the_queue_is_bounded_in_datagrams_and_bytes() -> None:
    endpoint, _ = asyncio.run(_burst(transport.MAX_QUEUED + 100))
    assert endpoint.stats.queue_dropped == 100
    big = 60_000
    endpoint, _ = asyncio.run(_burst(100, size_pad=big))
    fits = transport.MAX_QUEUED_BYTES // (big + len(_options(0)))
    assert endpoint.stats.queue_peak <= fits and endpoint.stats.queue_dropped == 100 - fits


async def _burst_then_known() -> tuple[SipEndpoint, bool, int]:
    ua = UserAgent(UaConfig(user="u", display_name="", local_host="127.0.0.1", local_port=0))
    ua.admission.set_known("registrars", ["127.8.0.1"])  # as the call layer tells it
    endpoint = SipEndpoint(ua)
    await endpoint.start()
    for i in range(transport.MAX_QUEUED + 50):  # strangers fill their queue and overflow it
        endpoint.enqueue(_options(i), (f"127.9.{i // 250}.{i % 250}", 9))
    endpoint.enqueue(_options(99_999), ("127.8.0.1", 5060))  # then the registrar
    await asyncio.sleep(0)  # one loop turn: one slice
    known_handled = any(key[0] == "z9hG4bK99999" for key in ua.transactions)
    strangers_left = len(endpoint._queue)
    await endpoint.close()
    return endpoint, known_handled, strangers_left


def test_a_known_source_s_datagram_is_neither_dropped_nor_kept_behind_strangers() -> None:
    endpoint, known_handled, strangers_left = asyncio.run(_burst_then_known())
    assert endpoint.stats.queue_dropped == 50  # strangers' overflow only
    assert endpoint.stats.known_queued == 1
    # The first slice served it, while most of the strangers' burst still waited.
    assert known_handled and strangers_left > 0
