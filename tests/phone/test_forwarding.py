"""Call forwarding in the phone machine: always, busy, no answer after N s; each forwarded caller
is a `forwarded` history entry, and the idle screen says where calls go."""

from __future__ import annotations

import pytest

from deskphone.config import ConfigError, config_from_dict
from deskphone.phone import events as ev
from deskphone.phone.machine import CallState, MachineSettings, PhoneMachine

BOB = ev.CallArrived("c1", "sip:202@h", "Bob")


def make(**settings: object) -> PhoneMachine:
    m = PhoneMachine(MachineSettings(extension="201", display_name="Alice", **settings))
    m.start(0.0)
    return m


def forwarded(out: list[ev.Command]) -> list[tuple[str, str]]:
    return [(c.call_id, c.target) for c in out if isinstance(c, ev.ForwardCall)]


def test_always_forwards_without_ringing_and_records_it() -> None:
    m = make()
    m.handle(ev.ForwardSet("always", "205"), 0.0)
    assert "Fwd 205" in m.snapshot()["screen"]
    assert m.snapshot()["forward"] == {"mode": "always", "target": "205", "after": 20.0}
    out = m.handle(BOB, 1.0)
    assert forwarded(out) == [("c1", "205")] and not [c for c in out if isinstance(c, ev.Ring)]
    assert [(c.direction, c.peer) for c in out if isinstance(c, ev.RecordCall)] == [
        ("forwarded", "sip:202@h")]
    assert m.state is CallState.IDLE
    m.handle(ev.DndSet(True), 2.0)  # forwarding comes before do not disturb
    assert forwarded(m.handle(BOB, 3.0)) == [("c1", "205")]
    m.handle(ev.ForwardSet("off"), 4.0)
    assert "Fwd" not in m.snapshot()["screen"]
    assert ev.RejectCall("c1", 486) in m.handle(BOB, 5.0)  # DND again


def test_busy_forwards_only_while_the_phone_is_busy() -> None:
    m = make(forward="busy", forward_to="sip:desk@10.0.0.9")
    assert "Busy>desk" in m.snapshot()["screen"]
    m.handle(BOB, 1.0)
    assert m.state is CallState.RINGING  # not busy: it rings
    m.handle(ev.HookOff(), 2.0)
    assert m.state is CallState.IN_CALL
    out = m.handle(ev.CallArrived("c2", "sip:203@h", "Carol"), 3.0)  # would have waited
    assert forwarded(out) == [("c2", "sip:desk@10.0.0.9")]
    assert m.state is CallState.IN_CALL and not m.others


def test_no_answer_forwards_after_n_seconds_of_ringing() -> None:
    m = make(forward="no_answer", forward_to="205", forward_after=15.0)
    assert "15s>205" in m.snapshot()["screen"]
    m.handle(BOB, 10.0)
    assert m.get_timer() == 25.0
    assert m.handle_timer(24.0) == [] and m.state is CallState.RINGING
    out = m.handle_timer(25.0)
    assert forwarded(out) == [("c1", "205")] and ev.Ring(False) in out
    records = [c for c in out if isinstance(c, ev.RecordCall)]
    assert [(r.direction, r.name) for r in records] == [("forwarded", "Bob")]
    assert m.state is CallState.IDLE


def test_forwarding_config_is_validated_with_the_key_named() -> None:
    phone = config_from_dict({"phone": {"forward": "no_answer", "forward_to": "205",
                                        "forward_after": 12}}).phone
    assert (phone.forward, phone.forward_to, phone.forward_after) == ("no_answer", "205", 12.0)
    assert config_from_dict({}).phone.forward == "off"
    for bad, key in (({"forward": "sometimes"}, "phone.forward"),
                     ({"forward": "always"}, "phone.forward_to"),
                     ({"forward": "always", "forward_to": "2 05"}, "phone.forward_to"),
                     ({"forward": "busy", "forward_to": "205", "forward_after": 0},
                      "forward_after")):
        with pytest.raises(ConfigError, match=key):
            config_from_dict({"phone": bad})
