"""What a phone sends, seen by a UDP socket in the test: 3xx redirects followed to phone B, and
the privacy option's absent headers (a normal phone still sends them)."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

from deskphone.sip.message import SipRequest, SipResponse, parse_message
from deskphone_tools.harness import PhoneProcess, lan_config
from tests.e2e_routing.phones import phones, see_each_other, unique_extensions
from tests.support import free_udp_port


class UdpResponder:
    """A tiny SIP server: records every request and answers INVITEs with `answer(request)`."""

    def __init__(self, answer=None) -> None:
        self.port = free_udp_port()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", self.port))
        self.sock.settimeout(0.2)
        self.answer = answer
        self.requests: list[SipRequest] = []
        self.got_invite = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data, addr = self.sock.recvfrom(65535)
            except TimeoutError:
                continue
            message = parse_message(data)
            if not isinstance(message, SipRequest):
                continue
            self.requests.append(message)
            if message.method == "INVITE":
                self.got_invite.set()
                if self.answer is not None:
                    self.sock.sendto(self.answer(message).serialize(), addr)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


def redirect_to(contact: str):
    def answer(request: SipRequest) -> SipResponse:
        response = SipResponse(status=302, reason="Moved Temporarily")
        for name in ("Via", "From", "To", "Call-ID", "CSeq"):
            for value in request.headers.raw(name):
                response.headers.add(name, value + (";tag=fwd1" if name == "To" else ""))
        response.headers.add("Contact", f"<{contact}>")
        return response
    return answer


def test_a_call_to_a_redirecting_server_ends_up_at_b(tmp_path: Path) -> None:
    x_a, x_b = unique_extensions(2)
    with phones(tmp_path, [("Alice", x_a, ""), ("Bob", x_b, "")]) as (a, b):
        see_each_other([a, b])
        b_sip = b.state()["sip"].split(":", 1)[1]  # "127.0.0.1:port"
        server = UdpResponder(redirect_to(f"sip:{x_b}@{b_sip}"))
        try:
            a.ctl("hook", "off")
            a.ctl("dial", f"sip:forward@127.0.0.1:{server.port}")
            ringing = b.wait(call="ringing")
            assert "Alice" in ringing["screen"], a.log_tail()
            b.ctl("hook", "off")
            sa = a.wait(call="in_call", security="secure|verified")
            sb = b.wait(call="in_call", security="secure|verified")
            assert sa["sas"] == sb["sas"]
            invites = [r for r in server.requests if r.method == "INVITE"]
            assert len(invites) == 1 and any(r.method == "ACK" for r in server.requests)
        finally:
            server.close()
        a.ctl("hook", "on")
        b.wait(call="ended")


def _invite_from(tmp_path: Path, privacy: bool) -> SipRequest:
    (x_a,) = unique_extensions(1)
    config = lan_config(x_a, "Alice")
    if privacy:
        config = config.replace("[sip]\n", "[sip]\nprivacy = true\n")
    phone = PhoneProcess("Alice", x_a, tmp_path / "alice", config)
    server = UdpResponder()
    try:
        phone.start()
        phone.ctl("hook", "off")
        phone.ctl("dial", f"sip:someone@127.0.0.1:{server.port}")
        assert server.got_invite.wait(10), phone.log_tail()
        phone.ctl("hook", "on")
    finally:
        phone.stop()
        server.close()
    return next(r for r in server.requests if r.method == "INVITE")


def test_privacy_phone_sends_no_identifying_extras(tmp_path: Path) -> None:
    invite = _invite_from(tmp_path, privacy=True)
    names = {name.lower() for name, _ in invite.headers}
    assert not names & {"user-agent", "server", "organization", "subject", "date", "privacy"}
    assert not any(n.startswith("x-") for n in names)
    assert invite.from_.display_name is None and "Alice" not in invite.serialize().decode()
    assert "@" not in invite.call_id
    assert b"o=- " in invite.body and b"s=-" in invite.body  # RFC 4566 §5.2: no user name


def test_normal_phone_still_sends_them(tmp_path: Path) -> None:
    invite = _invite_from(tmp_path, privacy=False)
    assert invite.headers.get("User-Agent", "").startswith("deskphone/")
    assert invite.from_.display_name == "Alice"
    assert "@" in invite.call_id
    assert b"o=ext" in invite.body  # the configured user name
