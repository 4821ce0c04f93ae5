"""The conference bridge (media/conference.py) on real streams and the real 20 ms timer: two
secure legs mixed from one tick. Issue 19's guard holds for the conference as a whole (a count,
not a time): at most one event-loop wake-up per 20 ms frame for both legs, and the legs' own
tickers are off; when the conference ends each stream ticks itself again with its old port."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from deskphone.devices.audio import FileAudio, NullAudio
from deskphone.media.conference import ConferenceBridge, LegPort
from deskphone.media.stream import MediaStream
from tests.media.audio_math import dominant_frequency, tone
from tests.media.test_stream import A_KEYS, B_KEYS, PCMU


def test_two_secure_legs_cost_one_wake_up_per_frame_and_hear_each_other(tmp_path) -> None:
    source = tmp_path / "b-says.raw"
    source.write_bytes(tone(800.0, 8000, 16000).tobytes())  # B's microphone: 800 Hz

    async def conference() -> dict:
        b_mouth = FileAudio(8000, capture_file=source)
        c_ear = FileAudio(8000, playback_file=tmp_path / "c-hears.raw")
        peer_b = await MediaStream.open("127.0.0.1", audio=b_mouth)
        peer_c = await MediaStream.open("127.0.0.1", audio=c_ear)
        handset = NullAudio(8000)
        leg_b = await MediaStream.open("127.0.0.1", audio=handset)
        leg_c = await MediaStream.open("127.0.0.1", audio=handset)
        streams = (peer_b, peer_c, leg_b, leg_c)
        try:
            for ours, theirs in ((leg_b, peer_b), (leg_c, peer_c)):
                ours.start(("127.0.0.1", theirs.local_port), PCMU, dtmf_pt=None, send_audio=True)
                theirs.start(("127.0.0.1", ours.local_port), PCMU, dtmf_pt=None, send_audio=True)
                ours.set_srtp(A_KEYS)
                theirs.set_srtp(B_KEYS)
            bridge = ConferenceBridge(handset, {"b": leg_b, "c": leg_c})
            bridge.start()
            assert leg_b._ticker is None and leg_c._ticker is None  # the bridge's tick only
            assert isinstance(leg_b.audio, LegPort) and leg_b.audio.rate == 8000

            async def c_received(count: int) -> None:
                while peer_c.stats.packets_received < count:
                    await asyncio.sleep(0.02)

            await asyncio.wait_for(c_received(20), 10.0)
            before = bridge.loop_wakeups
            packets = peer_c.stats.packets_received
            await asyncio.wait_for(c_received(packets + 50), 10.0)
            after = bridge.loop_wakeups
            modes = (leg_b.stats.receive_mode, leg_c.stats.receive_mode)
            bridge.stop()
            restored = (leg_b.audio is handset and leg_c.audio is handset,
                        leg_b._ticker is not None and leg_c._ticker is not None)
            return {"wakeups": after[0] - before[0], "ticks": after[1] - before[1],
                    "modes": modes, "restored": restored}
        finally:
            for stream in streams:
                await stream.close()
            b_mouth.close()
            c_ear.close()

    got = asyncio.run(asyncio.wait_for(conference(), 30))
    assert got["ticks"] >= 40 and got["modes"] == ("drained", "drained")
    assert got["wakeups"] <= got["ticks"], (
        f"the conference woke the loop {got['wakeups']} times in {got['ticks']} ticks")
    assert got["restored"] == (True, True)
    heard = np.frombuffer((tmp_path / "c-hears.raw").read_bytes(), dtype="<i2")
    assert len(heard) >= 1600
    assert abs(dominant_frequency(heard[-1600:], 8000) - 800.0) < 10.0  # B reached C via A


@pytest.mark.parametrize("rates", [(8000, 16000)])
def test_a_leg_port_runs_at_the_legs_rate(rates) -> None:
    from deskphone.media.mixer import ConferenceMixer

    mixer = ConferenceMixer(8000, {"b": rates[0], "c": rates[1]})
    port = LegPort(mixer, "c")
    mixer.begin(bytes(320))
    assert port.rate == 16000 and len(port.capture_frame()) == 640
