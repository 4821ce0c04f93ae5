"""An attacker on the media path who cannot break ZRTP but drops, forges or plants packets, between
two real phone processes (issue 13, findings 4, 5 and 6).

The relay (deskphone_tools.testnet.tamper) forwards SIP and media between A and B and tampers
with ZRTP only. What must hold each time: both phones end up SECURE with the same SAS and audio
flows, encrypted (no payload the relay carried decodes as A's tone), or, where the attack is
detectable, the phone says at once that it is an attack.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from deskphone.media.codecs.g711 import G711Codec
from deskphone.zrtp import packets
from deskphone.zrtp.cache import ZrtpCache
from deskphone.zrtp.session import ZrtpConfig, ZrtpSession
from deskphone_tools.testnet import Side, Tampering, TamperingRelay
from tests.call_audio import dominant_frequency

from .hostile import RATE, TONE_HZ, Hostile, call_through_relay, phones_behind

pytestmark = pytest.mark.timeout(90)

CONF2ACK = packets.CONF2_ACK.type_block


def _relay(tampering: Tampering):
    return lambda loop, target: TamperingRelay(loop, target, tampering)


def _counters(net: Hostile) -> dict[str, int]:
    return net.relay.call(lambda r: dict(r.latest().counters))


def _roles(sa: dict, sb: dict) -> tuple[dict, dict]:
    """(initiator's state, responder's state)."""
    if sa["zrtp"]["role"] == "initiator":
        assert sb["zrtp"]["role"] == "responder"
        return sa, sb
    assert sb["zrtp"]["role"] == "initiator" and sa["zrtp"]["role"] == "responder"
    return sb, sa


def _assert_audio_encrypted_and_heard(net: Hostile) -> None:
    """B plays A's tone (SRTP decrypted at B); nothing the relay carried from A is that tone in
    the clear (RFC 3711: the payload is encrypted), nor did either phone take cleartext."""
    a, b = net.a, net.b
    net.wait(b, 20, **{"media.packets_received": ">100"})
    carried = net.relay.call(lambda r: list(r.latest().payloads[Side.CALLER]))
    assert len(carried) > 100, len(carried)
    as_plain = G711Codec(alaw=False).decode(b"".join(p[:160] for p in carried[-50:]))
    freq, share = dominant_frequency(as_plain)
    assert not (abs(freq - TONE_HZ) < 20 and share > 0.5), ("cleartext tone on the wire",
                                                           freq, share)
    for phone in (a, b):
        media = phone.state()["media"]
        assert media["secure"] and media["dropped_cleartext"] == 0, media
        assert media["srtp_contexts"] == 1, media  # RFC 3711 §9.1, one context per key
    a.ctl("hook", "on")
    net.wait(b, 15, call="ended")
    played = net.b_playback.read_bytes()
    assert len(played) > RATE
    freq, share = dominant_frequency(played[-RATE * 2:][:RATE])
    assert abs(freq - TONE_HZ) < 20 and share > 0.5, (freq, share)


def test_every_conf2ack_dropped_both_phones_secure_with_the_same_sas(tmp_path: Path) -> None:
    """RFC 6189 §4.6/§5.8: the initiator takes the responder's authenticated SRTP as Conf2ACK."""
    with phones_behind(tmp_path, _relay(Tampering(drop=frozenset({CONF2ACK})))) as net:
        sa, sb = call_through_relay(net)
        assert sa["security"] == sb["security"] == "secure", net.diagnostics()
        assert sa["sas"] and sa["sas"] == sb["sas"], net.diagnostics()
        initiator, _ = _roles(sa, sb)
        # every Conf2ACK really was dropped, and the initiator did not wait its Confirm2
        # retransmissions out: it went secure on the responder's first SRTP packet
        assert any("Conf2ACK dropped" in name for name in _counters(net)), _counters(net)
        assert initiator["zrtp"]["conf2ack_implicit"] == 1, initiator["zrtp"]
        assert initiator["zrtp"]["conf2ack_missing"] == 0, initiator["zrtp"]
        _assert_audio_encrypted_and_heard(net)


