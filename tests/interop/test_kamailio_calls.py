"""Two simulated deskphones registered with a real Kamailio (digest auth, record-routing proxy),
driven only through their control sockets: register, call by user name, ring, answer, ZRTP with
the same SAS, hang up from either side, cancel, 404, refresh, registrar death mid-call, and proof
that media goes straight from phone to phone."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from deskphone.harness import PhoneProcess
from tests.interop.kamailio import Kamailio, running_kamailio
from tests.interop.phones import account_phone

pytestmark = [pytest.mark.interop, pytest.mark.timeout(90)]


@pytest.fixture(scope="module")
def kamailio() -> Iterator[Kamailio]:
    with running_kamailio() as server:
        yield server


@pytest.fixture
def phones(kamailio: Kamailio, tmp_path: Path) -> Iterator[tuple[PhoneProcess, PhoneProcess]]:
    alice = account_phone(tmp_path, "alice", "201", [kamailio.address], expires=60)
    bob = account_phone(tmp_path, "bob", "202", [kamailio.address], expires=60)
    try:
        alice.start()
        bob.start()
        for phone in (alice, bob):
            state = phone.wait(status="registered", timeout=10)
            assert state["accounts"]["office"]["registrar"] == kamailio.address
        yield alice, bob
    finally:
        alice.stop()
        bob.stop()


def logs(*phones: PhoneProcess) -> str:
    return "\n".join(f"--- {p.name}\n{p.log_tail()}" for p in phones)


def call(alice: PhoneProcess, bob: PhoneProcess, number: str = "202") -> tuple[dict, dict]:
    alice.ctl("hook", "off")
    alice.ctl("press", number + "#")
    ringing = bob.wait(call="ringing")
    assert "Alice" in ringing["screen"], ringing["screen"]
    alice.wait(call="calling", screen="~Ringing")
    bob.ctl("hook", "off")
    sa = alice.wait(security="secure|verified", call="in_call")
    sb = bob.wait(security="secure|verified", call="in_call")
    return sa, sb


def test_register_call_by_name_same_sas_caller_hangs_up(phones, kamailio: Kamailio) -> None:
    alice, bob = phones
    assert "registered" in alice.state()["screen"].lower()
    dump = kamailio.contacts()
    assert "sip:alice@" in dump and "sip:bob@" in dump, dump
    sa, sb = call(alice, bob)
    assert sa["sas"] and sa["sas"] == sb["sas"], logs(alice, bob)
    alice.ctl("hook", "on")
    assert "Call ended" in bob.wait(call="ended")["screen"]
    bob.ctl("hook", "on")
    alice.wait(call="idle")
    bob.wait(call="idle")
