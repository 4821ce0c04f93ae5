"""Blind transfer (RFC 3515) between three phone processes: A calls B, B sends A on to C."""

from __future__ import annotations

from pathlib import Path

from deskphone_tools.harness import PhoneProcess
from tests.e2e_routing.phones import phones, see_each_other, unique_extensions


def _call(a: PhoneProcess, b: PhoneProcess) -> None:
    a.ctl("hook", "off")
    a.ctl("press", f"{b.extension}#")
    b.wait(call="ringing")
    b.ctl("hook", "off")
    a.wait(call="in_call", security="secure|verified")
    b.wait(call="in_call", security="secure|verified")


def test_b_transfers_a_to_c_with_the_transfer_key(tmp_path: Path) -> None:
    x_a, x_b, x_c = unique_extensions(3)
    with phones(tmp_path, [("Alice", x_a, ""), ("Bob", x_b, ""), ("Carol", x_c, "")]) as group:
        a, b, c = group
        see_each_other(group)
        _call(a, b)
        sas_ab = a.state()["sas"]
        # B presses XFER (A on the 4x4 keypad), keys C's extension and # (RFC 3515 REFER)
        b.ctl("press", "A")
        assert b.wait(call="transfer_dialing")["screen"].startswith("Transfer")
        b.ctl("press", f"{x_c}#")
        ringing = c.wait(call="ringing")
        assert "Alice" in ringing["screen"], c.log_tail()
        # A's NOTIFY sipfrag (RFC 3515 §2.4.5) is B's progress line
        progress = b.wait(call="transferring", transfer_progress="180 Ringing")
        assert "180 Ringing…" in progress["screen"], progress
        a_state = a.wait(call="calling", screen="~Ringing")  # ringback from C
        assert a_state["security"] == "none"  # the new call is not secure until ZRTP says so
        c.ctl("hook", "off")
        sa = a.wait(call="in_call", security="secure|verified")
        sc = c.wait(call="in_call", security="secure|verified")
        assert sa["sas"] == sc["sas"] and sa["sas"] != sas_ab, (a.log_tail(), c.log_tail())
        assert sa["peer"].startswith("sip:") and x_c in sa["peer"]
        ended = b.wait(call="ended")
        assert "Transferred" in ended["screen"], b.log_tail()
        a.wait(**{"media.packets_received": ">25"})  # audio flows on the new call
        assert a.state()["call_id"] == sa["call_id"]  # the call with B is gone, C's remains
        a.ctl("hook", "on")
        c.wait(call="ended")


def test_transfer_to_a_busy_phone_keeps_the_call(tmp_path: Path) -> None:
    x_a, x_b, x_c = unique_extensions(3)
    with phones(tmp_path, [("Alice", x_a, ""), ("Bob", x_b, ""), ("Carol", x_c, "")]) as group:
        a, b, c = group
        see_each_other(group)
        _call(a, b)
        before = a.state()
        c.ctl("hook", "off")  # C is busy dialling
        c.wait(call="offhook")
        b.ctl("transfer", x_c)
        failed = b.wait(call="in_call", transfer_failed="~486")
        assert failed["security"] in ("secure", "verified"), b.log_tail()
        assert "Transfer failed 486" in failed["screen"], failed  # said a moment, then the call
        back = a.wait(call="in_call", transfer_failed="~486")
        assert back["sas"] == before["sas"] and back["call_id"] == before["call_id"]
        a.wait(**{"media.packets_received": f">{before['media']['packets_received'] + 25}"})
        a.ctl("hook", "on")
        b.wait(call="ended")
