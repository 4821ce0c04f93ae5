"""An active man in the middle between two real phone processes (issue 5).

The relay (deskphone_tools.testnet.mitm) sits in the SIP path, rewrites the SDP so media comes to it,
and runs one complete ZRTP endpoint per leg with our own ZrtpSession (own cache, own or stolen
ZID), re-encrypting SRTP between the legs. The call works and the attacker hears it; what the
phones must do is make the attack visible: different SAS on the two screens, and, when they had
verified each other before, POSSIBLE MITM with the alarm tone.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from deskphone.media.codecs.g711 import G711Codec
from deskphone_tools.testnet import MitmRelay, Side
from tests.call_audio import dominant_frequency

from .hostile import (
    RATE,
    TONE_HZ,
    Hostile,
    call_through_relay,
    phones_behind,
)

pytestmark = pytest.mark.timeout(90)


def legs(net: Hostile) -> dict:
    """The relay's view of its latest call: both ZRTP legs and its counters."""
    snapshot = net.relay.call(lambda r: r.latest().snapshot())
    assert snapshot is not None
    return snapshot


def test_mitm_with_new_identities_shows_different_sas_and_hears_the_call(tmp_path: Path) -> None:
    with phones_behind(tmp_path, lambda loop, target: MitmRelay(
            loop, target, impersonate_zids=False)) as net:
        a, b = net.a, net.b
        sa, sb = call_through_relay(net)
        # Each phone really completed ZRTP - with the relay. Nothing looks wrong on its own:
        # an unknown peer, "secure", SAS to be read out ...
        assert sa["security"] == sb["security"] == "secure", net.diagnostics()
        # ... and the SAS differ, which the two people notice when they read them out.
        assert sa["sas"] and sb["sas"] and sa["sas"] != sb["sas"], net.diagnostics()
        assert sa["sas"].upper() in sa["screen"].upper()
        assert sb["sas"].upper() in sb["screen"].upper()
        relay = legs(net)
        caller_leg, callee_leg = relay["legs"]["caller"], relay["legs"]["callee"]
        assert caller_leg["outcome"] == callee_leg["outcome"] == "secure"
        assert caller_leg["sas"] == sa["sas"] and callee_leg["sas"] == sb["sas"]
        # the relay's legs presented new identities, and the rewritten a=zrtp-hash matched them
        assert caller_leg["zid"] != relay["hello_zids"]["callee"]
        for state in (sa, sb):
            assert state["zrtp"]["dropped_hello_hash"] == 0
        # each phone sends its media to the relay's port facing it, not to the other phone
        assert sa["remote_media"] == f"127.0.0.1:{relay['ports']['caller']}"
        assert sb["remote_media"] == f"127.0.0.1:{relay['ports']['callee']}"

        # Audio flows through the relay: decrypted there, re-encrypted for B.
        net.wait(b, 15, **{"media.packets_received": ">100"})
        relay = legs(net)
        assert relay["counters"].get("rtp relayed from caller", 0) > 100, relay
        assert relay["legs"]["callee"]["srtp"]["protected"] > 100
        # The attacker hears A's tone in the clear (PCMU is the phones' first codec).
        overheard = net.relay.call(lambda r: list(r.latest().overheard[Side.CALLER]))
        pcmu = [payload for pt, payload in overheard if pt == 0]
        assert len(pcmu) > 50, f"payload types overheard: {sorted({pt for pt, _ in overheard})}"
        freq, share = dominant_frequency(G711Codec(alaw=False).decode(b"".join(pcmu[-50:])))
        assert abs(freq - TONE_HZ) < 20 and share > 0.5, (freq, share)

        # A reads out its SAS, B's screen shows a different one: B rejects it.
        b.ctl("reject-sas")
        rejected = net.wait(b, 10, security="mismatch")
        assert "POSSIBLE MITM" in rejected["screen"] and rejected["tone"] == "mitm"
        a.ctl("hook", "on")
        net.wait(b, 15, call="ended")

        # B heard A's tone: the relayed, re-encrypted audio decodes at B.
        played = net.b_playback.read_bytes()
        assert len(played) > RATE
        freq, share = dominant_frequency(played[-RATE * 2:][:RATE])
        assert abs(freq - TONE_HZ) < 20 and share > 0.5, (freq, share)


def test_mitm_after_a_verified_direct_call_raises_possible_mitm(tmp_path: Path) -> None:
    with phones_behind(tmp_path, lambda loop, target: MitmRelay(
            loop, target, impersonate_zids=True)) as net:
        a, b = net.a, net.b
        # 1. A good direct call (speed dial 2): both read the SAS and confirm it.
        a.ctl("hook", "off")
        a.ctl("press", "2#")
        net.wait(b, 15, call="ringing")
        b.ctl("hook", "off")
        direct_a = net.wait(a, 15, security="secure", call="in_call")
        direct_b = net.wait(b, 15, security="secure", call="in_call")
        assert direct_a["sas"] == direct_b["sas"]
        a.ctl("confirm-sas")
        b.ctl("confirm-sas")
        net.wait(a, 10, security="verified")
        net.wait(b, 10, security="verified")
        a.ctl("hook", "on")
        net.wait(b, 15, call="ended")
        b.ctl("hook", "on")
        net.wait(a, 15, call="idle")
        net.wait(b, 15, call="idle")

        # 2. The same two phones, now through the attacker, who copies both ZIDs from the Hellos.
        sa, sb = call_through_relay(net)
        for state in (sa, sb):
            assert state["security"] == "mismatch", net.diagnostics()
            assert "POSSIBLE MITM" in state["screen"]
            assert state["tone"] == "mitm"  # the alarm, not the usual in-call silence
        relay = legs(net)
        # the relay really posed as each phone towards the other ...
        assert relay["legs"]["caller"]["zid"] == relay["hello_zids"]["callee"]
        assert relay["legs"]["callee"]["zid"] == relay["hello_zids"]["caller"]
        # ... and completed both handshakes: its own (empty) caches saw nothing wrong.
        assert relay["legs"]["caller"]["outcome"] == relay["legs"]["callee"]["outcome"] == "secure"
        assert sa["sas"] == relay["legs"]["caller"]["sas"]
        assert sb["sas"] == relay["legs"]["callee"]["sas"]
        # Audio is still relayed (the call is encrypted, just not to the right person).
        net.wait(b, 15, **{"media.packets_received": ">50"})
        # The alarm stands: a later look at the phone still shows it.
        assert a.state()["security"] == "mismatch"
        a.ctl("hook", "on")
        net.wait(b, 15, call="ended")


