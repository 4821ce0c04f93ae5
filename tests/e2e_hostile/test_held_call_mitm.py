"""A man in the middle on the call that is on hold (issue 15 item 2): each call of several has
its own ZRTP session, and a mismatch on the held one is never lost behind the call in the
earpiece. It is flagged at once on the screen ("! Held: ...", `calls` lists it as mismatch) and
when that call comes back to the earpiece the phone shows POSSIBLE MITM and sounds the alarm.

B (ext 202) first talks to C (ext 203) directly. A, who verified B's SAS in an earlier direct
call, then calls B through the relay that poses as each phone towards the other (it copies the
ZIDs from the Hellos: RFC 6189 §4.6.1.1, the cached secret cannot match). B answers A (C goes on
hold) and swaps straight back to C, so A's call is held whether its handshake finished before or
after the swap; B then swaps to A again.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from deskphone_tools.harness import PhoneProcess, lan_config
from deskphone_tools.testnet import MitmRelay
from tests.e2e.test_call_waiting import call_id_of

from .hostile import SECURED, phones_behind, sip_address
from .test_mitm import hang_up_both, verified_direct_call

pytestmark = pytest.mark.timeout(120)


def test_a_mismatch_on_the_held_call_is_flagged_at_once_and_alarms_when_it_comes_back(
        tmp_path: Path) -> None:
    with phones_behind(tmp_path, lambda loop, target: MitmRelay(
            loop, target, impersonate_zids=True)) as net:
        a, b = net.a, net.b
        verified_direct_call(net)
        host, port = sip_address(b)
        c = PhoneProcess("C", "203", tmp_path / "c", lan_config(
            "203", "Carol", extra=('[discovery]\nenabled = false\n[dialplan.speed_dial]\n'
                                   f'"2" = "sip:ext202@{host}:{port}"\n')))
        c.start()
        try:
            # B and C, direct: a call of its own, secure with its own SAS.
            c.ctl("hook", "off")
            c.ctl("press", "2#")
            net.wait(b, 15, call="ringing")
            b.ctl("hook", "off")
            sbc = net.wait(b, 15, call="in_call", security="secure|verified", peer="~Carol")
            net.wait(c, 15, call="in_call", security="secure|verified", sas=sbc["sas"])

            # A calls B through the attacker: it waits at B; B answers it and swaps back.
            a.ctl("hook", "off")
            a.ctl("press", "1#")
            net.wait(b, 15, waiting="~Alice")
            b.ctl("answer", call_id_of(b, "Alice"))
            b.ctl("swap")
            # A sees its own call as the possible MITM it is.
            sa = net.wait(a, 20, call="in_call", security="mismatch")
            assert "POSSIBLE MITM" in sa["screen"], net.diagnostics()

            # B: Carol in the earpiece, her call's security on screen, Alice's alarm beside it.
            flagged = net.wait(b, 20, peer="~Carol", screen="~! Held")
            assert flagged["sas"] == sbc["sas"] and flagged["security"] in ("secure", "verified")
            assert flagged["tone"] != "mitm", net.diagnostics()  # the alarm is Alice's call's
            listed = {call["peer"]: call for call in b.ctl("calls")}
            held = next(call for peer, call in listed.items() if "Alice" in peer)
            assert held["state"] == "held" and held["security"] == "mismatch", listed
            assert held["sas"] and held["sas"] != sbc["sas"], listed

            # Alice's call comes back: POSSIBLE MITM and the alarm, at once.
            b.ctl("swap")
            back = net.wait(b, 15, peer="~Alice", security="mismatch", tone="mitm")
            assert "POSSIBLE MITM" in back["screen"], net.diagnostics()
            assert back["sas"] == held["sas"] != sa["sas"], net.diagnostics()
            # The call it was held beside keeps its own, good security.
            carol = next(call for call in b.ctl("calls") if "Carol" in call["peer"])
            assert carol["state"] == "held" and carol["security"] in ("secure", "verified")
            assert carol["security"] in SECURED

            c.ctl("hook", "on")
            net.wait(c, 15, call="idle|ended")
            hang_up_both(net)
        finally:
            c.stop()
