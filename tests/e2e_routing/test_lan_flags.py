"""LAN identity flags on screen: our extension announced twice; a callee with a new ZRTP ZID."""

from __future__ import annotations

import shutil
from pathlib import Path

from deskphone_tools.harness import PhoneProcess, lan_config
from tests.e2e_routing.phones import phones, see_each_other, unique_extensions


def test_two_phones_claiming_one_extension_both_warn_until_one_leaves(tmp_path: Path) -> None:
    (x,) = unique_extensions(1)
    with phones(tmp_path, [("Alice", x, ""), ("Alex", x, "")]) as (a, b):
        for phone in (a, b):
            idle = phone.wait(lan_warning=f"~ext {x} also on LAN")
            assert idle["call"] == "idle" and f"! ext {x} also on LAN" in idle["screen"]
        b.stop()  # its mDNS goodbye takes the claim away
        cleared = a.wait(lan_warning="null")
        assert "also on LAN" not in cleared["screen"], a.log_tail()


def test_callee_restarted_with_a_new_zid_is_flagged_on_the_call_screen(tmp_path: Path) -> None:
    x_a, x_b = unique_extensions(2)
    with phones(tmp_path, [("Alice", x_a, ""), ("Bob", x_b, "")]) as (a, b):
        see_each_other([a, b])
        # a first, normal call: nothing to warn about
        a.ctl("dial", x_b)
        b.wait(call="ringing")
        b.ctl("hook", "off")
        first = a.wait(call="in_call", security="secure|verified")
        assert first["peer_warning"] is None
        a.ctl("hangup")
        b.ctl("hook", "on")
        b.wait(call="idle")
        # Bob's phone is reset: its ZRTP cache (and so its ZID) is wiped, same extension
        b.stop()
        shutil.rmtree(b.workdir / "data")
        reborn = PhoneProcess("Bob", x_b, b.workdir, lan_config(x_b, "Bob"))
        reborn.start()
        try:
            a.wait(call="idle")
            reborn.wait(lan_peers=f"~{x_a}")
            a.wait(lan_peers=f"~{x_b}")
            a.ctl("dial", x_b)
            calling = a.wait(call="calling", peer_warning="new_zid")
            assert calling["call"] == "calling"
            reborn.wait(call="ringing")
            reborn.ctl("hook", "off")
            sa = a.wait(call="in_call", security="secure")  # new ZID: nothing cached, not verified
            assert "NEW PHONE ID" in sa["screen"], a.log_tail()
            assert sa["peer_warning"] == "new_zid"
            a.ctl("hangup")
        finally:
            reborn.stop()
