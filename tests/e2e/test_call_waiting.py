"""Call waiting between three simulated phones on loopback (issue 15 item 1 and 2).

A talks to B; C calls A. A hears the call-waiting tone in the earpiece (the ringer stays off)
and sees C named; A answers C, which holds B (RFC 3264 §8.4), swaps back, hangs up one and keeps
the other, and a call left on hold rings the reminder once the handset is down. Each call has its
own ZRTP session: its own SAS, listed by `calls`. Only the control socket drives the phones; the
earpieces are checked with an FFT of their playback files.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from deskphone_tools.harness import PhoneProcess, lan_config, unique_extensions
from tests.call_audio import dominant_frequency, tone

RATE = 8000
FRAME = 2 * RATE // 50  # bytes in 20 ms


@dataclass
class Trio:
    a: PhoneProcess
    b: PhoneProcess
    c: PhoneProcess
    root: Path

    def played(self, name: str) -> bytes:
        return (self.root / f"{name}-play.raw").read_bytes()


def _audio(root: Path, name: str, frequency: int | None) -> str:
    text = f'[audio]\nplayback_file = "{root / f"{name}-play.raw"}"\n'
    if frequency is not None:
        capture = root / f"{name}-capture.raw"
        capture.write_bytes(tone(frequency, 60))
        text += f'capture_file = "{capture}"\n'
    return text


@contextlib.contextmanager
def trio(root: Path, extra_a: str = "") -> Iterator[Trio]:
    # A's microphone carries 1 kHz, C's 1.5 kHz; B's is silent, so what A's earpiece plays
    # while B talks is only what A's phone adds (the call-waiting tone).
    ext = unique_extensions(3)
    a = PhoneProcess("A", ext[0], root / "a", lan_config(
        ext[0], "Alice", extra=_audio(root, "a", 1000) + extra_a))
    b = PhoneProcess("B", ext[1], root / "b", lan_config(ext[1], "Bob",
                                                         extra=_audio(root, "b", None)))
    c = PhoneProcess("C", ext[2], root / "c", lan_config(ext[2], "Carol",
                                                         extra=_audio(root, "c", 1500)))
    started: list[PhoneProcess] = []
    try:
        for phone in (a, b, c):
            phone.start()
            started.append(phone)
        for phone in (a, b, c):
            for other in (a, b, c):
                if other is not phone:
                    phone.wait(lan_peers=f"~{other.extension}")
        yield Trio(a, b, c, root)
    finally:
        for phone in started:
            phone.stop()


def a_calls_b(t: Trio) -> dict:
    t.a.ctl("hook", "off")
    t.a.ctl("press", f"{t.b.extension}#")
    t.b.wait(call="ringing")
    t.b.ctl("hook", "off")
    sa = t.a.wait(security="secure|verified", call="in_call")
    t.b.wait(security="secure|verified", call="in_call")
    return sa


def call_id_of(phone: PhoneProcess, peer: str) -> str:
    calls = phone.ctl("calls")
    ids = [c["id"] for c in calls if peer in c["peer"]]
    assert len(ids) == 1, calls
    return str(ids[0])


def earpiece_after(t: Trio, name: str, start: int, seconds: float = 1.0) -> tuple[float, float]:
    pcm = t.played(name)[start:start + int(seconds * RATE) * 2]
    assert len(pcm) >= RATE, f"{name} played only {len(pcm)} bytes since the mark"
    return dominant_frequency(pcm)


def loudness(pcm: bytes) -> float:
    import numpy as np

    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    return float(np.sqrt(np.mean(samples ** 2))) if len(samples) else 0.0


def test_call_waiting_answer_swap_hang_up_one_and_reminder(tmp_path: Path) -> None:
    with trio(tmp_path) as t:
        a, b, c = t.a, t.b, t.c
        sab = a_calls_b(t)
        mark = len(t.played("a"))
        c.ctl("dial", a.extension)
        waiting = a.wait(waiting="Carol", tone="call_waiting")
        c.wait(call="calling", screen="~Ringing")  # C hears ringback: A sent 180
        assert waiting["call"] == "in_call" and waiting["ringing"] is False  # not the ringer
        assert "Call waiting" in waiting["screen"] and "Carol" in waiting["screen"]
        # which call the earpiece carries, and how secure that one is
        assert f"Secure: {b.extension}" in waiting["screen"]
        listed = {c_["state"]: c_ for c_ in a.ctl("calls")}
        assert set(listed) == {"active", "waiting"}
        assert listed["active"]["sas"] == sab["sas"] and listed["waiting"]["sas"] is None
        # The call-waiting tone is in A's earpiece: 440 Hz over B's silence.
        a.wait(**{"media.packets_received": f">{a.state()['media']['packets_received'] + 60}"})
        freq, share = earpiece_after(t, "a", mark)
        assert abs(freq - 440) < 20 and share > 0.5, (freq, share)

        # A answers C: B is held (A re-offers sendonly), C's leg gets its own ZRTP and SAS.
        a.ctl("answer", call_id_of(a, "Carol"))
        sac = a.wait(peer="Carol", security="secure|verified", call="in_call")
        sc = c.wait(security="secure|verified", call="in_call")
        assert sac["sas"] == sc["sas"] and sac["sas"] != sab["sas"]
        assert b.wait(direction="recvonly")["call"] == "in_call"
        a.ctl("confirm-sas")  # A and C read the same words: the in-call screen names B held
        assert f"Held: {b.extension}" in a.wait(security="verified", screen="~Held")["screen"]
        listed = {c_["peer"]: c_ for c_ in a.ctl("calls")}
        bob = listed[b.extension]  # A dialled B: its number names the call
        assert bob["state"] == "held" and bob["sas"] == sab["sas"]
        assert listed["Carol"]["state"] == "active" and listed["Carol"]["hearing"] is True
        assert listed["Carol"]["sas"] == sac["sas"]

        # A held call neither plays nor sends audio: B's earpiece goes quiet, C hears A's 1 kHz
        # and A hears C's 1.5 kHz.
        b_mark, c_mark, a_mark = (len(t.played(n)) for n in ("b", "c", "a"))
        for phone in (b, c, a):
            received = phone.state()["media"]["packets_received"]
            phone.wait(**{"media.packets_received": f">{received + 60}"})
        assert loudness(t.played("b")[b_mark + FRAME * 10:]) < 100
        freq, share = earpiece_after(t, "c", c_mark)
        assert abs(freq - 1000) < 20 and share > 0.5, (freq, share)
        freq, share = earpiece_after(t, "a", a_mark)
        assert abs(freq - 1500) < 20 and share > 0.5, (freq, share)

        # Swap: back to B (resumed sendrecv), C held.
        a.ctl("swap")
        assert a.wait(peer=b.extension, call="in_call")["sas"] == sab["sas"]
        b.wait(direction="sendrecv")
        c.wait(direction="recvonly")
        listed = {c_["peer"]: c_["state"] for c_ in a.ctl("calls")}
        assert listed == {b.extension: "active", "Carol": "held"}

        # A hangs up B: C stays on hold; with the handset down the reminder rings.
        a.ctl("hook", "on")
        b.wait(call="ended")
        held = a.wait(call="held", ringing="true")
        assert "Call on hold" in held["screen"] and "Carol" in held["screen"]
        assert c.state()["call"] == "in_call"
        # Lifting the handset brings C back.
        a.ctl("hook", "off")
        back = a.wait(call="in_call", peer="Carol", ringing="false")
        assert back["sas"] == sac["sas"]
        c.wait(direction="sendrecv")
        a.ctl("hook", "on")
        c.wait(call="ended")
        assert a.wait(call="idle")["calls"] == []


def test_the_waiting_caller_gives_up_and_the_call_goes_on(tmp_path: Path) -> None:
    with trio(tmp_path) as t:
        a, c = t.a, t.c
        a_calls_b(t)
        c.ctl("dial", a.extension)
        a.wait(waiting="Carol")
        c.ctl("hangup")  # C gives up: CANCEL
        gone = a.wait(waiting="null", tone="null")
        assert gone["call"] == "in_call" and gone["peer"] == t.b.extension
        assert len(gone["calls"]) == 1


def test_hanging_up_while_a_call_waits_rings_for_it(tmp_path: Path) -> None:
    with trio(tmp_path) as t:
        a, b, c = t.a, t.b, t.c
        a_calls_b(t)
        c.ctl("dial", a.extension)
        a.wait(waiting="Carol")
        a.ctl("hook", "on")  # ends B; the waiting caller now rings like any call
        b.wait(call="ended")
        ringing = a.wait(call="ringing", ringing="true")
        assert "Carol" in ringing["screen"]
        a.ctl("hook", "off")
        a.wait(call="in_call", peer="Carol", security="secure|verified")
        c.wait(call="in_call")


@pytest.mark.parametrize("setting", ["call_waiting = false", "dnd = true", "max_calls = 1"])
def test_busy_when_waiting_is_off_in_dnd_or_at_the_limit(tmp_path: Path, setting: str) -> None:
    with trio(tmp_path, extra_a=f"[phone]\n{setting}\n") as t:
        a, c = t.a, t.c
        if setting == "dnd = true":  # in DND nobody gets through, even to an idle phone
            c.ctl("dial", a.extension)
            assert "Busy" in c.wait(call="ended")["screen"]
            return
        a_calls_b(t)
        c.ctl("dial", a.extension)
        ended = c.wait(call="ended")
        assert "Busy" in ended["screen"]  # 486 Busy Here
        assert a.state()["waiting"] is None and a.state()["call"] == "in_call"