def test_forged_zrtp_errors_neither_downgrade_nor_clear_the_call(tmp_path: Path) -> None:
    """§5.9: Error is unauthenticated. Forged after Confirm1 (the initiator's point of no
    return), after Confirm2 and Conf2ACK, and every 25 media packets to both phones."""
    tampering = Tampering(error_after=frozenset({b"Confirm1", b"Confirm2", CONF2ACK}),
                          error_every=25)
    with phones_behind(tmp_path, _relay(tampering)) as net:
        sa, sb = call_through_relay(net)
        assert sa["security"] == sb["security"] == "secure", net.diagnostics()
        assert sa["sas"] and sa["sas"] == sb["sas"], net.diagnostics()
        net.wait(net.b, 20, **{"media.packets_received": ">150"})
        counters = _counters(net)
        assert counters.get("forged Error to caller", 0) > 3, counters
        assert counters.get("forged Error to callee", 0) > 3, counters
        initiator, _ = _roles(net.a.state(), net.b.state())
        # the one the attack aims at: the initiator between Confirm1 and Conf2ACK
        assert initiator["zrtp"]["errors_ignored"] >= 1, initiator["zrtp"]
        for phone in (net.a, net.b):
            state = phone.state()
            assert state["security"] == "secure", state  # still, after all those Errors
            zrtp = state["zrtp"]
            assert zrtp["errors_received"] > 3 and zrtp["errors_ignored"] == zrtp[
                "errors_received"], zrtp
        _assert_audio_encrypted_and_heard(net)


def _hello_from_elsewhere() -> bytes:
    """A well-formed ZRTP Hello from an endpoint nobody signalled (§5.2)."""
    session = ZrtpSession(ZrtpConfig(zid=ZrtpCache(":memory:").local_zid()), 0x1234,
                          lookup_secrets=lambda zid: None, store_secrets=lambda update: None)
    session.start(0.0)
    (hello,) = session.datagrams_to_send(0.0)
    assert packets.message_type(packets.decode_packet(hello).message) == b"Hello   "
    return hello


def test_hello_planted_at_the_callers_port_while_it_rings_is_dropped(tmp_path: Path) -> None:
    """Issue 13 F5: before the answer names B's media address, A's port takes ZRTP from anyone;
    only what comes from the address the answer signals may reach the handshake."""
    with phones_behind(tmp_path, _relay(Tampering())) as net:
        a, b = net.a, net.b
        a.ctl("hook", "off")
        a.ctl("press", "1#")
        net.wait(b, 15, call="ringing")
        remote = net.relay.call(lambda r: r.latest().remote[Side.CALLER])
        assert remote is not None  # A's media address, from its offer
        hello = _hello_from_elsewhere()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as off_path:
            off_path.bind(("127.0.0.1", 0))
            for _ in range(3):
                off_path.sendto(hello, remote)
            # the planted Hellos reached A's ZRTP driver (kept, since no answer yet)
            net.wait(a, 10, **{"media.zrtp_received": ">2"})
        b.ctl("hook", "off")
        sa = net.wait(a, 15, security="secure|verified|mismatch|not_secure", call="in_call")
        sb = net.wait(b, 15, security="secure|verified|mismatch|not_secure", call="in_call")
        assert sa["security"] == sb["security"] == "secure", net.diagnostics()
        assert sa["sas"] and sa["sas"] == sb["sas"], net.diagnostics()
        assert sa["zrtp"]["dropped_early_foreign"] == 3, sa["zrtp"]
        assert sa["zrtp"]["dropped_hello_hash"] == 0 and sa["possible_attack"] is False
        a.ctl("hook", "on")
        net.wait(b, 15, call="ended")


def test_hello_failing_the_signalled_zrtp_hash_is_shown_as_an_attack(tmp_path: Path) -> None:
    """RFC 6189 §8.1.1: a Hello that does not match the a=zrtp-hash of the signalling is
    evidence of an attack: the screen says POSSIBLE ATTACK with the alarm, not a generic NOT
    SECURE after a timeout."""
    with phones_behind(tmp_path, _relay(Tampering(corrupt_zrtp_hash=Side.CALLEE))) as net:
        a, b = net.a, net.b
        a.ctl("hook", "off")
        a.ctl("press", "1#")
        net.wait(b, 15, call="ringing")
        b.ctl("hook", "off")
        sa = net.wait(a, 15, security="not_secure", call="in_call")
        assert "POSSIBLE ATTACK" in sa["screen"], sa["screen"]
        assert "NOT SECURE" not in sa["screen"], sa["screen"]
        assert sa["tone"] == "mitm", sa["tone"]  # the alarm
        assert sa["possible_attack"] is True, sa
        # it came from the hash check on the first Hello, not from a handshake timeout
        assert sa["zrtp"]["dropped_hello_hash"] == 1, sa["zrtp"]
        assert _counters(net).get("zrtp-hash corrupted from callee") == 1
        a.ctl("hook", "on")
        net.wait(b, 15, call="ended")
