"""Media benchmarks (not tests): latency, CPU and memory of two real pipelines on loopback.

`run() -> dict` (called by the lead's `make bench`) runs a call between two self-ticking
MediaStreams with SRTP, *each phone in its own process*, through a UDP relay in this process that
injects loss and jitter, for G.711 and Opus:

* mouth-to-ear: a tone burst is put into A's capture every `_BURST_EVERY` ticks; we time from
  the tick that captured it to the tick that hands it to B's playback (both processes read the
  same CLOCK_MONOTONIC) and add the 20 ms the capture frame takes to fill. Device driver buffers
  are not included. A row reports the median over its bursts and their min/max (one burst that a
  scheduler hiccup delayed or a jitter-buffer shrink dropped cannot move the median), and how many
  bursts were heard. Bursts start only after the warm-up: each phone first runs its codec once
  (imports, encoder/decoder set-up) before the call starts, and the first `_WARMUP` seconds of the
  call (jitter buffer start) carry no burst.
  Two phones tick at unrelated phases, and on a clean path the phase *is* the receive delay
  (a frame waits for B's next tick), so B's ticks are offset from A's by `phase_ms` — 10 ms, the
  mean of a uniform phase, unless a row says otherwise (the sweep rows show the range).
* CPU: each phone process measures its own CPU time over the call's steady state (after a
  warm-up that includes codec set-up), as % of one core and CPU seconds per call minute; the
  relay's work is in neither figure.
  `core_pct_user_sys` splits it: on loopback most of it is the kernel (UDP send/receive and two
  wake-ups per tick) and the asyncio loop itself, not the media code.
* media code per tick: the pipeline alone (capture, encode, SRTP, RTP, send call; receive call,
  SRTP, jitter buffer, decode, play) driven in-process without sockets or an event loop, in µs of
  CPU per 20 ms tick per side: what the code under deskphone/media costs.
* RSS: the peak resident set of a phone process (Python, PyAV and libsrtp loaded).

Targets (issue 4): mouth-to-ear <= 35 ms with 20 ms frames and no impairment; a G.711 SRTP call
<= 1 % of a core (0.6 CPU s per minute) per side.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import random
import resource
import statistics
import time
from array import array
from typing import Any

from deskphone.sdp.codecs import CodecChoice

_KEY_A, _SALT_A = bytes(range(16)), bytes(range(100, 114))
_KEY_B, _SALT_B = bytes(range(40, 56)), bytes(range(200, 214))
_WARMUP = 0.5  # seconds after start not counted in the CPU figure nor carrying a burst
_TICK = 0.020
# 340 ms: longer than any latency the jitter buffer allows (max_delay 300 ms + a tick), so a heard
# burst cannot be taken for the next one; and coprime with the buffer's `shrink_after` (25 ticks):
# with a period of 25 a shrink that once discarded a burst's packet discarded the next burst's
# too, 25 ticks later (Opus rows heard 6-7 of 8 bursts).
_BURST_EVERY = 17  # ticks


class _BurstSource:
    """Capture: silence, with a 20 ms burst of tone every `period` ticks; records when."""

    def __init__(self, rate: int, clock, period: int = _BURST_EVERY,
                 first_after: int = round(_WARMUP / _TICK)) -> None:
        self.rate = rate
        self._clock = clock
        self._n = rate // 50
        self._ticks = 0
        self._period = period
        self._first_after = first_after  # ticks of warm-up without a burst
        self._silence = bytes(2 * self._n)
        self.burst_times: list[float] = []
        # 5 ms of tone at the start of the frame, then silence: Opus delays its output by its
        # 6.5 ms look-ahead, so a full-frame burst spilled into the next packet and a lost burst
        # packet was "heard" a frame late from the spill; a 5 ms burst stays in one packet, and a
        # lost one is missed for every codec alike.
        self._burst = array("h", [(12000 if (i // 8) % 2 else -12000) if i < self._n // 4 else 0
                                  for i in range(self._n)])

    def capture_frame(self) -> bytes:
        self._ticks += 1
        if self._ticks > self._first_after and self._ticks % self._period == 0:
            self.burst_times.append(self._clock())
            return self._burst.tobytes()
        return self._silence

    def play_frame(self, pcm: bytes) -> None:
        pass

    def close(self) -> None:
        pass


class _EnergySink:
    """Playback: records when a frame with real energy arrives (rising edge only)."""

    def __init__(self, rate: int, clock) -> None:
        self.rate = rate
        self._clock = clock
        self._silence = bytes(2 * (rate // 50))
        self.arrivals: list[float] = []
        self._loud = False

    def capture_frame(self) -> bytes:
        return self._silence

    def play_frame(self, pcm: bytes) -> None:
        loud = max(array("h", pcm), default=0) > 3000
        if loud and not self._loud:
            self.arrivals.append(self._clock())
        self._loud = loud

    def close(self) -> None:
        pass


def burst_latencies(sent: list[float], heard: list[float], window: float) -> list[float]:
    """Seconds from each burst sent to the first rising edge heard within `window` after it (a
    burst heard nothing in that time is missed, not matched to a later burst's edge); each edge
    is counted for one burst only."""
    latencies: list[float] = []
    heard = sorted(heard)
    used = 0
    for start in sorted(sent):
        while used < len(heard) and heard[used] < start:
            used += 1  # an edge before this burst: noise or an earlier burst's second edge
        if used < len(heard) and heard[used] - start < window:
            latencies.append(heard[used] - start)
            used += 1
    return latencies


def latency_summary(latencies_ms: list[float], capture_ms: float = 20.0) -> dict:
    """Mouth-to-ear figures of a row: median, min and max over the bursts (pipeline latency plus
    the `capture_ms` a capture frame takes to fill); None when no burst was heard."""
    if not latencies_ms:
        return {"pipeline_latency_ms": None, "mouth_to_ear_ms": None,
                "mouth_to_ear_min_ms": None, "mouth_to_ear_max_ms": None}
    median = statistics.median(latencies_ms)
    return {
        "pipeline_latency_ms": round(median, 1),
        "mouth_to_ear_ms": round(median + capture_ms, 1),
        "mouth_to_ear_min_ms": round(min(latencies_ms) + capture_ms, 1),
        "mouth_to_ear_max_ms": round(max(latencies_ms) + capture_ms, 1),
    }


def _warm_up_codec(codec: CodecChoice) -> int:
    """Everything a codec does the first time (imports, PyAV/libopus set-up, first encode,
    decode and concealment) done before the call starts, outside the measured ticks. Returns
    the codec's PCM rate."""
    from deskphone.media.codecs import create_codec

    warm = create_codec(codec)
    silence = bytes(2 * warm.frame_samples)
    warm.decode(warm.encode(silence))
    warm.conceal()
    return warm.sample_rate


# ---- one phone, in its own process ---------------------------------------------------------------

def _phone_process(role: str, codec: tuple, relay_port: int, conn: Any) -> None:
    asyncio.run(_phone(role, CodecChoice(*codec), relay_port, conn))


async def _phone(role: str, codec: CodecChoice, relay_port: int, conn: Any) -> None:
    from deskphone.media.stream import MediaStream
    from deskphone.zrtp.events import SrtpKeys

    loop = asyncio.get_running_loop()
    rate = _warm_up_codec(codec)  # device at the codec rate: no resampling
    audio = _BurstSource(rate, loop.time) if role == "A" else _EnergySink(rate, loop.time)
    stream = await MediaStream.open("127.0.0.1", audio=audio)
    conn.send(stream.local_port)
    start_at, seconds = await loop.run_in_executor(None, conn.recv)
    await asyncio.sleep(max(0.0, start_at - loop.time() - 0.020))  # first tick at start_at
    stream.start(("127.0.0.1", relay_port), codec, dtmf_pt=None, send_audio=True)
    ours, theirs = ((_KEY_A, _SALT_A), (_KEY_B, _SALT_B))[:: 1 if role == "A" else -1]
    stream.set_srtp(SrtpKeys("AES_CM_128_HMAC_SHA1_80", *ours, *theirs))
    await asyncio.sleep(_WARMUP)
    usage0, cpu0, wall0 = (resource.getrusage(resource.RUSAGE_SELF), time.process_time(),
                           time.monotonic())
    await asyncio.sleep(seconds - _WARMUP)
    cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
    usage = resource.getrusage(resource.RUSAGE_SELF)
    stats = stream.stats
    await stream.close()
    conn.send({
        "cpu_share": cpu / wall,
        "user_share": (usage.ru_utime - usage0.ru_utime) / wall,
        "sys_share": (usage.ru_stime - usage0.ru_stime) / wall,
        "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "times": (audio.burst_times if isinstance(audio, _BurstSource) else audio.arrivals),
        "concealed": stats.concealed,
        "target_delay_ms": stats.target_delay_ms,
        "playout_delay_ms": stats.playout_delay_ms,
    })


# ---- the impairing relay, in this process --------------------------------------------------------

class _Relay(asyncio.DatagramProtocol):
    """Forwards what one phone sends to the other, dropping `loss` and delaying up to `jitter`.
    Delayed sends are tracked so `close()` cancels them (none may fire on a closed loop)."""

    def __init__(self, loss: float, jitter: float, rng: random.Random) -> None:
        self.loss, self.jitter, self.rng = loss, jitter, rng
        self.peer_socket: asyncio.DatagramTransport | None = None
        self.target: tuple[str, int] | None = None
        self.transport: asyncio.DatagramTransport | None = None
        self._pending: set[asyncio.TimerHandle] = set()

    def connection_made(self, transport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:
        if self.rng.random() < self.loss or self.peer_socket is None or self.target is None:
            return
        delay = self.rng.uniform(0, self.jitter) if self.jitter else 0.0
        if not delay:
            self._forward(data, None)
            return
        handle: asyncio.TimerHandle | None = None

        def fire() -> None:
            self._forward(data, handle)

        handle = asyncio.get_running_loop().call_later(delay, fire)
        self._pending.add(handle)

    def _forward(self, data: bytes, handle: asyncio.TimerHandle | None) -> None:
        if handle is not None:
            self._pending.discard(handle)
        out = self.peer_socket
        if out is not None and not out.is_closing() and self.target is not None:
            out.sendto(data, self.target)

    def close(self) -> None:
        for handle in self._pending:
            handle.cancel()
        self._pending.clear()
        self.peer_socket = None
        if self.transport is not None:
            self.transport.close()


async def _call(codec: CodecChoice, loss: float, jitter: float, seconds: float,
                phase: float = 0.010) -> dict:
    loop = asyncio.get_running_loop()
    rng = random.Random(1)
    side_a, relay_a = await loop.create_datagram_endpoint(
        lambda: _Relay(loss, jitter, rng), local_addr=("127.0.0.1", 0))
    side_b, relay_b = await loop.create_datagram_endpoint(
        lambda: _Relay(loss, jitter, rng), local_addr=("127.0.0.1", 0))
    context = multiprocessing.get_context("spawn")
    spec = (codec.name, codec.payload_type, codec.clock_rate, codec.channels)
    phones = {}
    for role, side in (("A", side_a), ("B", side_b)):
        ours, theirs = context.Pipe()
        process = context.Process(target=_phone_process, daemon=True,
                                  args=(role, spec, side.get_extra_info("sockname")[1], theirs))
        process.start()
        phones[role] = (process, ours)
    try:
        ports = {role: await loop.run_in_executor(None, conn.recv)
                 for role, (_p, conn) in phones.items()}
        relay_a.peer_socket, relay_a.target = side_b, ("127.0.0.1", ports["B"])
        relay_b.peer_socket, relay_b.target = side_a, ("127.0.0.1", ports["A"])
        start_at = loop.time() + 0.3
        phones["A"][1].send((start_at, seconds))
        phones["B"][1].send((start_at + phase, seconds))
        results = {role: await loop.run_in_executor(None, conn.recv)
                   for role, (_p, conn) in phones.items()}
    finally:
        relay_a.close()
        relay_b.close()
        for process, conn in phones.values():
            process.join(5)
            if process.is_alive():
                process.kill()
            conn.close()
    a, b = results["A"], results["B"]
    window = _BURST_EVERY * _TICK
    latencies = [1000 * t for t in burst_latencies(a["times"], b["times"], window)]
    return {
        "codec": codec.name,
        "loss_pct": round(loss * 100),
        "jitter_ms": round(jitter * 1000),
        "phase_ms": round(phase * 1000),
        **latency_summary(latencies),
        "burst_latencies_ms": [round(ms, 1) for ms in latencies],
        "bursts_heard": f"{len(latencies)}/{len(a['times'])}",
        "core_pct_per_side": round(max(a["cpu_share"], b["cpu_share"]) * 100, 2),
        "cpu_s_per_min_per_side": round(max(a["cpu_share"], b["cpu_share"]) * 60, 3),
        "core_pct_a_b": f"{a['cpu_share'] * 100:.2f}/{b['cpu_share'] * 100:.2f}",
        "core_pct_user_sys": f"{b['user_share'] * 100:.2f}/{b['sys_share'] * 100:.2f}",
        "rss_mib": round(max(a["rss_mib"], b["rss_mib"]), 1),
        "concealed": b["concealed"],
        "target_delay_ms": b["target_delay_ms"],
    }


def _pipeline_cost(codec: CodecChoice, ticks: int = 1500, warm_up: int = 50) -> float:
    """CPU µs per tick per side of the media code alone (see the module docstring): A captures,
    encodes, protects and "sends" into a list; B receives it, unprotects, buffers, decodes and
    plays; both with a virtual clock, no sockets, no event loop. The first `warm_up` ticks (first
    encode/decode, jitter buffer start) are not counted."""
    from deskphone.devices.audio import NullAudio
    from deskphone.media.codecs import create_codec
    from deskphone.media.stream import MediaStream
    from deskphone.zrtp.events import SrtpKeys

    async def measure() -> float:
        now = [1000.0]
        rate = create_codec(codec).sample_rate
        a = await MediaStream.open("127.0.0.1", audio=NullAudio(rate), clock=lambda: now[0])
        b = await MediaStream.open("127.0.0.1", audio=NullAudio(rate), clock=lambda: now[0])
        try:
            a.start(("127.0.0.1", b.local_port), codec, dtmf_pt=None, send_audio=True)
            b.start(("127.0.0.1", a.local_port), codec, dtmf_pt=None, send_audio=True)
            a.set_srtp(SrtpKeys("AES_CM_128_HMAC_SHA1_80", _KEY_A, _SALT_A, _KEY_B, _SALT_B))
            b.set_srtp(SrtpKeys("AES_CM_128_HMAC_SHA1_80", _KEY_B, _SALT_B, _KEY_A, _SALT_A))
            wire: list[bytes] = []
            a._sendto = wire.append  # type: ignore[method-assign,assignment]
            b._sendto = lambda data: None  # type: ignore[method-assign]
            source = ("127.0.0.1", a.local_port)
            playout = b._playout  # B only receives and plays: its tick would capture and send too
            assert playout is not None
            cpu0 = 0.0
            for tick in range(warm_up + ticks):
                if tick == warm_up:
                    cpu0 = time.process_time()
                now[0] += 0.020
                a.tick()
                b._receiver.datagram_received(wire.pop(), source)
                now[0] += 0.005
                b.audio.play_frame(playout.frame(now[0], muted=False))
            return (time.process_time() - cpu0) / ticks * 1e6
        finally:
            await a.close()
            await b.close()

    return asyncio.run(measure())


async def _all(seconds: float) -> list[dict]:
    rows = []
    pcmu = CodecChoice("PCMU", 0, 8000)
    for codec in (pcmu, CodecChoice("opus", 111, 48000, 2)):
        for loss in (0.0, 0.05, 0.20):
            for jitter in (0.0, 0.030):
                rows.append(await _call(codec, loss, jitter, seconds))
    for phase in (0.002, 0.018):  # the range of a random tick phase, clean path
        rows.append(await _call(pcmu, 0.0, 0.0, seconds, phase))
    return rows


def run(seconds: float = 4.0) -> dict:
    rows = asyncio.run(_all(seconds))
    code_us = {name: round(_pipeline_cost(spec), 1) for name, spec in (
        ("PCMU", CodecChoice("PCMU", 0, 8000)), ("opus", CodecChoice("opus", 111, 48000, 2)))}
    rss_mib = max(row["rss_mib"] for row in rows)
    header = ("codec", "loss_pct", "jitter_ms", "phase_ms", "mouth_to_ear_ms",
              "mouth_to_ear_min_ms", "mouth_to_ear_max_ms", "bursts_heard",
              "core_pct_per_side", "core_pct_a_b", "core_pct_user_sys", "cpu_s_per_min_per_side",
              "rss_mib", "concealed", "target_delay_ms")
    print(" | ".join(header))
    for row in rows:
        print(" | ".join(str(row[h]) for h in header))
    print(f"peak RSS of a phone process {rss_mib:.1f} MiB")
    for name, micros in code_us.items():
        print(f"media code per tick per side, {name} SRTP: {micros} µs CPU"
              f" = {micros / 200:.2f} % of a core")
    return {"media": rows, "peak_rss_mib": round(rss_mib, 1), "code_us_per_tick": code_us}


if __name__ == "__main__":
    run()