def test_relay_that_keeps_the_sdp_zrtp_hash_is_caught_by_the_hello_hash(tmp_path: Path) -> None:
    """RFC 6189 §8.1.1: the Hello a phone receives must hash to the peer's a=zrtp-hash. A relay
    that leaves the SDP alone cannot produce such a Hello: no call comes up as secure."""
    with phones_behind(tmp_path, lambda loop, target: MitmRelay(
            loop, target, impersonate_zids=False, zrtp_hash="keep")) as net:
        sa, sb = call_through_relay(net)
        for state in (sa, sb):
            assert state["security"] == "not_secure", net.diagnostics()
            assert state["sas"] is None
            # every Hello from the relay was dropped as not matching the SDP; the relay's
            # handshake then timed out (RFC 6189 §6: Hello retransmissions are bounded)
            assert state["zrtp"]["dropped_hello_hash"] > 0, net.diagnostics()
            assert state["zrtp"]["state"] == "failed"
        relay = legs(net)
        assert relay["legs"]["caller"]["outcome"].startswith("not secure")
        assert relay["legs"]["callee"]["outcome"].startswith("not secure")
        net.a.ctl("hook", "on")
        net.wait(net.b, 15, call="ended")



def verified_direct_call(net: Hostile) -> None:
    """A good direct call (speed dial 2) in which both people confirm the SAS, then hang up."""
    a, b = net.a, net.b
    a.ctl("hook", "off")
    a.ctl("press", "2#")
    net.wait(b, 15, call="ringing")
    b.ctl("hook", "off")
    direct_a = net.wait(a, 15, security="secure", call="in_call")
    direct_b = net.wait(b, 15, security="secure", call="in_call")
    assert direct_a["sas"] == direct_b["sas"]
    a.ctl("confirm-sas")
    b.ctl("confirm-sas")
    net.wait(a, 10, security="verified")
    net.wait(b, 10, security="verified")
    hang_up_both(net)


def hang_up_both(net: Hostile) -> None:
    net.a.ctl("hook", "on")
    net.wait(net.b, 15, call="ended")
    net.b.ctl("hook", "on")
    net.wait(net.a, 15, call="idle")
    net.wait(net.b, 15, call="idle")


def assert_possible_mitm(net: Hostile, sa: dict, sb: dict) -> None:
    for state in (sa, sb):
        assert state["security"] == "mismatch", net.diagnostics()
        assert "POSSIBLE MITM" in state["screen"]
        assert state["tone"] == "mitm"


def test_second_call_through_a_mitm_that_kept_its_secrets_is_still_possible_mitm(
        tmp_path: Path) -> None:
    """Issue 13 F2, RFC 6189 §4.6.1.1: after a mismatch the phones keep the old rs1 until the SAS
    is verified, so an attacker who completed one call is not the trusted peer of the next."""
    with phones_behind(tmp_path, lambda loop, target: MitmRelay(
            loop, target, impersonate_zids=True, remember_secrets=True)) as net:
        verified_direct_call(net)
        assert_possible_mitm(net, *call_through_relay(net))
        hang_up_both(net)
        # the relay now holds an rs1 with each phone from that call; the phones did not take it
        assert_possible_mitm(net, *call_through_relay(net))
        relay = legs(net)
        assert relay["legs"]["caller"]["zid"] == relay["hello_zids"]["callee"]
        net.a.ctl("hook", "on")
        net.wait(net.b, 15, call="ended")


def test_a_mitm_asking_the_phones_to_forget_cannot_make_the_next_mitm_a_new_peer(
        tmp_path: Path) -> None:
    """Issue 13 F2, §5.7: a Confirm with cache expiration 0 from an unproven peer does not erase
    the verified peer's entry: the next attack is still POSSIBLE MITM, not a "new phone"."""
    with phones_behind(tmp_path, lambda loop, target: MitmRelay(
            loop, target, impersonate_zids=True, cache_expiration=0)) as net:
        verified_direct_call(net)
        assert_possible_mitm(net, *call_through_relay(net))
        hang_up_both(net)
        # the same box, now asking nothing: does either phone take it for a stranger?
        net.relay.call(lambda r: setattr(r, "cache_expiration", 0xFFFFFFFF))
        assert_possible_mitm(net, *call_through_relay(net))
        net.a.ctl("hook", "on")
        net.wait(net.b, 15, call="ended")
