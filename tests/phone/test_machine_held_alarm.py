"""A held call's security alarm is on the screen at once, whatever screen the heard call shows
(issue 15 item 2): also on the SAS screen of a call whose SAS is still to be read."""

from __future__ import annotations

from deskphone.phone import events as ev
from deskphone.phone.screens import MitmScreen, SasScreen
from tests.phone.test_machine_several_calls import carol_waits, in_call_with_bob, tones


def test_a_mismatch_on_the_held_call_shows_on_the_sas_screen_of_the_heard_one() -> None:
    m = in_call_with_bob()  # Bob: verified
    carol_waits(m)
    m.handle(ev.AnswerRequested("carol"), 3.0)
    m.handle(ev.Secured("ZZZZ", False, call_id="carol"), 3.5)  # Carol: SAS to be read
    m.handle(ev.SwapRequested(), 4.0)  # Bob back, Carol held
    m.handle(ev.SwapRequested(), 4.5)  # Carol back, Bob held
    assert isinstance(m.screen, SasScreen) and m.screen.held_alarm == ""
    out = m.handle(ev.PossibleMitm("ABCD", call_id="bob"), 5.0)  # Bob's call, while held
    assert isinstance(m.screen, SasScreen) and m.screen.sas == "ZZZZ"
    assert m.screen.held_alarm == "! Held: 202" and "! Held: 202" in m.screen.lines()
    assert "mitm" not in tones(out)  # the alarm tone is for when that call is heard
    out = m.handle(ev.SwapRequested(), 6.0)
    assert isinstance(m.screen, MitmScreen) and tones(out)[-1] == "mitm"
