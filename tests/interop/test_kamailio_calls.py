"""Two simulated deskphones registered with a real Kamailio (digest auth, record-routing proxy),
driven only through their control sockets: register, call by user name, ring, answer, ZRTP with
the same SAS, hang up from either side, cancel, 404, refresh, registrar death mid-call, and proof
that media goes straight from phone to phone."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from deskphone_tools.harness import PhoneProcess
from tests.interop.capture import ThreadedCapture
from tests.interop.kamailio import Kamailio, running_kamailio
from tests.interop.phones import account_phone
from tests.support import free_udp_port, require_tool

pytestmark = [pytest.mark.interop, pytest.mark.timeout(90)]


@pytest.fixture(scope="module")
def kamailio() -> Iterator[Kamailio]:
    with running_kamailio() as server:
        yield server


@pytest.fixture
def phones(kamailio: Kamailio, tmp_path: Path) -> Iterator[tuple[PhoneProcess, PhoneProcess]]:
    with registered_pair(kamailio, tmp_path) as pair:
        yield pair


def media_range() -> tuple[int, int]:
    """Ten even ports for one phone's media, somewhere free-looking."""
    base = free_udp_port() & ~1
    return (base, base + 19) if base + 19 < 65536 else (base - 20, base - 1)


@contextlib.contextmanager
def registered_pair(kamailio: Kamailio, root: Path, *, expires: int = 10,
                    media: bool = False) -> Iterator[tuple[PhoneProcess, PhoneProcess]]:
    alice = account_phone(root, "alice", "201", [kamailio.address], expires=expires,
                          media_ports=media_range() if media else None)
    bob = account_phone(root, "bob", "202", [kamailio.address], expires=expires,
                        media_ports=media_range() if media else None)
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


def test_callee_hangs_up(phones) -> None:
    alice, bob = phones
    call(alice, bob)
    bob.ctl("hook", "on")
    assert "Call ended" in alice.wait(call="ended")["screen"], logs(alice, bob)
    alice.ctl("hook", "on")
    alice.wait(call="idle")
    bob.wait(call="idle")


def test_caller_cancels_while_ringing(phones) -> None:
    alice, bob = phones
    alice.ctl("hook", "off")
    alice.ctl("press", "202#")
    bob.wait(call="ringing")
    alice.wait(call="calling", screen="~Ringing")
    alice.ctl("hook", "on")  # CANCEL through the proxy, 487 for the INVITE
    alice.wait(call="idle")
    state = bob.wait(call="idle|ended")
    assert state["call"] in ("idle", "ended"), logs(alice, bob)
    assert bob.state()["timeline"].get("answered") is None


def test_unknown_user_is_404_unreachable(phones) -> None:
    alice, _ = phones
    alice.ctl("hook", "off")
    alice.ctl("press", "203#")  # carol: no such user at the registrar
    state = alice.wait(call="ended", screen="~Unreachable")
    assert state["tone"] == "reorder", state
    alice.ctl("hook", "on")
    alice.wait(call="idle")


def test_dial_a_sip_uri_by_name_through_the_account(phones) -> None:
    alice, bob = phones
    alice.ctl("hook", "off")
    alice.ctl("dial", "sip:bob@sip.test")  # a domain: the default account's proxy takes it
    bob.wait(call="ringing")
    bob.ctl("hook", "off")
    sa = alice.wait(security="secure|verified", call="in_call")
    assert sa["sas"] == bob.wait(security="secure|verified")["sas"]
    alice.ctl("hook", "on")
    bob.wait(call="ended")


def test_dial_a_sip_uri_at_the_registrars_address_goes_through_the_account(
        phones, kamailio: Kamailio) -> None:
    """Issue 13 F8: `sip:bob@<the registrar's host:port>` (an IP literal) used to go out
    directly, without the account, and end in "Call failed 407"; it is in the account's domain,
    so it goes through the account and Kamailio's challenge is answered."""
    alice, bob = phones
    alice.ctl("hook", "off")
    alice.ctl("dial", f"sip:bob@{kamailio.address}")
    bob.wait(call="ringing")
    bob.ctl("hook", "off")
    sa = alice.wait(security="secure|verified", call="in_call")
    assert sa["sas"] == bob.wait(security="secure|verified")["sas"]
    alice.ctl("hook", "on")
    bob.wait(call="ended")


