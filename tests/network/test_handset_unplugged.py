"""The handset is unplugged mid-call and plugged back (issue 16 item 3).

Phone A's handset is a pair of device nodes (`[audio] device_nodes = true`, devices/audio.py
`NodeAudio`): the phone opens them and never creates them, as a USB handset's /dev/snd nodes.
Removing the earpiece node is pulling the handset out: the next frame fails as ALSA's would with
-ENODEV, the screen says "Handset audio lost", the call stays up and secure on the same ZRTP
session (same SAS, no new key exchange), and once a node is there again B's voice comes out of
it — found by the re-open attempts of the running audio tick, with back-off, not by a poll.
"""

from __future__ import annotations

import time
from pathlib import Path

from deskphone_tools.harness import PhonePair
from tests.call_audio import dominant_frequency, tone
from tests.e2e.test_lan_call import call_and_answer

RATE = 8000
SECOND = RATE * 2  # bytes of S16 mono


def test_unplugged_handset_keeps_the_call_and_audio_comes_back(tmp_path: Path) -> None:
    earpiece = tmp_path / "a-earpiece.node"
    microphone = tmp_path / "a-microphone.node"
    earpiece.write_bytes(b"")
    microphone.write_bytes(bytes(SECOND * 60))
    voice_b = tmp_path / "b-capture.raw"
    voice_b.write_bytes(tone(1000, 60))
    audio_a = (f'[audio]\ndevice_nodes = true\nplayback_file = "{earpiece}"\n'
               f'capture_file = "{microphone}"\n')
    audio_b = f'[audio]\ncapture_file = "{voice_b}"\n'
    with PhonePair(tmp_path / "phones", extra_a=audio_a, extra_b=audio_b) as pair:
        a, b = pair.a, pair.b
        a.wait(30, lan_peers=f"~{b.extension}")
        b.wait(30, lan_peers=f"~{a.extension}")
        call_and_answer(a, b)
        a.ctl("confirm-sas")  # the in-call screen rather than the SAS
        before = a.wait(20, security="verified", **{"media.packets_received": ">50"})
        assert earpiece.stat().st_size > SECOND // 2  # B is heard

        earpiece.unlink()  # the handset is pulled out
        lost = a.wait(20, handset_audio="lost", **{"audio_device.handset_audio": "lost"})
        assert "Handset audio lost" in lost["screen"], lost["screen"]
        assert lost["call"] == "in_call" and lost["security"] == "verified", lost
        received = lost["media"]["packets_received"]
        # The call goes on: SRTP keeps arriving and is decrypted, on the same ZRTP session.
        still = a.wait(20, **{"media.packets_received": f">{received + 100}"})
        assert still["call"] == "in_call" and still["sas"] == before["sas"], still
        assert still["audio_device"]["losses"] == 1, still["audio_device"]
        attempts = still["audio_device"]["reopen_attempts"]
        # Two seconds of 20 ms frames (100 ticks) tried to re-open a handful of times, not
        # 100: the back-off doubles to 2 s between attempts.
        assert 1 <= attempts <= 8, still["audio_device"]
        assert not earpiece.exists()  # the phone never creates its device

        earpiece.write_bytes(b"")  # plugged back in
        plugged_at = time.monotonic()
        back = a.wait(20, handset_audio="ok", **{"audio_device.handset_audio": "ok"})
        took = time.monotonic() - plugged_at
        assert "Handset audio lost" not in back["screen"], back["screen"]
        assert back["call"] == "in_call" and back["sas"] == before["sas"], back
        received = back["media"]["packets_received"]
        a.wait(20, **{"media.packets_received": f">{received + 75}"})
        heard = earpiece.read_bytes()
        assert len(heard) >= SECOND, len(heard)
        frequency, share = dominant_frequency(heard[-SECOND:][:RATE])
        assert abs(frequency - 1000) < 20 and share > 0.5, (frequency, share)
        print(f"handset: audio back {took:.2f} s after the node came back")
        a.ctl("hangup")
        b.wait(20, call="ended")
