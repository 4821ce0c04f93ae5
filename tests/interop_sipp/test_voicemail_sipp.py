"""The voicemail lamp against SIPp as the server: the phone registers with it, SUBSCRIBEs to
its message summary (RFC 6665, RFC 3842), answers both its unsolicited NOTIFY and the one in
the subscription, and shows the count; a NOTIFY from another address lights nothing (481)."""

from __future__ import annotations

from pathlib import Path

import pytest

from deskphone_tools.harness import PhoneProcess
from tests.interop_sipp.conftest import EXTENSION, phone_config
from tests.interop_sipp.sipp import OWN_SCENARIOS, Sipp, udp_port_bound
from tests.support import free_udp_port, require_tool

pytestmark = [pytest.mark.interop, pytest.mark.timeout(90)]


def test_sipp_voicemail_server_lights_the_lamp_and_a_stranger_cannot(tmp_path: Path) -> None:
    require_tool("sipp")
    server = Sipp(tmp_path / "server", OWN_SCENARIOS / "uas_voicemail_server.xml",
                  extra=("-m", "2"))
    server.start()
    sip_port = free_udp_port()
    config = phone_config(sip_port) + f"""
[[accounts]]
name = "office"
registrar = "127.0.0.1:{server.port}"
user = "{EXTENSION}"
password = "secret"
voicemail = "*97"
"""
    phone = PhoneProcess("phone", EXTENSION, tmp_path / "phone", config)
    stranger: Sipp | None = None
    try:
        phone.start()
        lit = phone.wait(timeout=20, **{"voicemail.new": "3"})
        assert lit["voicemail"] == {"waiting": True, "new": 3, "old": 1}
        assert phone.ctl("voicemail") == {"waiting": True, "new": 3, "old": 1, "number": "*97"}
        result = server.finish()
        context = result.summary() + "\n" + phone.log_tail()
        assert result.returncode == 0 and result.successful_calls == 2, context
        assert result.count("received", "SUBSCRIBE") == 1, context
        assert result.count("received", "SIP/2.0 200", "NOTIFY") == 2, context  # both heard
        subscribe = next(m for m in result.wire if m.start_line.startswith("SUBSCRIBE"))
        assert "Event: message-summary" in subscribe.text, context
        assert "Accept: application/simple-message-summary" in subscribe.text, context

        # Anyone else (another address than the registrar's) is refused and lights nothing.
        assert udp_port_bound("127.0.0.1", sip_port)
        stranger = Sipp(tmp_path / "stranger", OWN_SCENARIOS / "uac_stranger_notify.xml",
                        remote=f"127.0.0.1:{sip_port}", service=f"ext{EXTENSION}")
        stranger.start()
        spoofed = stranger.finish()
        assert spoofed.returncode == 0, spoofed.summary() + phone.log_tail()
        assert spoofed.count("received", "SIP/2.0 481", "NOTIFY") == 1, spoofed.summary()
        assert phone.ctl("voicemail")["new"] == 3
        assert "*97" not in phone.state()["screen"]
        phone.ctl("press", "*")  # the voicemail key dials the configured number
        assert phone.wait(call="calling|ended")["peer"] == "*97"
    finally:
        for run in (server, stranger):
            if run is not None:
                run.stop()
        phone.stop()
