"""On the wire with linphonec: tshark checks every ZRTP packet we send; and the NOT SECURE cases.

- tshark (Wireshark's ZRTP dissector) decodes each ZRTP datagram captured from our media port and
  checks its CRC-32C (RFC 6189 §5.1.5); it cannot check MACs, which the SAS match already proves.
- linphonec with media_encryption=none still answers our ZRTP (liblinphone 5.1 starts ZRTP
  whenever the peer's SDP has a=zrtp-hash): the call is secure, and that is what we show.
- A peer without ZRTP (SIPp's UAS; linphonec could not be made one) never answers our Hello:
  after the Hello retransmissions (RFC 6189 §6, T1) our screen says NOT SECURE with the warning
  tone and the call is never shown secure; with `[zrtp] require_secure = true` the call is ended
  instead, and nothing but ZRTP left our media port.
"""

from __future__ import annotations

import asyncio
import itertools
import subprocess
from pathlib import Path

import pytest

from deskphone.zrtp.session import T1_MAX_RETRANSMISSIONS
from deskphone_tools.peers.bench import can_capture
from deskphone_tools.peers.tshark import LoopbackCapture, decode_zrtp
from tests.interop_linphone.conftest import Interop, phone_ctl, wait_phone
from tests.interop_linphone.test_zrtp_linphone import establish, hang_up
from tests.support import free_udp_port, require_root, require_tool

pytestmark = pytest.mark.interop

# RFC 6189 §4.1 Figure 1: a DH exchange; each side sends its half according to its role.
INITIATOR_SENDS = {"Hello", "HelloACK", "Commit", "DHPart2", "Confirm2"}
RESPONDER_SENDS = {"Hello", "HelloACK", "DHPart1", "Confirm1", "Conf2ACK"}


def test_tshark_dissects_every_zrtp_packet_we_send_with_a_good_crc(interop: Interop) -> None:
    require_tool("dumpcap")
    require_tool("tshark")
    require_root()
    phone = interop.phone()
    linphone = interop.linphone(auto_answer=True)
    their_port = linphone.config.rtp_port
    capture = LoopbackCapture(interop.root / "call.pcap", [their_port, their_port + 1])

    async def scenario() -> dict:
        await linphone.start()
        async with capture:
            call = await establish(phone, linphone, we_call=True)
            assert call.ours["sas"] == call.linphone_sas
            state = await phone_ctl(phone, "state")
            await hang_up(phone, linphone)
        return state

    state = interop.run(scenario)
    packets = decode_zrtp(capture.pcap_path, [their_port])
    ours = [p for p in packets if p.dst == ("127.0.0.1", their_port)]
    theirs = [p for p in packets if p.src == ("127.0.0.1", their_port)]
    zrtp = state["zrtp"]
    assert len(ours) == zrtp["sent"], (
        f"captured {len(ours)} ZRTP packets from us, the session sent {zrtp['sent']}: {ours}")
    bad = [p for p in ours if not p.checksum_ok]
    assert not bad, f"tshark found bad CRCs in our packets: {bad}"
    sent_types = {p.message_type for p in ours}
    expected = INITIATOR_SENDS if zrtp["role"] == "initiator" else RESPONDER_SENDS
    assert expected <= sent_types, (zrtp["role"], sent_types)
    # RFC 6189 §5: the packet's SSRC is the one of our RTP stream, the same in every packet
    assert len({p.ssrc for p in ours}) == 1
    assert theirs and all(p.checksum_ok for p in theirs)


def test_linphone_with_media_encryption_none_still_secures_the_call_with_zrtp(
        interop: Interop) -> None:
    # Seen: liblinphone 5.1 keeps ZRTP available with media_encryption=none and starts it when
    # the peer's SDP carries a=zrtp-hash (ours always does): the call is secure on both sides.
    phone = interop.phone()
    linphone = interop.linphone(auto_answer=True, media_encryption="none", zrtp_mandatory=False)

    async def scenario():
        await linphone.start()
        call = await establish(phone, linphone, we_call=True)
        await hang_up(phone, linphone)
        return call

    call = interop.run(scenario)
    assert call.ours["sas"] == call.linphone_sas and call.ours["security"] == "secure"


