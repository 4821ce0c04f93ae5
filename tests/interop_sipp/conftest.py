"""A deskphone process on loopback and SIPp peers, all stopped in teardown.

The phone is a real `deskphone run --sim` process (deskphone_tools.harness.PhoneProcess), discovery off
(SIPp needs no mDNS), SIP on a free loopback port it reports in `state`. SIPp runs come from
tests.interop_sipp.sipp.Sipp; both are killed when the test ends, whatever happened.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from deskphone_tools.harness import PhoneProcess
from tests.interop_sipp.sipp import Sipp, udp_port_bound
from tests.support import free_udp_port, require_tool

EXTENSION = "201"


def phone_config(sip_port: int, extra: str = "") -> str:
    return f"""
[identity]
user = "ext{EXTENSION}"
extension = "{EXTENSION}"
display_name = "Alice"

[sip]
listen = "udp:127.0.0.1:{sip_port}"

[devices]
mode = "sim"

[discovery]
enabled = false
{extra}"""


class SippBench:
    """One phone and any number of SIPp runs under one tmp dir."""

    def __init__(self, root: Path, extra_config: str = "") -> None:
        self.root = root
        # The SIP port is chosen here, not by the kernel: the control socket answers before the
        # phone has bound its SIP socket, and until then `state` reports the configured port.
        self.sip_port = free_udp_port()
        self.phone = PhoneProcess("phone", EXTENSION, root / "phone", phone_config(self.sip_port,
                                                                                 extra_config))
        self.sipps: list[Sipp] = []

    @property
    def phone_address(self) -> str:
        return f"127.0.0.1:{self.sip_port}"

    def start_phone(self, bound: float = 10.0) -> None:
        """Start the phone and wait until its SIP socket is bound (polled, with a bound)."""
        self.phone.start()
        deadline = time.monotonic() + bound
        while not udp_port_bound("127.0.0.1", self.sip_port):
            if time.monotonic() > deadline:
                raise AssertionError(f"the phone did not bind SIP port {self.sip_port} in "
                                     f"{bound:g} s:\n{self.phone.log_tail()}")
            time.sleep(0.02)
        assert self.phone.state()["sip"] == f"udp:{self.phone_address}", self.phone.state()

    def sipp(self, scenario: Path, *, calls_phone: bool = False, service: str = "service",
             extra: tuple[str, ...] = (), timeout_s: int = 20) -> Sipp:
        """A started SIPp: a UAC calling the phone (`calls_phone`) or a UAS waiting for it."""
        run = Sipp(self.root / f"sipp{len(self.sipps)}", scenario,
                   remote=self.phone_address if calls_phone else None,
                   service=f"ext{EXTENSION}" if calls_phone else service, extra=extra,
                   timeout_s=timeout_s)
        self.sipps.append(run)
        return run.start()

    def context(self, *parts: Any) -> str:
        """What to print when an assertion fails: the given parts and the phone's log tail."""
        return "\n".join([*map(str, parts), "phone log:", self.phone.log_tail()])

    def stop(self) -> None:
        for run in self.sipps:
            run.stop()
        self.phone.stop()


@pytest.fixture
def bench(tmp_path: Path) -> Iterator[SippBench]:
    require_tool("sipp")
    setup = SippBench(tmp_path)
    try:
        setup.start_phone()
        yield setup
    finally:
        setup.stop()
    if setup.phone.proc is not None:
        assert setup.phone.proc.poll() is not None, "the phone outlived its test"
    for run in setup.sipps:
        assert run.proc is None or run.proc.poll() is not None, "SIPp outlived its test"
