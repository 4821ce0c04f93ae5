"""Call set-up across a lossy network (not a test): how long until both screens show the SAS.

`run(loss_levels, calls) -> dict`, for the lead's `make bench`: for each loss level, two real
`deskphone run --sim` processes call each other `calls` times through a `LossyRelay` that drops
that share of SIP and media datagrams each way (seeded, 20 ms media jitter). Per level it reports
dialled -> SAS and answered -> SAS (each phone's own CLOCK_MONOTONIC timeline, shared by the
processes of one machine), how many calls came up secure, and the relay's drop counts. Loopback
only; the phones' LAN discovery is off.
"""

from __future__ import annotations

import contextlib
import statistics
import tempfile
from pathlib import Path
from typing import Any

from deskphone_tools.harness import PhoneError, PhoneProcess, lan_config

from .impairment import Impairment
from .lossy import LossyRelay
from .runner import RelayThread

SECURED = "secure|verified|mismatch|not_secure"


def _ms(samples: list[float]) -> dict[str, Any]:
    if not samples:
        return {"median": None, "max": None, "samples": []}
    return {"median": round(statistics.median(samples), 1), "max": round(max(samples), 1),
            "samples": [round(s, 1) for s in samples]}


def _level(root: Path, loss: float, calls: int, seed: int) -> dict[str, Any]:
    off = "[discovery]\nenabled = false\n"
    b = PhoneProcess("B", "202", root / "b", lan_config("202", "Bob", extra=off))
    b.start()
    a: PhoneProcess | None = None
    dial_to_sas: list[float] = []
    answer_to_sas: list[float] = []
    outcomes: list[str] = []
    try:
        _, host, port = b.state()["sip"].rsplit(":", 2)
        media = Impairment(loss=loss, jitter=0.02 if loss else 0.0, seed=seed)
        signalling = Impairment(loss=loss, seed=seed)
        with RelayThread(lambda loop: LossyRelay(loop, (host, int(port)), media=media,
                                                 signalling=signalling)) as relay:
            uri = relay.call(lambda r: r.uri_for("ext202"))
            a = PhoneProcess("A", "201", root / "a", lan_config(
                "201", "Alice", extra=off + f'[dialplan.speed_dial]\n"1" = "{uri}"\n'))
            a.start()
            for _ in range(calls):
                try:
                    a.ctl("hook", "off")
                    a.ctl("press", "1#")
                    b.wait(30, call="ringing")
                    b.ctl("hook", "off")
                    sa = a.wait(40, security=SECURED, call="in_call")
                    sb = b.wait(40, security=SECURED, call="in_call")
                    outcomes.append(sa["security"] if sa["sas"] == sb["sas"] else "different SAS")
                    end = sa["timeline"].get("secured") or sa["timeline"].get("not_secure")
                    end_b = sb["timeline"].get("secured") or sb["timeline"].get("not_secure")
                    if end is not None and end_b is not None:
                        done = max(end, end_b)
                        dial_to_sas.append((done - sa["timeline"]["dialled"]) * 1000)
                        answer_to_sas.append((done - sb["timeline"]["answered"]) * 1000)
                    a.ctl("hook", "on")
                    b.wait(40, call="ended|idle")
                    b.ctl("hook", "on")
                    a.wait(40, call="idle")
                    b.wait(10, call="idle")
                except PhoneError as exc:
                    outcomes.append(f"failed: {exc}"[:200])
                    for phone in (a, b):  # put both down and let the call wind down
                        with contextlib.suppress(PhoneError):
                            phone.ctl("hook", "on")
                            phone.wait(40, call="idle")
            snapshot: dict[str, Any] = relay.call(lambda r: r.snapshot())
    finally:
        if a is not None:
            a.stop()
        b.stop()
    dropped = sum(p["dropped"] for p in snapshot["sip_paths"].values())
    passed = sum(p["passed"] for p in snapshot["sip_paths"].values())
    return {"loss": loss, "calls": calls, "outcomes": outcomes,
            "dialled_to_sas_ms": _ms(dial_to_sas), "answered_to_sas_ms": _ms(answer_to_sas),
            "sip_datagrams_dropped": dropped, "sip_datagrams_passed": passed}


def run(loss_levels: tuple[float, ...] = (0.0, 0.1, 0.3), calls: int = 5,
        seed: int = 1) -> dict[str, Any]:
    results = []
    for loss in loss_levels:
        with tempfile.TemporaryDirectory(prefix="deskphone-lossy-bench-") as tmp:
            results.append(_level(Path(tmp), loss, calls, seed))
    return {"lossy_call_setup": results}


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=1))