def test_peer_without_zrtp_is_not_secure_with_warning_never_secure(interop: Interop) -> None:
    phone = interop.phone()
    peer = SippUas(interop.root / "sipp")

    async def scenario() -> dict:
        await peer.start()
        await phone_ctl(phone, "dial", peer.sip_uri)
        state = await wait_phone(phone, 15, security="not_secure|secure|verified",
                                 call="in_call")
        await phone_ctl(phone, "hangup")
        await peer.finished(10)
        return state

    state = _run_with(interop, peer, scenario)
    context = f"{state}\n{phone.log_tail()}"
    assert state["security"] == "not_secure", context
    assert "NOT SECURE" in state["screen"], context
    assert state["tone"] == "not_secure", context
    assert "secured" not in state["timeline"], context
    assert not state["sas"], context
    assert state["zrtp"]["state"] == "failed" and state["media"]["secure"] is False, context
    assert state["zrtp"]["received"] == 0, context
    # RFC 6189 §6: Hello retransmitted on T1 (50 ms doubling to 200 ms) before giving up
    assert state["zrtp"]["retransmitted"] >= 10, context


def test_require_secure_ends_a_call_that_cannot_be_secured(interop: Interop) -> None:
    phone = interop.phone(extra="[zrtp]\nrequire_secure = true\n")
    peer = SippUas(interop.root / "sipp")
    capture = (LoopbackCapture(interop.root / "call.pcap", [peer.media_port])
               if can_capture() else None)

    async def scenario() -> dict:
        await peer.start()
        if capture:
            await capture.start()
        try:
            await phone_ctl(phone, "dial", peer.sip_uri)
            ended = await wait_phone(phone, 15, call="ended|idle")
            await peer.finished(10)  # sipp saw our BYE and answered it: exit status 0
        finally:
            if capture:
                await capture.stop()
        return ended

    ended = _run_with(interop, peer, scenario)
    context = f"{ended}\n{phone.log_tail()}"
    assert "secured" not in ended["timeline"], context
    assert ended["security"] != "secure", context
    if capture:
        # Nothing but ZRTP left our media port: no audio in the clear, not even a packet.
        sent = _first_bytes_to(capture.pcap_path, peer.media_port)
        assert sent and all(16 <= b <= 19 for b in sent), (  # RFC 7983: 16-19 is ZRTP
            f"first bytes of what we sent to the peer's media port: {sent}")
        # RFC 6189 §6: Hello resent on T1, 50 ms doubling to a 200 ms cap, then given up. Gaps
        # are checked from below only (a loaded machine may fire late, never early).
        hellos = [p.time for p in decode_zrtp(capture.pcap_path, [peer.media_port])
                  if p.message_type == "Hello"]
        gaps = [later - earlier for earlier, later in itertools.pairwise(hellos)]
        nominal = [min(0.05 * 2 ** i, 0.2) for i in range(len(gaps))]
        assert len(hellos) == 1 + T1_MAX_RETRANSMISSIONS, hellos
        assert all(gap >= 0.9 * want for gap, want in zip(gaps, nominal, strict=True)), gaps


SCENARIO = Path(__file__).parent / "uas_plain_rtp.xml"


class SippUas:
    """SIPp answering one INVITE with plain RTP/AVP SDP (uas_plain_rtp.xml): it never speaks ZRTP
    (the NOT SECURE peer: linphonec cannot be made one, see above); expects our BYE."""

    def __init__(self, workdir) -> None:
        self.workdir = workdir
        self.sip_port = free_udp_port()
        self.media_port = free_udp_port()
        self.process: asyncio.subprocess.Process | None = None
        self.stderr = b""

    @property
    def sip_uri(self) -> str:
        return f"sip:service@127.0.0.1:{self.sip_port}"

    async def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.process = await asyncio.create_subprocess_exec(
            require_tool("sipp"), "-sf", str(SCENARIO), "-i", "127.0.0.1", "-p", str(self.sip_port),
            "-mi", "127.0.0.1", "-mp", str(self.media_port), "-m", "1", "-timeout", "30s",
            "-timeout_error", "-nostdin", "-nd", cwd=str(self.workdir),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
            start_new_session=True)

    async def finished(self, timeout: float) -> None:
        assert self.process is not None
        _, self.stderr = await asyncio.wait_for(self.process.communicate(), timeout)
        assert self.process.returncode == 0, (
            f"sipp uas exited {self.process.returncode}: {self.stderr.decode()[-1000:]}")

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
            await self.process.wait()


def _run_with(interop: Interop, peer: SippUas, scenario):
    async def bounded():
        try:
            return await scenario()
        finally:
            await peer.stop()

    return interop.run(bounded)


def _first_bytes_to(pcap, port: int) -> list[int]:
    """The first payload byte of every UDP datagram sent to `port` (RFC 7983 demultiplexing)."""
    result = subprocess.run(
        ["tshark", "-n", "-r", str(pcap), "-Y", f"udp.dstport == {port}", "-T", "fields",
         "-e", "udp.payload"], capture_output=True, text=True, timeout=30, check=True)
    return [int(row[:2], 16) for row in result.stdout.split() if row]
