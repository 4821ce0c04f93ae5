"""A 3-way conference mixed on phone A (issue 15 item 4), three phone processes on loopback.

A talks to B; C calls A, who answers (B held) and presses '#' (`ctl conference`): A's phone mixes
the two calls. Each phone's microphone carries its own tone (A 1 kHz, B 600 Hz, C 1.5 kHz) and
each earpiece is checked with an FFT of its playback file: A hears B and C, B hears A and C, C
hears A and B, and nobody hears its own tone come back. Each leg keeps its own ZRTP session:
A's SAS with B is B's, with C is C's. Then a leg drops (a two-party call is left) or A hangs up
(both end, or with `[phone] conference_hangup = "join"` B and C are joined by transfer).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from deskphone_tools.harness import PhoneError, PhoneProcess, lan_config, unique_extensions
from tests.call_audio import tone
from tests.e2e.test_call_waiting import Trio, call_id_of

RATE = 8000
TONES = {"a": 1000, "b": 600, "c": 1500}


@contextlib.contextmanager
def trio_with_tones(root: Path, extra_a: str = "", audio_c: str = "") -> Iterator[Trio]:
    ext = unique_extensions(3)
    phones = []
    for (name, label), number in zip((("a", "Alice"), ("b", "Bob"), ("c", "Carol")), ext,
                                     strict=True):
        capture = root / f"{name}-capture.raw"
        capture.write_bytes(tone(TONES[name], 90))
        audio = (f'[audio]\nplayback_file = "{root / f"{name}-play.raw"}"\n'
                 f'capture_file = "{capture}"\n')
        extra = audio + (audio_c if name == "c" else "") + (extra_a if name == "a" else "")
        phones.append(PhoneProcess(name.upper(), number, root / name,
                                   lan_config(number, label, extra=extra)))
    started: list[PhoneProcess] = []
    try:
        for phone in phones:
            phone.start()
            started.append(phone)
        for phone in phones:
            for other in phones:
                if other is not phone:
                    phone.wait(lan_peers=f"~{other.extension}")
        yield Trio(*phones, root)
    finally:
        for phone in started:
            phone.stop()


def tone_shares(pcm: bytes) -> dict[str, float]:
    """Each phone's tone's share of the energy in `pcm` (8 kHz S16LE)."""
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples)))) ** 2
    spectrum[:3] = 0
    total = spectrum.sum() or 1.0
    hz = RATE / len(samples)
    return {name: float(spectrum[int(f / hz) - 4:int(f / hz) + 5].sum() / total)
            for name, f in TONES.items()}


def heard_since(t: Trio, marks: dict[str, int]) -> dict[str, dict[str, float]]:
    """Each earpiece over one second once every phone received 60 more packets."""
    for phone in (t.a, t.b, t.c):
        received = phone.state()["media"]["packets_received"]
        phone.wait(**{"media.packets_received": f">{received + 60}"})
    heard = {}
    for name in marks:
        pcm = t.played(name)[marks[name]:marks[name] + 2 * RATE]
        assert len(pcm) >= RATE, f"{name} played {len(pcm)} bytes since the mark"
        heard[name] = tone_shares(pcm)
    return heard


def marks(t: Trio) -> dict[str, int]:
    # a few frames past the change, so what was buffered before it is not counted
    return {name: len(t.played(name)) + 2 * RATE // 10 for name in ("a", "b", "c")}


def conference(t: Trio) -> tuple[dict, dict, dict]:
    """A with B, then C answered (B held), then mixed; the SAS of A-B and A-C."""
    a, b, c = t.a, t.b, t.c
    a.ctl("hook", "off")
    a.ctl("press", f"{b.extension}#")
    b.wait(call="ringing")
    b.ctl("hook", "off")
    sab = a.wait(security="secure|verified", call="in_call")
    sb = b.wait(security="secure|verified", call="in_call")
    with pytest.raises(PhoneError, match="needs a call in the earpiece and one on hold"):
        a.ctl("conference")  # one call only: nothing to mix, said so
    c.ctl("dial", a.extension)
    a.wait(waiting="Carol")
    a.ctl("answer", call_id_of(a, "Carol"))
    sac = a.wait(peer="Carol", security="secure|verified", call="in_call")
    sc = c.wait(security="secure|verified", call="in_call")
    b.wait(direction="recvonly")
    assert sab["sas"] == sb["sas"] and sac["sas"] == sc["sas"] and sab["sas"] != sac["sas"]
    a.ctl("conference")
    mixed = a.wait(conference="true", screen="~mixed here")
    b.wait(direction="sendrecv")
    return sab, sac, mixed


def test_three_way_conference_everyone_hears_the_other_two(tmp_path: Path) -> None:
    with trio_with_tones(tmp_path) as t:
        a, b, c = t.a, t.b, t.c
        sab, sac, mixed = conference(t)
        # the screen lists both legs, each with its own SAS, and says who is secured to whom
        screen = mixed["screen"]
        assert "Conference, mixed here" in screen and "not to each other" in screen
        assert b.extension in screen and "Carol" in screen
        listed = {call["peer"]: call for call in a.ctl("calls")}
        assert listed[b.extension]["state"] == "conference"
        assert listed[b.extension]["sas"] == sab["sas"] and listed["Carol"]["sas"] == sac["sas"]
        assert all(call["hearing"] for call in listed.values())
        assert a.state()["conference"] is True

        heard = heard_since(t, marks(t))
        assert heard["a"]["b"] > 0.2 and heard["a"]["c"] > 0.2 and heard["a"]["a"] < 0.02, heard
        assert heard["b"]["a"] > 0.2 and heard["b"]["c"] > 0.2 and heard["b"]["b"] < 0.02, heard
        assert heard["c"]["a"] > 0.2 and heard["c"]["b"] > 0.2 and heard["c"]["c"] < 0.02, heard
        # one event-loop wake-up per 20 ms frame for the whole conference (issue 19's guard,
        # in the phone process): the mixer's tick runs both legs, no timer per leg
        before = a.state()["mixer"]
        a.wait(**{"media.packets_received": f">{a.state()['media']['packets_received'] + 50}"})
        after = a.state()["mixer"]
        ticks = after["ticks"] - before["ticks"]
        assert ticks >= 40 and after["loop_wakeups"] - before["loop_wakeups"] <= ticks, (
            before, after)
        # still each leg's own ZRTP session: the SAS did not change with the mixing
        assert b.state()["sas"] == sab["sas"] and c.state()["sas"] == sac["sas"]

        # C leaves: A and B go on as a two-party call, B hears only A again
        c.ctl("hangup")
        c.wait(call="ended|idle")
        alone = a.wait(conference="false", call="in_call", peer=b.extension)
        assert alone["sas"] == sab["sas"] and len(alone["calls"]) == 1
        heard = heard_since_two(t)
        assert heard["a"]["b"] > 0.5 and heard["a"]["c"] < 0.02, heard
        assert heard["b"]["a"] > 0.5 and heard["b"]["c"] < 0.02, heard
        a.ctl("hook", "on")
        b.wait(call="ended|idle")


def heard_since_two(t: Trio) -> dict[str, dict[str, float]]:
    start = marks(t)
    for phone in (t.a, t.b):
        received = phone.state()["media"]["packets_received"]
        phone.wait(**{"media.packets_received": f">{received + 60}"})
    return {name: tone_shares(t.played(name)[start[name]:start[name] + 2 * RATE])
            for name in ("a", "b")}


def test_the_other_leg_drops_and_the_call_in_the_earpiece_goes_on(tmp_path: Path) -> None:
    with trio_with_tones(tmp_path) as t:
        a, b, c = t.a, t.b, t.c
        sab, sac, _ = conference(t)
        b.ctl("hangup")  # B was the held leg: C, the call in the earpiece, goes on
        b.wait(call="ended|idle")
        a.wait(conference="false", call="in_call", peer="Carol")
        c.ctl("hangup")  # and then that one: nothing is left
        a.ctl("hook", "on")
        a.wait(call="idle")


def test_the_current_leg_drops_and_the_held_one_is_heard(tmp_path: Path) -> None:
    with trio_with_tones(tmp_path) as t:
        a, b, c = t.a, t.b, t.c
        sab, _, _ = conference(t)
        c.ctl("hangup")  # C is the leg the earpiece carried before the conference
        left = a.wait(conference="false", call="in_call", peer=b.extension)
        assert left["sas"] == sab["sas"]
        a.ctl("hook", "on")
        b.wait(call="ended|idle")


def test_hanging_up_a_conference_ends_both_legs(tmp_path: Path) -> None:
    with trio_with_tones(tmp_path) as t:
        a, b, c = t.a, t.b, t.c
        conference(t)
        a.ctl("hook", "on")
        b.wait(call="ended|idle")
        c.wait(call="ended|idle")
        assert a.wait(call="ended|idle")["calls"] == []


def test_hanging_up_a_conference_can_join_the_others_by_transfer(tmp_path: Path) -> None:
    with trio_with_tones(tmp_path, extra_a='[phone]\nconference_hangup = "join"\n') as t:
        a, b, c = t.a, t.b, t.c
        sab, sac, _ = conference(t)
        a.ctl("hook", "on")
        done = a.wait(call="ended|idle")
        assert a.state()["calls"] == [], done
        # B (the held leg) was referred to C with Replaces: their own call, their own SAS
        sbc = c.wait(call="in_call", peer="~Bob", security="secure|verified")
        sb = b.wait(call="in_call", security="secure|verified", sas=sbc["sas"])
        assert sbc["sas"] == sb["sas"] and sbc["sas"] not in (sab["sas"], sac["sas"])
        marks_ = {name: len(t.played(name)) + 2 * RATE // 10 for name in ("b", "c")}
        for phone in (b, c):
            received = phone.state()["media"]["packets_received"]
            phone.wait(**{"media.packets_received": f">{received + 60}"})
        b_heard = tone_shares(t.played("b")[marks_["b"]:marks_["b"] + 2 * RATE])
        assert b_heard["c"] > 0.5, b_heard
        b.ctl("hangup")
        c.wait(call="ended|idle")


def test_a_wideband_leg_and_a_narrowband_leg_are_mixed_each_at_its_rate(tmp_path: Path) -> None:
    # C speaks only G.722 (16 kHz), B the default PCMU (8 kHz); the handsets run at 8 kHz
    with trio_with_tones(tmp_path, audio_c='codecs = ["G722"]\n') as t:
        a, b, c = t.a, t.b, t.c
        conference(t)
        assert a.state()["codec"] == "G722" and b.state()["codec"] == "PCMU"
        assert a.state()["mixer"]["rates"] == {call_id_of(a, b.extension): 8000,
                                               call_id_of(a, "Carol"): 16000}
        heard = heard_since(t, marks(t))
        assert heard["a"]["b"] > 0.2 and heard["a"]["c"] > 0.2 and heard["a"]["a"] < 0.02, heard
        assert heard["b"]["a"] > 0.2 and heard["b"]["c"] > 0.2 and heard["b"]["b"] < 0.02, heard
        assert heard["c"]["a"] > 0.2 and heard["c"]["b"] > 0.2 and heard["c"]["c"] < 0.02, heard
        a.ctl("hook", "on")
        b.wait(call="ended|idle")
        c.wait(call="ended|idle")
