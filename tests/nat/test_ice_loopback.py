"""ICE between two phones on loopback: who offers it, who answers it, and what a LAN call keeps.

* A phone with `[nat] stun` offers ICE; a phone with no `[nat]` answers an ICE offer with ICE,
  host candidates only: it talks to no server (RFC 8839 §4.2.2: ICE in the offer, ICE in the
  answer). The STUN server here is a thread answering Binding requests with the phone's own
  responder (media/stun.py), and it sees only the offerer's gathering.
* Neither phone configured: no ICE at all; `state` has no "ice" and the call is the LAN call it
  always was (tests/e2e keep checking that one in full).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from deskphone.media.stun import answer_binding_request
from deskphone_tools.harness import PhonePair
from tests.e2e.test_lan_call import call_and_answer

pytestmark = [pytest.mark.timeout(60)]


class StunResponder:
    """A STUN server on loopback that answers Binding requests and records their sources."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.sources: list[tuple[str, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, source = self.sock.recvfrom(2048)
            except TimeoutError:
                continue
            self.sources.append(source)
            answer = answer_binding_request(data, source)
            if answer is not None:
                self.sock.sendto(answer, source)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()


@pytest.fixture
def stun() -> Iterator[StunResponder]:
    server = StunResponder()
    yield server
    server.close()


def test_stun_configured_caller_offers_ice_and_unconfigured_callee_answers_host_only(
        tmp_path: Path, stun: StunResponder) -> None:
    nat = f'[nat]\nstun = "127.0.0.1:{stun.port}"\n'
    with PhonePair(tmp_path / "phones", extra_a=nat) as phones:
        a, b = phones.a, phones.b
        a.wait(lan_peers=f"~{b.extension}")
        sa, sb = call_and_answer(a, b)
        assert sa["sas"] and sa["sas"] == sb["sas"]
        sa = a.wait(**{"media.packets_received": ">20"})
        sb = b.wait(**{"media.packets_received": ">20"})
        context = f"{sa}\n{sb}\n{a.log_tail()}\n{b.log_tail()}"
        assert sa["ice"]["state"] == sb["ice"]["state"] == "connected", context
        assert "srflx" in sa["ice"]["local_candidates"], context  # the caller used STUN
        assert sb["ice"]["local_candidates"] == ["host"], context  # the callee: no server
        assert sa["ice"]["path"] == sb["ice"]["path"] == "direct", context
        assert sa["media"]["secure"] and sb["media"]["secure"], context
        assert sb["media"]["receive_mode"] == "drained", context  # one wake-up per frame
        a.ctl("hook", "on")
        b.wait(call="ended")
    assert stun.sources, "the caller never asked the STUN server"


def test_lan_call_without_nat_config_has_no_ice(tmp_path: Path, stun: StunResponder) -> None:
    with PhonePair(tmp_path / "phones") as phones:
        a, b = phones.a, phones.b
        a.wait(lan_peers=f"~{b.extension}")
        sa, sb = call_and_answer(a, b)
        assert "ice" not in sa and "ice" not in sb
        assert "path" not in sa
        a.ctl("hook", "on")
        b.wait(call="ended")
    assert stun.sources == []
