"""One event-loop wake-up per 20 ms frame on the ICE pair (issue 14 must-have 1), as a count.

Once a call is secure, the stream reads the nominated pair's socket at its tick ("drained"
mode, media/ice/takeover.py): the loop wakes for the tick and not again for each datagram. The
count is the event-loop thread's voluntary context switches (each one a sleep in epoll that
ended) over 250 received frames, read from /proc: the tick gives one per frame, the control
socket's `wait` and the ICE consent/RTCP timers a few more; a reader woken per datagram would
add a whole one per frame (about 2 per frame instead of about 1.3). No time is measured.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from deskphone_tools.harness import PhonePair, PhoneProcess
from tests.e2e.test_lan_call import call_and_answer
from tests.nat.test_ice_loopback import StunResponder, stun  # noqa: F401 — the fixture

pytestmark = [pytest.mark.timeout(60)]

FRAMES = 250
MOST_WAKE_UPS_PER_FRAME = 1.7


def _wake_ups(phone: PhoneProcess) -> int:
    assert phone.proc is not None
    with open(f"/proc/{phone.proc.pid}/status") as status:  # the main (event-loop) thread
        for line in status:
            if line.startswith("voluntary_ctxt_switches:"):
                return int(line.split()[1])
    raise AssertionError(f"{phone.name}: no voluntary_ctxt_switches in /proc status")


def test_the_ice_pair_costs_one_wake_up_per_frame(tmp_path: Path,
                                                  stun: StunResponder) -> None:  # noqa: F811
    nat = f'[nat]\nstun = "127.0.0.1:{stun.port}"\n'
    with PhonePair(tmp_path / "phones", extra_a=nat) as phones:
        a, b = phones.a, phones.b
        a.wait(lan_peers=f"~{b.extension}")
        call_and_answer(a, b)
        for phone in (a, b):
            state = phone.wait(**{"media.packets_received": ">50"})
            assert state["ice"]["path"] == "direct", state
            assert state["media"]["receive_mode"] == "drained", state
        for phone in (a, b):
            before = phone.state()["media"]["packets_received"]
            woken = _wake_ups(phone)
            after = phone.wait(**{"media.packets_received": f">{before + FRAMES}"})
            woken = _wake_ups(phone) - woken
            frames = after["media"]["packets_received"] - before
            assert woken <= MOST_WAKE_UPS_PER_FRAME * frames, (phone.name, woken, frames)
        a.ctl("hook", "on")
        b.wait(call="ended")
