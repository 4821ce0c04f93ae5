"""A call across a network that loses 30 % of all datagrams each way (issue 8).

The relay (deskphone_tools.testnet.lossy) forwards SIP and media between two real phone processes and
drops 30 % of the datagrams in each direction, seeded, with up to 20 ms of jitter on the media
(so packets also arrive out of order). Nothing in the phones knows: SIP transaction
retransmissions (RFC 3261 §17) must set the call up and tear it down, ZRTP's own retransmissions
(RFC 6189 §6) must complete the handshake with the same SAS on both screens, and the jitter buffer
and concealment must still deliver A's tone to B's earpiece.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from deskphone_tools.testnet import Impairment, LossyRelay
from tests.call_audio import dominant_frequency

from .hostile import (
    RATE,
    TONE_HZ,
    call_through_relay,
    phones_behind,
)

pytestmark = pytest.mark.timeout(90)

LOSS = 0.3


def test_call_survives_30_percent_loss_on_signalling_and_media(tmp_path: Path) -> None:
    media = Impairment(loss=LOSS, jitter=0.02, seed=8, drop_first=1)
    signalling = Impairment(loss=LOSS, seed=8, drop_first=1)
    with phones_behind(tmp_path, lambda loop, target: LossyRelay(
            loop, target, media=media, signalling=signalling)) as net:
        a, b = net.a, net.b
        sa, sb = call_through_relay(net, timeout=30)
        assert sa["security"] == sb["security"] == "secure", net.diagnostics()
        assert sa["sas"] and sa["sas"] == sb["sas"], net.diagnostics()
        # The phones talk to each other through the relay (its ports), not directly.
        assert sa["remote_media"] != f"127.0.0.1:{sb['remote_media'].rsplit(':', 1)[1]}"

        # Three seconds of A's audio reach B despite the loss (70 % of 50 packets/s).
        net.wait(b, 20, **{"media.packets_received": ">100"})
        a.ctl("hook", "on")
        net.wait(b, 30, call="ended")  # the BYE gets through by retransmission

        snapshot = net.relay.call(lambda r: r.snapshot())
        # The network really was that bad: SIP, ZRTP and RTP all lost datagrams.
        sip_dropped = sum(p["dropped"] for p in snapshot["sip_paths"].values())
        assert sip_dropped > 0, snapshot
        (paths,) = [c["paths"] for c in snapshot["calls"].values()]
        zrtp = [p for name, p in paths.items() if "zrtp" in name]
        assert sum(p["dropped"] for p in zrtp) > 0, paths
        rtp = paths["media rtp from caller"]
        lost = rtp["dropped"] / (rtp["dropped"] + rtp["passed"])
        assert 0.15 < lost < 0.45, rtp

        # B's earpiece: A's tone, with the gaps concealed, still dominates.
        played = net.b_playback.read_bytes()
        assert len(played) > 2 * RATE
        freq, share = dominant_frequency(played[-RATE * 2:][:RATE])
        assert abs(freq - TONE_HZ) < 20 and share > 0.5, (freq, share)


def test_call_through_a_clean_relay_is_unchanged(tmp_path: Path) -> None:
    """Control: the same relay with no impairment changes nothing the phones can see."""
    with phones_behind(tmp_path, lambda loop, target: LossyRelay(
            loop, target, media=Impairment())) as net:
        sa, sb = call_through_relay(net)
        assert sa["security"] == sb["security"] == "secure"
        assert sa["sas"] == sb["sas"]
        net.wait(net.b, 15, **{"media.packets_received": ">50"})
        net.b.ctl("hook", "on")
        net.wait(net.a, 15, call="ended")
        snapshot = net.relay.call(lambda r: r.snapshot())
        assert all(p["dropped"] == 0 for p in snapshot["sip_paths"].values())
        (paths,) = [c["paths"] for c in snapshot["calls"].values()]
        assert paths["media rtp from caller"]["passed"] > 50
        assert all(p["dropped"] == 0 for p in paths.values())
