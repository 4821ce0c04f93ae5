"""Two MediaStreams on loopback (SRTP, a tone end to end), and the pipeline through the ALSA
file plugin with an injected clock."""

from __future__ import annotations

import asyncio
import functools
import os
from pathlib import Path

import numpy as np
import pytest

from deskphone.devices.audio import AlsaAudio, FileAudio, NullAudio
from deskphone.media.stream import MediaStream
from deskphone.media.stun import MAGIC_COOKIE
from deskphone.sdp.codecs import CodecChoice
from deskphone.zrtp.events import SrtpKeys
from tests.media.audio_math import dominant_frequency, tone, tone_snr_db
from tests.support import require_module

K1, S1 = bytes(range(32)), bytes(range(100, 114))
K2, S2 = bytes(range(50, 82)), bytes(range(200, 214))
A_KEYS = SrtpKeys("AES_256_CM_HMAC_SHA1_80", K1, S1, K2, S2)
B_KEYS = SrtpKeys("AES_256_CM_HMAC_SHA1_80", K2, S2, K1, S1)
PCMU = CodecChoice("PCMU", 0, 8000)


def run_async(test):
    """Run an async test in a fresh event loop (no pytest-asyncio in the pinned test deps)."""

    @functools.wraps(test)
    def runner(*args, **kwargs):
        return asyncio.run(asyncio.wait_for(test(*args, **kwargs), 30))

    return runner


class ManualClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def _pair(tmp_path: Path, codec: CodecChoice, rate: int, seconds: float, clock):
    source = tmp_path / "a_in.raw"
    source.write_bytes(tone(1004.0, rate, int(rate * seconds)).tobytes())
    a_audio = FileAudio(rate, capture_file=source)
    b_audio = FileAudio(rate, playback_file=tmp_path / "b_out.raw")
    a = await MediaStream.open("127.0.0.1", audio=a_audio, clock=clock)
    b = await MediaStream.open("127.0.0.1", audio=b_audio, clock=clock)
    return a, b, a_audio, b_audio


async def _run_ticks(streams, clock: ManualClock, ticks: int) -> None:
    for _ in range(ticks):
        clock.now += 0.020
        for s in streams:
            s.tick()
        # let the loop deliver this tick's datagrams before the next tick (loopback is instant;
        # bounded so a lost datagram cannot hang the test)
        for _ in range(5):
            await asyncio.sleep(0)


async def tick_until(streams, clock: ManualClock, done, ticks: int = 200) -> None:
    """Tick (20 ms of the manual clock each) until `done()`: a stream in drained mode handles
    what reached its socket at its next tick, whenever loopback delivery completes."""
    for _ in range(ticks):
        await _run_ticks(streams, clock, 1)
        if done():
            return
        await asyncio.sleep(0.001)
    raise AssertionError(f"condition not met after {ticks} ticks")


