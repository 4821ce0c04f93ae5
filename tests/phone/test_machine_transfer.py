"""Blind transfer, peer identity warnings and the LAN warning in the phone state machine."""

from __future__ import annotations

from deskphone.phone import events as ev
from deskphone.phone.machine import CallState, Security
from deskphone.phone.screens import (
    CallingScreen,
    IdleScreen,
    InCallScreen,
    MitmScreen,
    SasScreen,
    TransferScreen,
)
from tests.phone.test_machine import make, of, tones


def in_call(secure: bool = True):
    m = make()
    m.handle(ev.HookOff(), 0.0)
    m.handle(ev.DialRequested("202"), 0.1)
    m.handle(ev.CallConnected(), 1.0)
    if secure:
        m.handle(ev.Secured("abcd", True), 1.5)
    return m


def test_transfer_key_digits_and_hash_send_a_refer() -> None:
    m = in_call()
    out = m.handle(ev.KeyPressed("A"), 2.0)
    assert m.state is CallState.TRANSFER_DIALING and not of(out, ev.SendDtmf)
    assert isinstance(m.screen, TransferScreen) and "Transfer 202 to" in m.screen.lines()[0]
    for key in "2039":
        m.handle(ev.KeyPressed(key), 2.1)
    m.handle(ev.KeyPressed("*"), 2.2)  # erase the 9
    out = m.handle(ev.KeyPressed("#"), 2.3)
    assert of(out, ev.TransferCall) == [ev.TransferCall("203")]
    assert m.state is CallState.TRANSFERRING and m.snapshot()["transfer"] == "203"
    assert "Transferring…" in m.screen.lines()
    out = m.handle(ev.TransferSucceeded(), 3.0)
    assert of(out, ev.HangUp) and m.state is CallState.ENDED
    assert "Transferred" in m.snapshot()["screen"]


def test_transfer_digits_time_out_like_dialling() -> None:
    m = in_call()
    m.handle(ev.KeyPressed("A"), 2.0)
    m.handle(ev.KeyPressed("2"), 2.1)
    assert m.get_timer() == 2.1 + m.settings.interdigit_timeout
    out = m.handle_timer(m.get_timer())
    assert of(out, ev.TransferCall) == [ev.TransferCall("2")]


def test_star_on_empty_target_or_a_again_goes_back_to_the_call() -> None:
    m = in_call()
    m.handle(ev.KeyPressed("A"), 2.0)
    m.handle(ev.KeyPressed("*"), 2.1)
    assert m.state is CallState.IN_CALL and isinstance(m.screen, InCallScreen)
    m.handle(ev.KeyPressed("A"), 2.2)
    m.handle(ev.KeyPressed("5"), 2.3)
    m.handle(ev.KeyPressed("A"), 2.4)
    assert m.state is CallState.IN_CALL and m.snapshot()["transfer"] is None
    # '#' with nothing keyed sends nothing
    m.handle(ev.KeyPressed("A"), 2.5)
    assert m.handle(ev.KeyPressed("#"), 2.6) == [] and m.state is CallState.TRANSFER_DIALING


def test_refused_transfer_keeps_the_call() -> None:
    m = in_call()
    m.handle(ev.TransferDialed("203"), 2.0)
    assert m.state is CallState.TRANSFERRING
    out = m.handle(ev.TransferAborted("486 Busy Here"), 3.0)
    assert m.state is CallState.IN_CALL and tones(out) == ["error"]
    assert m.snapshot()["transfer_failed"] == "486 Busy Here"
    assert m.security is Security.VERIFIED  # nothing about the call's security changed


def test_hanging_up_while_transferring_ends_the_call() -> None:
    m = in_call()
    m.handle(ev.TransferDialed("203"), 2.0)
    out = m.handle(ev.HookOn(), 2.5)
    assert of(out, ev.HangUp) and m.state is CallState.IDLE


def test_transferee_places_the_new_call_and_it_replaces_the_old() -> None:
    m = in_call()
    out = m.handle(ev.TransferStarted("sip:203@127.0.0.1:5064"), 2.0)
    assert m.state is CallState.CALLING and isinstance(m.screen, CallingScreen)
    assert m.security is Security.NONE and m.sas is None  # the new call is not secure yet
    assert "Transferring…" in m.screen.lines()
    assert not of(out, ev.PlaceCall)  # the call layer already placed it
    m.handle(ev.CallRinging(), 2.5)
    m.handle(ev.CallConnected(), 3.0)
    assert m.state is CallState.IN_CALL and m.transferred_from is None
    m.handle(ev.Secured("wxyz", False), 3.5)
    assert isinstance(m.screen, SasScreen) and m.sas == "wxyz"


def test_transferee_gets_the_old_call_back_when_the_new_one_fails() -> None:
    m = in_call()
    m.handle(ev.TransferStarted("sip:203@127.0.0.1:5064"), 2.0)
    m.handle(ev.TransferAborted("486 Busy Here"), 3.0)
    assert m.state is CallState.IN_CALL and m.peer == "202"
    assert m.security is Security.VERIFIED and m.sas == "abcd"
    # TransferFailed outside a transfer is ignored (an ordinary outgoing call)
    m2 = make()
    m2.handle(ev.DialRequested("202"), 0.0)
    before = m2.ignored
    assert m2.handle(ev.TransferAborted("x"), 0.1) == [] and m2.ignored == before + 1


