"""Call forwarding between real phone processes: A calls B, B forwards to C by 302 (its Contact
is C's extension routed by B's dial plan), A's phone follows the redirect and C rings."""

from __future__ import annotations

from pathlib import Path

from tests.e2e_routing.phones import phones, see_each_other, unique_extensions


def test_a_calls_b_which_forwards_always_to_c_and_c_rings(tmp_path: Path) -> None:
    x_a, x_b, x_c = unique_extensions(3)
    with phones(tmp_path, [("Alice", x_a, ""), ("Bob", x_b, ""), ("Carol", x_c, "")]) as (
            a, b, c):
        see_each_other([a, b, c])
        assert b.ctl("forward", "always", x_c) == {"mode": "always", "target": x_c,
                                                   "after": 20.0}
        assert f"Fwd {x_c}" in b.state()["screen"]
        a.ctl("dial", x_b)
        ringing = c.wait(call="ringing")
        assert "Alice" in ringing["screen"]
        assert b.state()["call"] == "idle"  # B never rang
        c.ctl("hook", "off")
        # ZRTP finds C's announced ZID: the 302 came from B and named C's address, so A expects
        # C now (a redirect elsewhere would keep B's expectation and warn WRONG PHONE ID).
        secured = a.wait(call="in_call", security="secure|verified")
        assert not secured["peer_warning"] and "WRONG" not in secured["screen"], secured
        c.wait(call="in_call")
        a.ctl("hangup")
        c.wait(call="ended")
        entry = b.ctl("history")["entries"][0]
        assert entry["direction"] == "forwarded" and x_a in entry["peer"]
        assert b.ctl("forward", "off")["mode"] == "off"
        assert "Fwd" not in b.state()["screen"]


def test_no_answer_forwarding_rings_b_first_then_c(tmp_path: Path) -> None:
    x_a, x_b, x_c = unique_extensions(3)
    extra_b = f'[phone]\nforward = "no_answer"\nforward_to = "{x_c}"\nforward_after = 2\n'
    with phones(tmp_path, [("Alice", x_a, ""), ("Bob", x_b, extra_b), ("Carol", x_c, "")]) as (
            a, b, c):
        see_each_other([a, b, c])
        a.ctl("hook", "off")
        a.ctl("dial", x_b)
        b.wait(call="ringing")
        c.wait(call="ringing")  # after B's two seconds of ringing
        b.wait(call="idle")
        a.ctl("hook", "on")
        c.wait(call="idle|ended")
        assert b.ctl("history")["entries"][0]["direction"] == "forwarded"
