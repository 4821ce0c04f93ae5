"""Mouth-to-ear of the media bench: what made the Opus rows read ~210 ms, and the measurement.

The Opus rows of `make bench` were a startup stall, not a steady-state latency: the first Opus
decode imported numpy (PyAV's `to_ndarray`) inside a 20 ms tick, stalling that phone ~200 ms
under load; the peer saw a 200 ms transit spread and its jitter buffer held that delay for its
2 s window, then shrank it 20 ms per 0.5 s — each burst came out 20 ms earlier than the last.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from math import gcd

import pytest

from deskphone.media.jitterbuffer import JitterBufferConfig
from deskphone.media.stream import MediaStream
from deskphone.sdp.codecs import CodecChoice
from deskphone.zrtp.events import SrtpKeys
from deskphone_tools.media_bench import (
    _BURST_EVERY,
    _BurstSource,
    _EnergySink,
    burst_latencies,
    latency_summary,
)

OPUS = CodecChoice("opus", 111, 48000, 2)
G722 = CodecChoice("G722", 9, 8000)
PCMU = CodecChoice("PCMU", 0, 8000)

_FIRST_USE = """
import json, sys
from deskphone.media.codecs import create_codec
from deskphone.sdp.codecs import CodecChoice
codec = create_codec(CodecChoice(*json.loads(sys.argv[1])))
before = set(sys.modules)
pcm = bytes(2 * codec.frame_samples)
for _ in range(3):
    codec.decode(codec.encode(pcm))
codec.conceal()
print(json.dumps(sorted(set(sys.modules) - before)))
"""


@pytest.mark.parametrize("spec", [OPUS, G722, PCMU], ids=lambda s: s.name)
def test_first_encode_decode_and_conceal_import_nothing(spec):
    """Everything a codec needs is loaded by `create_codec` (when the call starts), none of it by
    the first encode/decode/concealment, which run inside a 20 ms tick. A fresh interpreter, so
    no other test has imported the module already."""
    args = json.dumps([spec.name, spec.payload_type, spec.clock_rate, spec.channels])
    done = subprocess.run([sys.executable, "-c", _FIRST_USE, args], capture_output=True,
                          text=True, timeout=60, check=True)
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []


def test_burst_latencies_match_each_burst_to_its_own_edge():
    sent = [1.0, 1.34, 1.68, 2.02]
    # burst 2 missed; an edge before the first burst (noise) and a second edge of burst 3
    heard = [0.9, 1.011, 1.691, 1.711, 2.031]
    latencies = burst_latencies(sent, heard, window=0.34)
    assert [round(t * 1000, 1) for t in latencies] == [11.0, 11.0, 11.0]


def test_burst_latencies_never_take_the_next_burst_for_a_missed_one():
    # burst 1 was lost: the edge at 1.351 belongs to burst 2 (sent 1.34), not to burst 1
    latencies = burst_latencies([1.0, 1.34], [1.351], window=0.34)
    assert [round(t * 1000, 1) for t in latencies] == [11.0]


def test_summary_is_the_median_with_its_spread_plus_the_capture_frame():
    summary = latency_summary([11.0, 10.0, 12.0, 31.0, 11.0])
    assert summary == {"pipeline_latency_ms": 11.0, "mouth_to_ear_ms": 31.0,
                       "mouth_to_ear_min_ms": 30.0, "mouth_to_ear_max_ms": 51.0}
    assert latency_summary([])["mouth_to_ear_ms"] is None


def test_burst_period_is_not_in_step_with_the_jitter_buffer_shrink():
    """A shrink discards one packet every `shrink_after` ticks while the buffer is too deep: in
    step with the bursts it discarded a burst every time (Opus rows heard 6-7 of 8)."""
    assert gcd(_BURST_EVERY, JitterBufferConfig().shrink_after) == 1
    assert _BURST_EVERY * 0.020 > JitterBufferConfig().max_delay + 0.020


async def _virtual_call(spec: CodecChoice, ticks: int, phase: float) -> tuple[list[float], dict]:
    """A sends to B through a list, both on one virtual clock; B ticks `phase` after A and each
    packet arrives 0.1 ms after it was sent. Returns the burst latencies and B's stats."""
    now = [100.0]
    from deskphone.media.codecs import create_codec

    rate = create_codec(spec).sample_rate
    source = _BurstSource(rate, lambda: now[0])
    sink = _EnergySink(rate, lambda: now[0])
    a = await MediaStream.open("127.0.0.1", audio=source, clock=lambda: now[0])
    b = await MediaStream.open("127.0.0.1", audio=sink, clock=lambda: now[0])
    key_a, salt_a, key_b, salt_b = bytes(16), bytes(14), bytes(range(16)), bytes(range(14))
    try:
        a.start(("127.0.0.1", b.local_port), spec, dtmf_pt=None, send_audio=True)
        b.start(("127.0.0.1", a.local_port), spec, dtmf_pt=None, send_audio=True)
        a.set_srtp(SrtpKeys("AES_CM_128_HMAC_SHA1_80", key_a, salt_a, key_b, salt_b))
        b.set_srtp(SrtpKeys("AES_CM_128_HMAC_SHA1_80", key_b, salt_b, key_a, salt_a))
        wire: list[bytes] = []
        a._sendto = wire.append  # type: ignore[method-assign,assignment]
        b._sendto = lambda data: None  # type: ignore[method-assign]
        for _ in range(ticks):
            now[0] += 0.020
            sent_at = now[0]
            a.tick(sent_at)
            for data in wire:
                b._receiver.datagram_received(data, ("127.0.0.1", a.local_port), sent_at + 0.0001)
            wire.clear()
            now[0] = sent_at + phase
            b.tick(now[0])
            now[0] = sent_at
        stats = b.stats
        return burst_latencies(source.burst_times, sink.arrivals, 0.34), {
            "bursts": len(source.burst_times), "concealed": stats.concealed,
            "target_delay_ms": stats.target_delay_ms, "late": stats.late}
    finally:
        await a.close()
        await b.close()


@pytest.mark.parametrize("spec", [OPUS, PCMU], ids=lambda s: s.name)
def test_clean_path_latency_is_the_tick_phase_for_every_burst(spec):
    """On a clean path a frame is played at B's first tick after it arrives: the pipeline latency
    of every burst is exactly the tick phase (Opus like G.711: its 48 kHz RTP clock, packet
    durations and the jitter-buffer target add nothing)."""
    latencies, stats = asyncio.run(_virtual_call(spec, ticks=200, phase=0.010))
    assert stats["bursts"] >= 8
    assert len(latencies) == stats["bursts"]
    assert {round(t * 1000, 3) for t in latencies} == {10.0}
    assert stats["concealed"] == 0 and stats["late"] == 0
    assert stats["target_delay_ms"] == pytest.approx(JitterBufferConfig().margin * 1000, abs=0.01)
