"""Media benchmarks (not tests): latency, CPU and memory of two real pipelines on loopback.

`run() -> dict` (called by the lead's `make bench`) runs two self-ticking MediaStreams with SRTP
through an in-process UDP relay that injects loss and jitter, for G.711 and Opus:

* pipeline latency: a tone burst is put into A's capture; we time from the tick that captured
  it to the tick that hands it to B's playback. Mouth-to-ear adds the 20 ms the capture frame
  takes to fill (reported as `mouth_to_ear_ms`); device driver buffers are not included.
* CPU seconds per minute of call per side (process CPU time / 2 sides, scaled to 60 s) and
  peak RSS of the process.

Targets (issue 4): mouth-to-ear <= 35 ms with 20 ms frames and no impairment; a G.711 SRTP call
<= 1 % of a core (0.6 CPU s per minute).
"""

from __future__ import annotations

import asyncio
import random
import resource
import statistics
import time
from array import array

from deskphone.media.codecs import CodecSpec
from deskphone.media.srtp import SrtpKeys
from deskphone.media.stream import MediaStream

_KEY_A, _SALT_A = bytes(range(16)), bytes(range(100, 114))
_KEY_B, _SALT_B = bytes(range(40, 56)), bytes(range(200, 214))


class _BurstSource:
    """Capture: silence, with a 20 ms burst of tone every `period` ticks; records when."""

    def __init__(self, rate: int, clock, period: int = 25) -> None:
        self.rate = rate
        self._clock = clock
        self._n = rate // 50
        self._ticks = 0
        self._period = period
        self.burst_times: list[float] = []
        self._burst = array("h", [12000 if (i // 8) % 2 else -12000 for i in range(self._n)])

    def capture_frame(self) -> bytes:
        self._ticks += 1
        if self._ticks % self._period == 0:
            self.burst_times.append(self._clock())
            return self._burst.tobytes()
        return bytes(2 * self._n)

    def play_frame(self, pcm: bytes) -> None:
        pass

    def close(self) -> None:
        pass


class _EnergySink:
    """Playback: records when a frame with real energy arrives (rising edge only)."""

    def __init__(self, rate: int, clock) -> None:
        self.rate = rate
        self._clock = clock
        self.arrivals: list[float] = []
        self._loud = False

    def capture_frame(self) -> bytes:
        return bytes(2 * (self.rate // 50))

    def play_frame(self, pcm: bytes) -> None:
        samples = array("h", pcm)
        loud = max(samples, default=0) > 3000
        if loud and not self._loud:
            self.arrivals.append(self._clock())
        self._loud = loud

    def close(self) -> None:
        pass


class _Relay(asyncio.DatagramProtocol):
    def __init__(self, loss: float, jitter: float, rng: random.Random) -> None:
        self.loss, self.jitter, self.rng = loss, jitter, rng
        self.peer_socket: asyncio.DatagramTransport | None = None
        self.target: tuple[str, int] | None = None
        self.transport: asyncio.DatagramTransport | None = None
        self.last_source: tuple[str, int] | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:
        self.last_source = addr
        if self.rng.random() < self.loss or self.peer_socket is None or self.target is None:
            return
        delay = self.rng.uniform(0, self.jitter) if self.jitter else 0.0
        out, target = self.peer_socket, self.target
        if delay:
            asyncio.get_running_loop().call_later(delay, out.sendto, data, target)
        else:
            out.sendto(data, target)


async def _call(codec: CodecSpec, loss: float, jitter: float, seconds: float) -> dict:
    loop = asyncio.get_running_loop()
    rng = random.Random(1)
    rate = {"PCMU": 8000, "PCMA": 8000, "G722": 16000}.get(codec.name, 48000)
    source = _BurstSource(rate, loop.time)
    sink = _EnergySink(rate, loop.time)
    a = await MediaStream.open("127.0.0.1", audio=source)
    b = await MediaStream.open("127.0.0.1", audio=sink)
    side_a, relay_a = await loop.create_datagram_endpoint(
        lambda: _Relay(loss, jitter, rng), local_addr=("127.0.0.1", 0))
    side_b, relay_b = await loop.create_datagram_endpoint(
        lambda: _Relay(loss, jitter, rng), local_addr=("127.0.0.1", 0))
    relay_a.peer_socket, relay_a.target = side_b, ("127.0.0.1", b.local_port)
    relay_b.peer_socket, relay_b.target = side_a, ("127.0.0.1", a.local_port)
    a.start(("127.0.0.1", side_a.get_extra_info("sockname")[1]), codec, dtmf_pt=None,
            send_audio=True)
    b.start(("127.0.0.1", side_b.get_extra_info("sockname")[1]), codec, dtmf_pt=None,
            send_audio=True)
    profile = "AES_CM_128_HMAC_SHA1_80"
    a.set_srtp(SrtpKeys(profile, _KEY_A, _SALT_A, _KEY_B, _SALT_B))
    b.set_srtp(SrtpKeys(profile, _KEY_B, _SALT_B, _KEY_A, _SALT_A))
    cpu0, wall0 = time.process_time(), time.monotonic()
    await asyncio.sleep(seconds)
    cpu = time.process_time() - cpu0
    wall = time.monotonic() - wall0
    stats = b.stats
    await a.close()
    await b.close()
    side_a.close()
    side_b.close()
    latencies = []
    for sent in source.burst_times:
        later = [t for t in sink.arrivals if 0 <= t - sent < 0.5]
        if later:
            latencies.append((later[0] - sent) * 1000)
    pipeline = statistics.median(latencies) if latencies else None
    return {
        "codec": codec.name,
        "loss_pct": round(loss * 100),
        "jitter_ms": round(jitter * 1000),
        "pipeline_latency_ms": round(pipeline, 1) if pipeline is not None else None,
        "mouth_to_ear_ms": round(pipeline + 20, 1) if pipeline is not None else None,
        "bursts_heard": f"{len(latencies)}/{len(source.burst_times)}",
        "cpu_s_per_min_per_side": round(cpu / 2 / wall * 60, 3),
        "core_pct_per_side": round(cpu / 2 / wall * 100, 2),
        "concealed": stats.concealed,
        "target_delay_ms": stats.target_delay_ms,
    }


async def _all(seconds: float) -> list[dict]:
    rows = []
    for codec in (CodecSpec("PCMU", 0, 8000), CodecSpec("opus", 111, 48000, 2)):
        for loss in (0.0, 0.05, 0.20):
            for jitter in (0.0, 0.030):
                rows.append(await _call(codec, loss, jitter, seconds))
    return rows


def run(seconds: float = 4.0) -> dict:
    rows = asyncio.run(_all(seconds))
    rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    header = ("codec", "loss_pct", "jitter_ms", "mouth_to_ear_ms", "bursts_heard",
              "core_pct_per_side", "cpu_s_per_min_per_side", "concealed", "target_delay_ms")
    print(" | ".join(header))
    for row in rows:
        print(" | ".join(str(row[h]) for h in header))
    print(f"peak RSS {rss_mib:.1f} MiB")
    return {"media": rows, "peak_rss_mib": round(rss_mib, 1)}


if __name__ == "__main__":
    run()
