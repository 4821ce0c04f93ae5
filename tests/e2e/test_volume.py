"""Volume on a real phone process: ctl volume changes it, the earpiece plays the far end
quieter, and the levels survive a restart."""

from __future__ import annotations

from array import array
from pathlib import Path

from deskphone_tools.harness import PhonePair
from tests.call_audio import tone
from tests.e2e.test_lan_call import call_and_answer

SECOND = 8000 * 2


def peak(pcm: bytes) -> int:
    return max((abs(s) for s in array("h", pcm[: len(pcm) // 2 * 2])), default=0)


def test_earpiece_volume_scales_the_call_and_is_remembered(tmp_path: Path) -> None:
    capture = tmp_path / "a-capture.raw"
    capture.write_bytes(tone(1000, 30))
    played_file = tmp_path / "b-play.raw"
    with PhonePair(tmp_path / "phones", extra_a=f'[audio]\ncapture_file = "{capture}"\n',
                   extra_b=f'[audio]\nplayback_file = "{played_file}"\n') as pair:
        a, b = pair.a, pair.b
        a.wait(lan_peers=f"~{b.extension}")
        b.wait(lan_peers=f"~{a.extension}")
        call_and_answer(a, b)
        b.wait(**{"media.packets_received": ">50"})
        mark = played_file.stat().st_size
        received = b.state()["media"]["packets_received"]
        b.wait(**{"media.packets_received": f">{received + 75}"})
        loud = peak(played_file.read_bytes()[mark + SECOND // 2: mark + SECOND])
        assert b.ctl("volume", "earpiece", "4") == {"earpiece": 4, "ringer": 8}
        mark = played_file.stat().st_size
        received = b.state()["media"]["packets_received"]
        b.wait(**{"media.packets_received": f">{received + 75}"})
        quiet = peak(played_file.read_bytes()[mark + SECOND // 2: mark + SECOND])
        assert loud > 1000 and abs(quiet - loud / 2) < loud * 0.1, (loud, quiet)
        a.ctl("hangup")
        b.wait(call="ended")
        b.ctl("volume", "ringer", "down")
        b.stop()
        b.start()
        assert b.ctl("volume") == {"earpiece": 4, "ringer": 7}


def test_volume_keys_on_a_4x3_keypad(tmp_path: Path) -> None:
    # 2/8 step the ringer on the idle screen; in a call *2/*8 step the earpiece and send no
    # DTMF, while a '*' that is no prefix still reaches the far end.
    with PhonePair(tmp_path / "phones") as pair:
        a, b = pair.a, pair.b
        a.wait(lan_peers=f"~{b.extension}")
        b.wait(lan_peers=f"~{a.extension}")
        b.ctl("press", "88")
        assert b.ctl("volume") == {"earpiece": 8, "ringer": 6}
        assert "Ringer 6/10" in b.state()["screen"]
        call_and_answer(a, b)
        a.ctl("confirm-sas")
        a.wait(security="verified")
        a.ctl("press", "*2")
        assert a.ctl("volume") == {"earpiece": 9, "ringer": 8}
        assert "Volume 9/10" in a.state()["screen"]
        a.ctl("press", "*5")
        b.wait(dtmf="*5")  # the held-back star went first, then the 5; no 2 was ever sent
        a.ctl("hangup")
        b.wait(call="ended")
