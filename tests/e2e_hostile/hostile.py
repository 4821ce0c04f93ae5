"""Phones behind a hostile network: helpers shared by the MITM and lossy-network tests.

The callee (B, ext 202) starts first so the relay knows where to send calls; the caller (A, ext
201) starts with a speed dial "1" that points at the relay, the way a person's config (or a
poisoned directory) would place it, and a speed dial "2" straight to B (the good direct path).
LAN discovery is off: other phones on this machine's loopback (parallel test runs) announce the
same extensions, and the hostile tests must not depend on them or disturb them. Both phones are
real `deskphone run --sim` processes driven through their control sockets; the relay runs in this
process on its own loop (RelayThread).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deskphone_tools.harness import PhoneError, PhoneProcess, lan_config
from deskphone_tools.testnet import RelayThread
from tests.call_audio import tone

RATE = 8000
TONE_HZ = 1000
SECURED = "secure|verified|mismatch|not_secure"


def sip_address(phone: PhoneProcess) -> tuple[str, int]:
    """Where a phone listens for SIP ("udp:127.0.0.1:PORT" in its state)."""
    transport, host, port = phone.state()["sip"].rsplit(":", 2)
    assert transport == "udp", phone.state()["sip"]
    return host, int(port)


@dataclass
class Hostile:
    a: PhoneProcess
    b: PhoneProcess
    relay: RelayThread[Any]
    root: Path

    @property
    def b_playback(self) -> Path:
        return self.root / "b-play.raw"

    def wait(self, phone: PhoneProcess, timeout: float = 15.0, **conditions: str
             ) -> dict[str, Any]:
        """phone.wait, failing with both phones' logs and the relay's counters."""
        try:
            return phone.wait(timeout, **conditions)
        except PhoneError as exc:
            raise AssertionError(f"{exc}{self.diagnostics()}") from None

    def diagnostics(self) -> str:
        snapshot: object
        try:
            snapshot = self.relay.call(lambda r: r.snapshot())
        except Exception as exc:  # noqa: BLE001 — only for an assertion message
            snapshot = f"(relay snapshot failed: {exc})"
        states = []
        for phone in (self.a, self.b):
            try:
                states.append(phone.state().get("sip_stats"))
            except Exception as exc:  # noqa: BLE001 — only for an assertion message
                states.append(f"(state failed: {exc})")
        return (f"\n--- A log ---\n{self.a.log_tail()}\n--- B log ---\n{self.b.log_tail()}"
                f"\n--- relay ---\n{snapshot}\n--- SIP counters A, B ---\n{states}")


@contextlib.contextmanager
def phones_behind(root: Path, make_relay: Callable[[Any, tuple[str, int]], Any], *,
                  extra_a: str = "", extra_b: str = "") -> Iterator[Hostile]:
    """B, a relay in front of B, and A with speed dial 1 = B through the relay."""
    capture = root / "a-capture.raw"
    capture.write_bytes(tone(TONE_HZ, 30))
    audio_a = f'[audio]\ncapture_file = "{capture}"\nplayback_file = "{root / "a-play.raw"}"\n'
    audio_b = f'[audio]\nplayback_file = "{root / "b-play.raw"}"\n'
    no_discovery = "[discovery]\nenabled = false\n"
    b = PhoneProcess("B", "202", root / "b",
                     lan_config("202", "Bob", extra=audio_b + no_discovery + extra_b))
    a: PhoneProcess | None = None
    b.start()
    try:
        target = sip_address(b)
        with RelayThread(lambda loop: make_relay(loop, target), name="hostile-relay") as relay:
            uri = relay.call(lambda r: r.uri_for("ext202"))
            speed_dial = (f'[dialplan.speed_dial]\n"1" = "{uri}"\n'
                          f'"2" = "sip:ext202@{target[0]}:{target[1]}"\n')
            a = PhoneProcess("A", "201", root / "a", lan_config(
                "201", "Alice", extra=audio_a + no_discovery + speed_dial + extra_a))
            a.start()
            yield Hostile(a, b, relay, root)
    finally:
        if a is not None:
            a.stop()
        b.stop()


def call_through_relay(net: Hostile, timeout: float = 15.0) -> tuple[dict[str, Any],
                                                                      dict[str, Any]]:
    """A lifts the handset and presses speed dial 1; B answers; both wait for the handshake."""
    a, b = net.a, net.b
    a.ctl("hook", "off")
    a.ctl("press", "1#")
    net.wait(b, timeout, call="ringing")
    b.ctl("hook", "off")
    sa = net.wait(a, timeout, security=SECURED, call="in_call")
    sb = net.wait(b, timeout, security=SECURED, call="in_call")
    return sa, sb
