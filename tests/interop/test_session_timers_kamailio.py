"""RFC 4028 session timers between two deskphones through Kamailio (a record-routing proxy).

Both phones ask for a 90 s session (the RFC 4028 §4 minimum) and have media inactivity off, so
that it is the session timer alone that notices a vanished peer: the call survives the caller's
refreshes (re-INVITEs through the proxy at half the interval, §10, the call staying secure);
then one phone is killed with SIGKILL, and the other ends the call ("Connection lost", with a
BYE) within one session interval: the callee because no refresh came (§10), the caller because
its refresh got no answer.
"""

from __future__ import annotations

import contextlib
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from deskphone_tools.harness import PhoneProcess
from tests.interop.kamailio import Kamailio, running_kamailio
from tests.interop.phones import account_phone
from tests.interop.test_kamailio_calls import call, logs

pytestmark = [pytest.mark.interop, pytest.mark.timeout(300)]

INTERVAL = 90
TIMED = "session_expires = 90"
NO_MEDIA_WATCH = "\n[media]\ninactivity_timeout = 0\n"


@pytest.fixture(scope="module")
def kamailios() -> Iterator[tuple[Kamailio, Kamailio]]:
    """Two proxies, so that the two crash cases (its own alice and bob each) run side by side:
    the session interval is at least 90 s (RFC 4028 §4), and the suite should not wait it twice."""
    with running_kamailio() as first, running_kamailio() as second:
        yield first, second


@contextlib.contextmanager
def timed_pair(kamailio: Kamailio, root: Path) -> Iterator[tuple[PhoneProcess, PhoneProcess]]:
    alice = account_phone(root, "alice", "201", [kamailio.address], sip=TIMED,
                          extra=NO_MEDIA_WATCH)
    bob = account_phone(root, "bob", "202", [kamailio.address], sip=TIMED, extra=NO_MEDIA_WATCH)
    try:
        alice.start()
        bob.start()
        for phone in (alice, bob):
            phone.wait(status="registered", timeout=10)
        yield alice, bob
    finally:
        alice.stop()
        bob.stop()


def refreshed_and_flowing(alice: PhoneProcess, bob: PhoneProcess) -> None:
    # §9: the callee lets the caller (who supports timers) refresh; §10: at 45 s.
    refreshed = alice.wait(INTERVAL, **{"sip_stats.session_refreshes_sent": ">0"})
    context = logs(alice, bob)
    assert refreshed["call"] == "in_call", context
    assert refreshed["security"] in ("secure", "verified"), context
    assert bob.state()["sip_stats"]["session_refreshes_sent"] == 0, context
    before = bob.state()["media"]["packets_received"]
    after = bob.wait(**{"media.packets_received": f">{before + 50}"}, timeout=10)
    assert after["call"] == "in_call" and after["security"] in ("secure", "verified")


def test_calls_through_kamailio_survive_refreshes_and_end_after_a_crash_of_either_side(
        kamailios: tuple[Kamailio, Kamailio], tmp_path: Path) -> None:
    with timed_pair(kamailios[0], tmp_path / "caller-killed") as first, \
            timed_pair(kamailios[1], tmp_path / "callee-killed") as second:
        call(*first)
        call(*second)
        refreshed_and_flowing(*first)
        refreshed_and_flowing(*second)
        cases = {"caller": (first[0], first[1]), "callee": (second[1], second[0])}
        crashed = {}
        for killed, (victim, _) in cases.items():
            assert victim.proc is not None
            victim.proc.send_signal(signal.SIGKILL)
            crashed[killed] = time.monotonic()
            victim.proc.wait(5)
        for killed, (_, survivor) in cases.items():
            ended = survivor.wait(INTERVAL + 30, call="ended")
            # waited one after the other: for the second case this is an upper bound
            took = time.monotonic() - crashed[killed]
            print(f"{killed} killed -> the other phone ended the call after {took:.1f} s "
                  f"(Session-Expires {INTERVAL})")
            context = logs(survivor)
            assert "Connection lost" in ended["screen"], context
            stats = survivor.state()["sip_stats"]
            if killed == "caller":
                assert stats["sessions_expired"] == 1, context  # §10: the non-refresher's BYE
            assert took < INTERVAL, context
            assert "Traceback" not in survivor.log_path.read_text(), context
