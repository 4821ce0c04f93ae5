"""Reference timing: linphonec calling linphonec on loopback, from INVITE to SAS on both sides.

`make bench` compares deskphone<->deskphone and deskphone<->linphonec against this figure, taken in
the same run on the same machine, so a slow machine slows all three alike.

What is measured, per run, with a fresh pair of linphonec processes (fresh ZRTP caches, so every
run is a full DH exchange, RFC 6189 §4.1):
- `invite_to_sas_ms`: from just before `call URI` is written to the caller's stdin until the
  later of the two "Call 1 is fully encrypted and auth token is ..." lines is read back.
- `invite_to_caller_sas_ms` / `invite_to_callee_sas_ms`: each side separately.
- `hello_to_conf2ack_ms` (only when dumpcap can capture, i.e. as root): first ZRTP Hello to
  Conf2ACK on the wire, from packet timestamps, free of the pipe latency below.

Pipe latency caveat: the times are time.monotonic() in this process around a write to and reads
from linphonec's pipes, not on the wire. linphonec reads stdin in the same main loop that iterates
its core (in steps of ~10-20 ms), and each stdout line also waits for the asyncio loop here to wake,
so either end can be late by about one loop step (seen: the command's echo within ~3 ms and
"Establishing call" within ~10 ms of the write). The figures are an upper bound of what linphonec
needs; the wire figure (hello_to_conf2ack_ms) is the tighter one.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from deskphone_tools.peers.linphone import LinphonePeer
from deskphone_tools.peers.tshark import LoopbackCapture, decode_zrtp

DEFAULT_KEY_AGREEMENT_LABEL = "DH3k (linphonec default)"


def _free_port(host: str = "127.0.0.1", *, pair: bool = False) -> int:
    """A UDP port free a moment ago; with pair, an even one whose successor (RTCP) is free too."""
    for _ in range(200):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as first:
            first.bind((host, 0))
            port = first.getsockname()[1]
            if not pair:
                return port
            if port % 2 or port >= 65535:
                continue
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as second:
                try:
                    second.bind((host, port + 1))
                except OSError:
                    continue
            return port
    raise RuntimeError(f"no free UDP port{' pair' if pair else ''} on {host} after 200 tries")


def summarize(samples_ms: list[float]) -> dict[str, Any]:
    """min/median/max (ms, 0.1 ms resolution) and the samples themselves."""
    if not samples_ms:
        return {"min": None, "median": None, "max": None, "samples": []}
    return {
        "min": round(min(samples_ms), 1),
        "median": round(statistics.median(samples_ms), 1),
        "max": round(max(samples_ms), 1),
        "samples": [round(sample, 1) for sample in samples_ms],
    }


def linphonec_version(program: str = "linphonec") -> str | None:
    try:
        result = subprocess.run([program, "-v"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    for line in (result.stdout + result.stderr).splitlines():
        if line.startswith("version:"):
            return line.split(":", 1)[1].strip()
    return None


def can_capture() -> bool:
    return (
        os.geteuid() == 0 and shutil.which("dumpcap") is not None and bool(shutil.which("tshark"))
    )


async def _one_run(
    root: Path, key_agreement: str | None, wire: bool, timeout: float
) -> dict[str, float | None]:
    key_agreements = [key_agreement] if key_agreement else None
    caller = LinphonePeer(
        root / "caller",
        user="caller",
        sip_port=_free_port(),
        rtp_port=_free_port(pair=True),
        key_agreements=key_agreements,
    )
    callee = LinphonePeer(
        root / "callee",
        user="callee",
        sip_port=_free_port(),
        rtp_port=_free_port(pair=True),
        auto_answer=True,
        key_agreements=key_agreements,
    )
    for peer in (caller, callee):
        peer.workdir.mkdir(parents=True, exist_ok=True)
    media_ports = [caller.config.rtp_port, callee.config.rtp_port]
    capture = LoopbackCapture(root / "zrtp.pcap", media_ports) if wire else None
    try:
        if capture:
            await capture.start()
        await asyncio.gather(caller.start(), callee.start())
        sent_at = await caller.call(callee.sip_uri, timeout=timeout)
        caller_sas, callee_sas = await asyncio.gather(
            caller.wait_for_sas_line(timeout), callee.wait_for_sas_line(timeout)
        )
        if caller_sas.match.group("sas") != callee_sas.match.group("sas"):
            raise RuntimeError("linphonec peers printed different SAS values (compare their logs)")
        await caller.terminate(timeout=timeout)
    finally:
        await asyncio.gather(caller.stop(), callee.stop())
        if capture:
            await capture.stop()
    result: dict[str, float | None] = {
        "caller_ms": (caller_sas.line.at - sent_at) * 1000,
        "callee_ms": (callee_sas.line.at - sent_at) * 1000,
        "wire_ms": None,
    }
    if capture:
        packets = decode_zrtp(capture.pcap_path, media_ports)
        hellos = [p.time for p in packets if p.message_type == "Hello"]
        conf2acks = [p.time for p in packets if p.message_type == "Conf2ACK"]
        if hellos and conf2acks:
            result["wire_ms"] = (conf2acks[0] - hellos[0]) * 1000
    return result


async def linphone_to_linphone(
    runs: int = 5,
    *,
    key_agreement: str | None = None,
    wire: bool | None = None,
    timeout: float = 20,
    workdir: Path | None = None,
) -> dict[str, Any]:
    """Time INVITE -> SAS on both sides for `runs` fresh linphonec<->linphonec calls.

    key_agreement: None for linphonec's default (DH3k), or e.g. "X255". wire: also time Hello ->
    Conf2ACK from a capture (default: when dumpcap can capture here).
    """
    if runs < 1:
        raise ValueError(f"runs: {runs} is not a number of runs (expected 1 or more)")
    if shutil.which("linphonec") is None:
        raise FileNotFoundError("linphonec is not installed (Debian package linphone-cli)")
    wire = can_capture() if wire is None else wire
    samples: list[dict[str, float | None]] = []
    with tempfile.TemporaryDirectory(prefix="linphone-bench-", dir=workdir) as scratch:
        for index in range(runs):
            run_dir = Path(scratch) / f"run{index}"
            samples.append(await _one_run(run_dir, key_agreement, wire, timeout))
    both = [max(s["caller_ms"] or 0.0, s["callee_ms"] or 0.0) for s in samples]
    wire_samples = [s["wire_ms"] for s in samples if s["wire_ms"] is not None]
    return {
        "pair": "linphonec<->linphonec",
        "linphonec_version": linphonec_version(),
        "key_agreement": key_agreement or DEFAULT_KEY_AGREEMENT_LABEL,
        "runs": runs,
        "invite_to_sas_ms": summarize(both),
        "invite_to_caller_sas_ms": summarize([s["caller_ms"] or 0.0 for s in samples]),
        "invite_to_callee_sas_ms": summarize([s["callee_ms"] or 0.0 for s in samples]),
        "hello_to_conf2ack_ms": summarize(wire_samples) if wire else None,
        "clock": "time.monotonic around linphonec stdin/stdout pipes (see module docstring)",
    }


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    runs = int(args[0]) if args else 5
    key_agreement = args[1] if len(args) > 1 else None
    result = asyncio.run(linphone_to_linphone(runs, key_agreement=key_agreement))
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