@pytest.mark.parametrize(("codec", "rate", "min_snr"), [
    (PCMU, 8000, 30.0),
    (CodecChoice("G722", 9, 8000), 16000, 20.0),
    (CodecChoice("opus", 111, 48000, 2), 48000, 12.0),
    # 8 kHz handset: Opus encodes the 8 kHz frames as they are (no upsampling), decodes at 48
    (CodecChoice("opus", 111, 48000, 2), 8000, 12.0),
    (PCMU, 16000, 20.0),  # device at 16 kHz, codec at 8 kHz: resampled both ways
])
@run_async
async def test_tone_end_to_end_over_srtp(tmp_path, codec, rate, min_snr):
    clock = ManualClock()
    a, b, a_audio, b_audio = await _pair(tmp_path, codec, rate, 2.0, clock)
    try:
        a.start(("127.0.0.1", b.local_port), codec, dtmf_pt=101, send_audio=True)
        b.start(("127.0.0.1", a.local_port), codec, dtmf_pt=101, send_audio=True)
        a.set_srtp(A_KEYS)
        b.set_srtp(B_KEYS)
        await _run_ticks([a, b], clock, 100)
    finally:
        await a.close()
        await b.close()
        a_audio.close()
        b_audio.close()
    received = np.frombuffer((tmp_path / "b_out.raw").read_bytes(), dtype="<i2")
    steady = received[len(received) // 4 :]
    assert abs(dominant_frequency(steady, rate) - 1004.0) < 10.0
    assert tone_snr_db(steady, 1004.0, rate) > min_snr
    assert b.stats.secure and b.stats.srtp_auth_failures == 0 and b.stats.concealed == 0


@run_async
async def test_no_audio_without_keys_and_cleartext_only_when_allowed(tmp_path):
    clock = ManualClock()
    a, b, a_audio, b_audio = await _pair(tmp_path, PCMU, 8000, 1.0, clock)
    try:
        a.start(("127.0.0.1", b.local_port), PCMU, dtmf_pt=None, send_audio=True)
        b.start(("127.0.0.1", a.local_port), PCMU, dtmf_pt=None, send_audio=True)
        await _run_ticks([a, b], clock, 10)
        assert a.stats.packets_sent == 0 and b.stats.packets_received == 0
        a.allow_cleartext()
        await _run_ticks([a, b], clock, 10)
        assert a.stats.packets_sent == 10
        assert b.stats.dropped_cleartext == 10  # B has not allowed cleartext: nothing played
        b.allow_cleartext()
        await _run_ticks([a, b], clock, 10)
        assert b.stats.packets_received == 10
    finally:
        await a.close()
        await b.close()
        a_audio.close()
        b_audio.close()


@run_async
async def test_dtmf_zrtp_stun_hold_and_foreign_packets(tmp_path):
    clock = ManualClock()
    a, b, a_audio, b_audio = await _pair(tmp_path, PCMU, 8000, 1.0, clock)
    keys, zrtp = [], []
    b.on_dtmf = keys.append
    b.on_zrtp = lambda packet, source: zrtp.append(packet)
    loop = asyncio.get_running_loop()
    replies: asyncio.Queue = asyncio.Queue()

    class Probe(asyncio.DatagramProtocol):
        def datagram_received(self, data, addr):
            replies.put_nowait(data)

    probe, _ = await loop.create_datagram_endpoint(Probe, local_addr=("127.0.0.1", 0))
    try:
        a.start(("127.0.0.1", b.local_port), PCMU, dtmf_pt=101, send_audio=True)
        b.start(("127.0.0.1", a.local_port), PCMU, dtmf_pt=101, send_audio=True)
        a.set_srtp(A_KEYS)
        b.set_srtp(B_KEYS)
        a.send_zrtp(bytes.fromhex("10000001") + b"ZRTP" + bytes(8))
        for key in "12#":
            a.send_dtmf(key)
        await _run_ticks([a, b], clock, 40)
        assert keys == ["1", "2", "#"]
        assert len(zrtp) == 1 and zrtp[0][4:8] == b"ZRTP"
        # STUN from anyone is answered (secure audio: at B's next tick); a stranger's RTP is not
        request = (0x0001).to_bytes(2, "big") + bytes(2) + MAGIC_COOKIE.to_bytes(4, "big")
        probe.sendto(request + os.urandom(12), ("127.0.0.1", b.local_port))
        await tick_until([a, b], clock, lambda: not replies.empty())
        answer = replies.get_nowait()
        assert answer[:2] == b"\x01\x01"
        probe.sendto(bytes.fromhex("80000001000000000000000a") + bytes(160),
                     ("127.0.0.1", b.local_port))
        await tick_until([a, b], clock, lambda: b.stats.dropped_foreign > 0)
        assert b.stats.dropped_foreign == 1
        # hold: A stops sending
        sent = a.stats.packets_sent
        a.set_direction("inactive")
        await _run_ticks([a, b], clock, 5)
        assert a.stats.packets_sent == sent
        with pytest.raises(ValueError, match="'sideways'"):
            a.set_direction("sideways")
    finally:
        probe.close()
        await a.close()
        await b.close()
        a_audio.close()
        b_audio.close()


@run_async
async def test_self_ticking_streams_on_the_event_loop(tmp_path):
    """No injected clock: the streams tick themselves every 20 ms; RTCP flows; tone arrives."""
    source = tmp_path / "in.raw"
    source.write_bytes(tone(800.0, 8000, 8000).tobytes())
    a_audio = FileAudio(8000, capture_file=source)
    b_audio = FileAudio(8000, playback_file=tmp_path / "out.raw")
    a = await MediaStream.open("127.0.0.1", audio=a_audio)
    b = await MediaStream.open("127.0.0.1", audio=b_audio)
    try:
        a.start(("127.0.0.1", b.local_port), PCMU, dtmf_pt=None, send_audio=True)
        b.start(("127.0.0.1", a.local_port), PCMU, dtmf_pt=None, send_audio=True)
        a.set_srtp(A_KEYS)
        b.set_srtp(B_KEYS)
        async def enough() -> None:
            while b.stats.packets_received < 30:
                await asyncio.sleep(0.02)
        await asyncio.wait_for(enough(), 10.0)
    finally:
        await a.close()
        await b.close()
        a_audio.close()
        b_audio.close()
    out = np.frombuffer((tmp_path / "out.raw").read_bytes(), dtype="<i2")
    assert abs(dominant_frequency(out[-1600:], 8000) - 800.0) < 10.0


@pytest.fixture
def alsa_home(tmp_path, monkeypatch):
    conf = tmp_path / "alsa"
    conf.mkdir()
    (conf / ".asoundrc").write_text((Path(__file__).parent / "asoundrc.phonetest").read_text())
    monkeypatch.setenv("HOME", str(conf))
    return tmp_path


@run_async
async def test_pipeline_through_alsa_file_plugin(alsa_home):
    """Real AlsaAudio on both ends (file plugin over the null slave), injected clock."""
    require_module("alsaaudio")
    rate = 8000
    tmp = alsa_home
    (tmp / "a_in.raw").write_bytes(tone(1004.0, rate, 2 * rate).tobytes())
    a_audio = AlsaAudio(rate, f"phonetest:IN={tmp}/a_in.raw,OUT=/dev/null",
                        "phonetest:IN=/dev/zero,OUT=/dev/null")
    b_audio = AlsaAudio(rate, "phonetest:IN=/dev/zero,OUT=/dev/null",
                        f"phonetest:IN=/dev/zero,OUT={tmp}/b_out.raw")
    clock = ManualClock()
    a = await MediaStream.open("127.0.0.1", audio=a_audio, clock=clock)
    b = await MediaStream.open("127.0.0.1", audio=b_audio, clock=clock)
    try:
        a.start(("127.0.0.1", b.local_port), PCMU, dtmf_pt=None, send_audio=True)
        b.start(("127.0.0.1", a.local_port), PCMU, dtmf_pt=None, send_audio=True)
        a.set_srtp(A_KEYS)
        b.set_srtp(B_KEYS)
        await _run_ticks([a, b], clock, 80)
    finally:
        await a.close()
        await b.close()
        a_audio.close()
        b_audio.close()
    out = np.frombuffer((tmp / "b_out.raw").read_bytes(), dtype="<i2")
    assert len(out) >= 70 * 160
    steady = out[len(out) // 3 :]
    assert abs(dominant_frequency(steady, rate) - 1004.0) < 10.0
    assert tone_snr_db(steady, 1004.0, rate) > 30.0


def test_null_audio_and_rate_validation():
    null = NullAudio(16000)
    assert null.capture_frame() == bytes(640)
    with pytest.raises(ValueError, match="44100"):
        NullAudio(44100)