def test_short_expiry_is_refreshed(phones, kamailio: Kamailio) -> None:
    alice, _ = phones
    first = alice.state()["accounts"]["office"]
    assert first["expires"] == 10
    # RFC 3261 §10.2.4: refreshed before it lapses (half-way for short bindings).
    state = alice.wait(**{"accounts.office.registrations": f">{first['registrations']}"},
                       timeout=10)
    assert state["status"] == "registered"
    dump = kamailio.contacts()
    match = re.search(r"sip:alice@127\.0\.0\.1:\d+.*?Expires: (\d+)", dump, re.DOTALL)
    assert match and 0 < int(match.group(1)) <= 10, dump


def test_registrar_killed_mid_call_media_continues_and_hangup_ends_locally(
        tmp_path: Path) -> None:
    with running_kamailio() as kamailio, registered_pair(kamailio, tmp_path,
                                                         expires=600) as (alice, bob):
        call(alice, bob)
        kamailio.kill()
        before = alice.state()["media"]["packets_received"]
        later = alice.wait(**{"media.packets_received": f">{before + 50}"}, timeout=10)
        assert later["call"] == "in_call" and later["security"] in ("secure", "verified")
        bob_before = bob.state()["media"]["packets_received"]
        bob.wait(**{"media.packets_received": f">{bob_before + 50}"}, timeout=10)
        # RFC 3261 §15.1.1: the BYE follows the route set, through the dead proxy; it cannot
        # arrive, but the caller's call ends at once, locally, and the phone is free again.
        alice.ctl("hook", "on")
        alice.wait(call="idle", timeout=5)
        # Bob never hears the BYE; his audio stops. His own hang-up ends his side cleanly too.
        bob.ctl("hook", "on")
        bob.wait(call="idle", timeout=5)
        for phone in (alice, bob):
            assert "Traceback" not in phone.log_path.read_text(), phone.log_tail()


def test_media_is_direct_never_through_the_proxy(kamailio: Kamailio, tmp_path: Path) -> None:
    require_tool("dumpcap")
    with registered_pair(kamailio, tmp_path, media=True) as (alice, bob):
        ports = [kamailio.port]
        for phone in (alice, bob):
            low, high = (int(x) for x in re.findall(r"port_(?:min|max) = (\d+)",
                                                    phone.config_text))
            ports += range(low, high + 1)
        capture = ThreadedCapture(tmp_path / "call.pcap", ports)
        capture.start()
        try:
            sa, sb = call(alice, bob)
            alice.wait(**{"media.packets_received": ">25"})
            bob.wait(**{"media.packets_received": ">25"})
            alice.ctl("hook", "on")
            bob.wait(call="ended")
        finally:
            datagrams = capture.stop()
    proxy = ("127.0.0.1", kamailio.port)
    a_media, b_media = sb["remote_media"], sa["remote_media"]  # each as the other sees it
    kinds: dict[str, int] = {}
    for d in datagrams:
        kinds[d.kind] = kinds.get(d.kind, 0) + 1
        if proxy in (d.src, d.dst):
            assert d.kind == "sip", f"{d.kind} datagram {d.src}->{d.dst} touches the proxy"
        if d.kind in ("rtp", "rtcp", "zrtp"):
            ends = {f"{d.src[0]}:{d.src[1]}", f"{d.dst[0]}:{d.dst[1]}"}
            assert ends == {a_media, b_media}, (d, a_media, b_media)
    assert kinds.get("zrtp", 0) >= 8 and kinds.get("rtp", 0) >= 50, kinds
    # The SDP each phone sent (as relayed by the proxy, untouched) points at the phone itself.
    offers = [d.payload for d in datagrams if d.kind == "sip" and b"\r\nm=audio " in d.payload]
    seen = set()
    for payload in offers:
        body = payload.split(b"\r\n\r\n", 1)[1].decode()
        host = re.search(r"^c=IN IP4 (\S+)", body, re.MULTILINE).group(1)  # type: ignore[union-attr]
        port = re.search(r"^m=audio (\d+)", body, re.MULTILINE).group(1)  # type: ignore[union-attr]
        assert f"{host}:{port}" in (a_media, b_media), body
        assert port != str(kamailio.port)
        seen.add(f"{host}:{port}")
    assert seen == {a_media, b_media}, (seen, a_media, b_media)
