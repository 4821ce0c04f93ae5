"""Two simulated phones on loopback, the LAN default (no server), driven like a person would.

Each phone is a real `deskphone run --sim` process; the tests use only the control socket (which
drives the mock hook contact) and the phones' audio files.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from deskphone_tools.harness import PhonePair, PhoneProcess, lan_config
from tests.call_audio import dominant_frequency, tone

RATE = 8000


@pytest.fixture
def pair(tmp_path: Path):
    capture = tmp_path / "a-capture.raw"
    capture.write_bytes(tone(1000, 30))
    audio_a = f'[audio]\ncapture_file = "{capture}"\nplayback_file = "{tmp_path / "a-play.raw"}"\n'
    audio_b = f'[audio]\nplayback_file = "{tmp_path / "b-play.raw"}"\n'
    with PhonePair(tmp_path / "phones", extra_a=audio_a, extra_b=audio_b) as phones:
        phones.a.wait(lan_peers=f"~{phones.b.extension}")
        phones.b.wait(lan_peers=f"~{phones.a.extension}")
        yield phones


def call_and_answer(a: PhoneProcess, b: PhoneProcess) -> tuple[dict, dict]:
    a.ctl("hook", "off")
    assert a.state()["tone"] == "dial"
    a.ctl("press", f"{b.extension}#")
    ringing = b.wait(call="ringing")
    assert "Alice" in ringing["screen"]
    a.wait(call="calling", screen="~Ringing")
    b.ctl("hook", "off")
    sa = a.wait(security="secure|verified", call="in_call")
    sb = b.wait(security="secure|verified", call="in_call")
    return sa, sb


def test_lan_call_same_sas_confirm_and_hang_up(pair: PhonePair) -> None:
    a, b = pair.a, pair.b
    sa, sb = call_and_answer(a, b)
    assert sa["security"] == sb["security"] == "secure"  # first call: SAS not yet compared
    assert sa["sas"] and sa["sas"] == sb["sas"]
    assert sa["sas"].upper() in sa["screen"].upper() and "# if it matches" in sa["screen"]
    # Two deskphones agree on the hybrid X25519 + ML-KEM-768 (DPQ1) and show it: "PQ".
    for state in (sa, sb):
        assert (state["zrtp"]["key_agreement"], state["zrtp"]["hash"],
                state["zrtp"]["cipher"]) == ("DPQ1", "S384", "AES3")
        assert state["post_quantum"] is True and "PQ" in state["screen"].split("\n")
    a.ctl("press", "#")  # A hears B read the same words
    assert a.wait(security="verified")["sas"] == sa["sas"]
    b.ctl("confirm-sas")
    b.wait(security="verified")
    a.ctl("hook", "on")
    ended = b.wait(call="ended")
    assert "Call ended" in ended["screen"]
    b.ctl("hook", "on")
    b.wait(call="idle")
    a.wait(call="idle")

    # Key continuity (RFC 6189 §4.9): the next call comes up verified without asking again.
    sa2, sb2 = call_and_answer(a, b)
    assert sa2["security"] == sb2["security"] == "verified"
    assert sa2["sas"] == sb2["sas"] and sa2["sas"] != sa["sas"]
    # A withdraws the verification (C key / ctl reverify): the SAS screen is back at once...
    again = a.ctl("reverify")
    assert again["security"] == "secure" and "# if it matches" in again["screen"]
    b.ctl("hook", "on")
    a.wait(call="ended")
    a.ctl("hook", "on")
    a.wait(call="idle")
    b.wait(call="idle")
    # ...and the next call asks both people to compare again (§4.6.1: both flags are needed).
    sa3, sb3 = call_and_answer(a, b)
    assert sa3["security"] == sb3["security"] == "secure"
    a.ctl("hook", "on")
    b.wait(call="ended")


def test_audio_arrives_decrypted_and_dtmf_is_shown(pair: PhonePair, tmp_path: Path) -> None:
    a, b = pair.a, pair.b
    sa, sb = call_and_answer(a, b)
    assert sa["zrtp"]["key_agreement"] == sb["zrtp"]["key_agreement"] == "DPQ1"  # audio under PQ
    # a second of call audio (50 packets of 20 ms) has reached B
    b.wait(**{"media.packets_received": ">50"})
    a.ctl("press", "5")  # in a call, keys are RFC 4733 telephone-events
    assert b.wait(dtmf="5")["call"] == "in_call"
    b.ctl("confirm-sas")
    assert "5" in b.wait(security="verified")["screen"]  # the in-call screen shows it
    b.ctl("stats")  # RTCP figures on the call-quality screen, refreshed every second
    quality = b.wait(screen="~Call quality")
    assert "PCMU" in quality["screen"] and "Loss" in quality["screen"]
    a.ctl("hook", "on")
    b.wait(call="ended")
    played = (tmp_path / "b-play.raw").read_bytes()
    assert len(played) > RATE  # more than half a second of call audio
    # the last seconds of B's earpiece carry A's 1 kHz tone, decrypted
    freq, share = dominant_frequency(played[-RATE * 2:][: RATE])
    assert abs(freq - 1000) < 20 and share > 0.5, (freq, share)


def test_busy_callee(pair: PhonePair) -> None:
    a, b = pair.a, pair.b
    b.ctl("hook", "off")  # B is dialling: one call at a time
    b.wait(call="offhook")
    a.ctl("hook", "off")
    a.ctl("press", f"{b.extension}#")
    ended = a.wait(call="ended")
    assert "Busy" in ended["screen"] and ended["tone"] == "busy"


def test_caller_hangs_up_while_ringing(pair: PhonePair) -> None:
    a, b = pair.a, pair.b
    a.ctl("hook", "off")
    a.ctl("press", f"{b.extension}#")
    b.wait(call="ringing")
    a.ctl("hook", "on")
    idle = b.wait(call="idle")
    assert "Missed" in idle["screen"] or "Alice" in idle["screen"]


def test_unknown_extension_is_a_clear_error(pair: PhonePair) -> None:
    a = pair.a
    a.ctl("hook", "off")
    a.ctl("press", "1#")  # nobody on the LAN has extension 1
    ended = a.wait(call="ended")
    assert "Unknown number" in ended["screen"]


def test_hold_and_resume(pair: PhonePair) -> None:
    a, b = pair.a, pair.b
    call_and_answer(a, b)
    a.ctl("confirm-sas")
    held = a.ctl("hold")
    assert held["held"] is True
    assert a.wait(screen="~hold")["call"] == "in_call"
    # RFC 3264 §8.4: A re-offers sendonly, B answers recvonly
    assert a.wait(direction="sendonly")["call"] == "in_call"
    assert b.wait(direction="recvonly")["call"] == "in_call"
    a.ctl("hold")
    assert a.wait(held="false", direction="sendrecv")["call"] == "in_call"
    assert b.wait(direction="sendrecv")["call"] == "in_call"
    a.ctl("hook", "on")
    b.wait(call="ended")


def test_no_answer(tmp_path: Path) -> None:
    """Nobody lifts B's handset: A gives up after its no-answer time and B stops ringing."""
    with PhonePair(tmp_path / "phones", extra_a="[phone]\nno_answer_seconds = 2\n") as phones:
        a, b = phones.a, phones.b
        a.wait(lan_peers=f"~{b.extension}")
        a.ctl("hook", "off")
        a.ctl("press", f"{b.extension}#")
        b.wait(call="ringing")
        ended = a.wait(call="ended")
        assert "No answer" in ended["screen"] and ended["tone"] == "reorder"
        idle = b.wait(call="idle")  # the CANCEL reached B
        assert "Missed" in idle["screen"]


def test_a_phone_whose_control_socket_answers_can_already_take_calls(tmp_path: Path) -> None:
    """The control socket opens after SIP is bound: a script never sees port 0."""
    phone = PhoneProcess("C", "299", tmp_path / "c", lan_config("299", "Carol"))
    phone.start()
    try:
        transport, host, port = phone.state()["sip"].rsplit(":", 2)
        assert (transport, host) == ("udp", "127.0.0.1") and int(port) > 0
    finally:
        phone.stop()