def test_new_zid_is_a_warning_on_the_call_screens() -> None:
    m = make()
    m.handle(ev.DialRequested("202"), 0.0)
    m.handle(ev.PeerWarning("new_zid"), 0.1)
    m.handle(ev.CallConnected(), 1.0)
    m.handle(ev.Secured("abcd", False), 1.5)
    assert isinstance(m.screen, SasScreen) and "NEW PHONE ID" in m.screen.lines()[0]
    assert m.snapshot()["peer_warning"] == "new_zid" and m.security is Security.SECURE
    m.handle(ev.SasConfirmed(), 2.0)
    assert isinstance(m.screen, InCallScreen) and "NEW PHONE ID" in m.screen.lines()[0]
    m.handle(ev.HookOn(), 3.0)
    assert m.snapshot()["peer_warning"] is None  # per call


def test_zid_mismatch_is_a_possible_mitm() -> None:
    m = in_call()
    out = m.handle(ev.PeerWarning("zid_mismatch"), 2.0)
    assert m.security is Security.MISMATCH and tones(out) == ["mitm"]
    assert isinstance(m.screen, MitmScreen)
    assert m.handle(ev.PeerWarning("bogus"), 2.1) == []


def test_lan_warning_on_the_idle_screen_and_cleared() -> None:
    m = make()
    m.handle(ev.LanWarning("ext 201 also on LAN"), 0.0)
    assert isinstance(m.screen, IdleScreen) and "! ext 201 also on LAN" in m.screen.lines()
    m.handle(ev.StatusChanged("registered"), 0.1)  # the status does not hide it
    assert "! ext 201 also on LAN" in m.screen.lines()
    m.handle(ev.HookOff(), 0.2)
    m.handle(ev.LanWarning(""), 0.3)  # remembered in any state
    m.handle(ev.HookOn(), 0.4)
    assert m.snapshot()["lan_warning"] is None and "registered" in m.screen.lines()


def test_a_retained_secret_not_saved_is_shown_and_outranks_a_new_phone_id() -> None:
    """Issue 13 F7: the next call cannot check key continuity (RFC 6189 §4.9): say so."""
    m = make()
    m.handle(ev.DialRequested("202"), 0.0)
    m.handle(ev.PeerWarning("new_zid"), 0.1)
    m.handle(ev.CallConnected(), 1.0)
    m.handle(ev.Secured("abcd", False), 1.5)
    m.handle(ev.PeerWarning("not_saved"), 1.6)
    assert isinstance(m.screen, SasScreen) and "KEY NOT SAVED" in m.screen.lines()[0]
    assert m.snapshot()["peer_warning"] == "not_saved" and m.security is Security.SECURE
    m.handle(ev.PeerWarning("new_zid"), 1.7)  # a lesser warning does not hide it
    assert m.snapshot()["peer_warning"] == "not_saved"
    m.handle(ev.PeerWarning("zid_mismatch"), 1.8)  # a weightier one does
    assert m.snapshot()["peer_warning"] == "zid_mismatch" and m.security is Security.MISMATCH


def test_the_far_ends_notify_progress_is_on_the_transfer_screen() -> None:
    m = in_call()
    m.handle(ev.TransferDialed("203"), 2.0)
    m.handle(ev.TransferProgress(100, "Trying"), 2.1)
    assert m.screen.lines()[-1] == "100 Trying…"
    m.handle(ev.TransferProgress(180, "Ringing"), 2.5)
    assert isinstance(m.screen, TransferScreen) and m.screen.lines()[-1] == "180 Ringing…"
    assert m.snapshot()["transfer_progress"] == "180 Ringing"
    m.handle(ev.TransferSucceeded(), 3.0)
    assert m.state is CallState.ENDED and "Transferred" in m.snapshot()["screen"]


def test_a_failed_transfer_says_so_with_its_code_then_the_call_screen_returns() -> None:
    m = in_call()
    m.handle(ev.TransferDialed("203"), 2.0)
    m.handle(ev.TransferProgress(180, "Ringing"), 2.5)
    out = m.handle(ev.TransferAborted("486 Busy Here"), 3.0)
    assert tones(out) == ["error"] and m.state is CallState.IN_CALL
    assert isinstance(m.screen, TransferScreen)
    assert m.screen.lines()[0] == "Transfer 202 to" and m.screen.digits == "203"
    assert m.screen.lines()[-1] == "Transfer failed 486"
    assert m.snapshot()["transfer_failed"] == "486 Busy Here"
    assert m.snapshot()["transfer_progress"] is None
    m.handle_timer(3.0 + 1.0)  # still said
    assert m.screen.lines()[-1] == "Transfer failed 486"
    m.handle_timer(m.get_timer() + 3.0)
    assert isinstance(m.screen, InCallScreen) and m.screen.verified  # the call, as before
    # The next transfer starts afresh.
    m.handle(ev.TransferDialed("204"), 8.0)
    assert m.screen.lines()[-1] == "Transferring…"


def test_a_transfer_refused_without_a_status_says_failed() -> None:
    m = in_call()
    m.handle(ev.TransferDialed("203"), 2.0)
    m.handle(ev.TransferAborted("no NOTIFY before the subscription lapsed"), 3.0)
    assert m.screen.lines()[-1] == "Transfer failed"
