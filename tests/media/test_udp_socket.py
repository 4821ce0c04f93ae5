"""The media socket: bursts read until EAGAIN in order, each datagram with the kernel's arrival
stamp (SO_TIMESTAMPNS), oversized datagrams and send failures counted, never raised; stamps mapped
onto the stream's clock."""

from __future__ import annotations

import select
import socket
import time

import pytest

from deskphone.media.udp_socket import (
    MAX_BELIEVED_AGE,
    RECEIVE_BUFFER,
    MediaUdpSocket,
    arrival_time,
)


@pytest.fixture
def pair():
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    media = MediaUdpSocket(receiver)
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sender.bind(("127.0.0.1", 0))
    yield media, sender
    media.close()
    sender.close()


# The kernel stamps with CLOCK_REALTIME read in the kernel, the test reads it through the vDSO,
# possibly on another CPU: on a VM the two were seen to disagree by up to ~0.5 ms once in a while.
CLOCK_READ_SKEW = 0.002


def wait_readable(media: MediaUdpSocket) -> None:
    readable, _, _ = select.select([media.fileno()], [], [], 2.0)
    assert readable, "nothing reached the media socket on loopback within 2 s"


def test_a_burst_is_read_in_order_with_kernel_stamps_then_eagain(pair):
    media, sender = pair
    assert media.timestamps
    assert media.receive() == []  # EAGAIN at once: an empty list, no exception
    sent_between: list[tuple[float, float]] = []
    for i in range(40):
        before = time.time()
        sender.sendto(i.to_bytes(2, "big") * 10, ("127.0.0.1", media.port))
        sent_between.append((before, time.time()))
    wait_readable(media)
    batch = media.receive()
    assert [int.from_bytes(data[:2], "big") for data, _, _ in batch] == list(range(40))
    assert all(source == sender.getsockname() for _, source, _ in batch)
    stamps = [stamp for _, _, stamp in batch]
    assert all(stamp is not None for stamp in stamps)
    assert all(stamps[i + 1] >= stamps[i] - CLOCK_READ_SKEW for i in range(len(stamps) - 1))
    # loopback stamps the datagram inside the sender's sendto: the stamp is when it was sent
    # (CLOCK_REALTIME), not when we read it
    for stamp, (before, after) in zip(stamps, sent_between, strict=True):
        assert before - CLOCK_READ_SKEW <= stamp <= after + CLOCK_READ_SKEW
    assert media.receive() == []
    assert media.stats.received == 40 and media.stats.receive_errors == 0


def test_a_drain_takes_at_most_its_limit_and_leaves_the_rest_queued(pair):
    media, sender = pair
    for i in range(5):
        sender.sendto(bytes([i]), ("127.0.0.1", media.port))
    wait_readable(media)
    assert [data for data, _, _ in media.receive(limit=3)] == [b"\x00", b"\x01", b"\x02"]
    assert [data for data, _, _ in media.receive()] == [b"\x03", b"\x04"]


def test_an_oversized_datagram_is_dropped_and_counted_not_parsed_in_part(pair):
    media, sender = pair
    sender.sendto(bytes(RECEIVE_BUFFER + 1), ("127.0.0.1", media.port))
    sender.sendto(b"next", ("127.0.0.1", media.port))
    wait_readable(media)
    assert [data for data, _, _ in media.receive()] == [b"next"]
    assert media.stats.truncated == 1 and media.stats.received == 1


def test_send_failures_are_counted_not_raised(pair):
    media, _ = pair
    assert media.send(b"x", ("127.0.0.1", 0)) is False  # EINVAL: port 0
    assert media.stats.send_errors == 1
    assert media.send(b"x", ("127.0.0.1", media.port)) is True


def test_arrival_time_is_the_reference_reading_minus_the_age():
    # both clocks read together at the drain: reference 500.0 s (monotonic), realtime 1.7e9 s
    assert arrival_time(1_700_000_000.0 - 0.013, 500.0, 1_700_000_000.0) == pytest.approx(
        500.0 - 0.013)
    assert arrival_time(None, 500.0, 1_700_000_000.0) == 500.0  # no stamp: the read
    # CLOCK_REALTIME stepped between arrival and read (NTP at boot, no RTC): not believed
    assert arrival_time(1_700_000_000.0 + 3600, 500.0, 1_700_000_000.0) == 500.0
    assert arrival_time(1_700_000_000.0 - MAX_BELIEVED_AGE - 1, 500.0, 1_700_000_000.0) == 500.0
    # a stamp a hair after the realtime read (the reads race): it has just arrived
    assert arrival_time(1_700_000_000.0 + 1e-6, 500.0, 1_700_000_000.0) == 500.0
