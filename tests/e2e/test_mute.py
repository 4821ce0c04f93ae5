"""Mute between two real phone processes: A mutes, and B keeps receiving one packet per 20 ms
(no gap) that now carries silence instead of A's 1 kHz tone; unmuted, the tone is back."""

from __future__ import annotations

from array import array
from pathlib import Path

from deskphone_tools.harness import PhonePair
from tests.call_audio import dominant_frequency, tone
from tests.e2e.test_lan_call import call_and_answer

RATE = 8000
SECOND = RATE * 2  # bytes of S16 mono


def peak(pcm: bytes) -> int:
    samples = array("h", pcm[: len(pcm) // 2 * 2])
    return max((abs(s) for s in samples), default=0)


def test_mute_sends_silence_frames_not_a_gap(tmp_path: Path) -> None:
    capture = tmp_path / "a-capture.raw"
    capture.write_bytes(tone(1000, 30))
    played_file = tmp_path / "b-play.raw"
    audio_a = f'[audio]\ncapture_file = "{capture}"\n'
    audio_b = f'[audio]\nplayback_file = "{played_file}"\n'
    with PhonePair(tmp_path / "phones", extra_a=audio_a, extra_b=audio_b) as pair:
        a, b = pair.a, pair.b
        a.wait(lan_peers=f"~{b.extension}")
        b.wait(lan_peers=f"~{a.extension}")
        call_and_answer(a, b)
        a.ctl("confirm-sas")  # the in-call screen (where MUTED shows) instead of the SAS
        a.wait(security="verified")
        b.wait(**{"media.packets_received": ">50"})
        muted = a.ctl("mute")
        assert muted["muted"] is True and "MUTED" in muted["screen"]
        mark = played_file.stat().st_size
        received = b.state()["media"]["packets_received"]
        # Two more seconds of packets: the stream did not stop while muted.
        b.wait(**{"media.packets_received": f">{received + 100}"})
        silent = played_file.read_bytes()[mark + SECOND // 2: mark + SECOND * 3 // 2]
        assert len(silent) == SECOND and peak(silent) < 200, peak(silent)
        assert a.ctl("mute")["muted"] is False
        mark = played_file.stat().st_size
        received = b.state()["media"]["packets_received"]
        b.wait(**{"media.packets_received": f">{received + 100}"})
        back = played_file.read_bytes()[mark + SECOND // 2: mark + SECOND * 3 // 2]
        freq, share = dominant_frequency(back)
        assert abs(freq - 1000) < 20 and share > 0.5, (freq, share)
        a.ctl("hangup")
        b.wait(call="ended")
