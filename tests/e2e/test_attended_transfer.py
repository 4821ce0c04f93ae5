"""Attended transfer between three simulated phones (issue 15 item 3; RFC 5589 §7, RFC 3891).

A talks to B; C calls A, who answers (B is held) and consults C; `transfer --attended B`
sends B a REFER whose Refer-To names C with `?Replaces=` the A-C dialog. B (transferee) calls C
with that Replaces; C (target) answers it at once in the A-C call's place, which it ends; A hangs
up B on NOTIFY 200. B and C end up in a call of their own, with a ZRTP session and SAS of their
own (not the ones either had with A).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.test_call_waiting import a_calls_b, call_id_of, trio


@pytest.mark.parametrize("how", ["ctl", "xfer_key"])
def test_attended_transfer_in_all_three_roles(tmp_path: Path, how: str) -> None:
    with trio(tmp_path) as t:
        a, b, c = t.a, t.b, t.c
        sab = a_calls_b(t)
        c.ctl("dial", a.extension)
        a.wait(waiting="Carol")
        a.ctl("answer", call_id_of(a, "Carol"))
        sac = a.wait(peer="Carol", security="secure|verified", call="in_call")
        c.wait(call="in_call", security="secure|verified")
        b.wait(direction="recvonly")

        if how == "xfer_key":  # XFER (A) during the consultation: the held call goes over
            a.ctl("press", "A")
        else:
            a.ctl("transfer", "--attended", call_id_of(a, b.extension))
        done = a.wait(call="ended|idle")
        assert "Transferred" in done["screen"] and a.state()["calls"] == []
        # C: the A-C call was replaced by B's call, answered at once; B: its new call is up.
        sbc = c.wait(call="in_call", peer="~Bob", security="secure|verified")
        sb = b.wait(call="in_call", security="secure|verified", sas=sbc["sas"])
        assert sbc["sas"] == sb["sas"] and sbc["sas"] not in (sab["sas"], sac["sas"])
        assert len(c.ctl("calls")) == 1 and len(b.ctl("calls")) == 1
        b.ctl("hangup")
        c.wait(call="ended|idle")

