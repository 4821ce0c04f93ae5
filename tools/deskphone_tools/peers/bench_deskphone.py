"""deskphone calling linphonec on loopback, from dialling to the SAS on both sides (`make bench`).

Measured the same way as the linphonec<->linphonec reference in peers/bench.py, so the two figures
sit side by side: per run a fresh linphonec (auto-answer, fresh ZRTP cache, hence a new ZID and a
full DH exchange, RFC 6189 §4.1) is called by one `deskphone run --sim` process with
`ctl dial sip:bench@127.0.0.1:<port>`.

- `invite_to_sas_ms`: from the phone's own "dialled" mark to the later of its "secured" mark and
  the moment linphonec's "Call 1 is fully encrypted and auth token is ..." line is read here;
- `invite_to_ours_sas_ms` / `invite_to_linphone_sas_ms`: each side separately.

Clocks: the phone's timeline is `time.monotonic()` in the phone process and the linphonec line
time is `time.monotonic()` here; both read CLOCK_MONOTONIC, one clock for every process on Linux.
The linphonec side carries the pipe latency described in peers/bench.py (up to one loop step of
linphonec, ~10-20 ms), so it is an upper bound.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from deskphone_tools.harness import PhoneProcess
from deskphone_tools.peers.bench import _free_port, linphonec_version, summarize
from deskphone_tools.peers.linphone import LinphonePeer


def bench_phone_config(sip_port: int) -> str:
    return f"""
[identity]
user = "bench"
extension = "201"
display_name = "Bench"

[sip]
listen = "udp:127.0.0.1:{sip_port}"

[devices]
mode = "sim"

[discovery]
enabled = false
"""


async def _one_call(phone: PhoneProcess, workdir: Path, key_agreements: list[str] | None,
                    timeout: float) -> dict[str, Any]:
    linphone = LinphonePeer(workdir, user="callee", sip_port=_free_port(),
                            rtp_port=_free_port(pair=True), auto_answer=True,
                            key_agreements=key_agreements)
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        await linphone.start()
        await asyncio.to_thread(phone.ctl, "dial", linphone.sip_uri)
        linphone_sas = await linphone.wait_for_sas_line(timeout)
        ours = await asyncio.to_thread(phone.wait, timeout, security="secure|verified",
                                       call="in_call")
        if ours["sas"] != linphone_sas.match.group("sas"):
            raise RuntimeError("deskphone and linphonec show different SAS values "
                               f"(see {phone.log_path} and {linphone.log_path})")
        since = linphone.mark()
        await asyncio.to_thread(phone.ctl, "hangup")
        await linphone.wait_call_end(timeout, since=since)
        await asyncio.to_thread(phone.wait, timeout, call="idle|ended")
    finally:
        await linphone.stop()
    timeline = ours["timeline"]
    dialled = timeline["dialled"]
    return {
        "ours_ms": (timeline["secured"] - dialled) * 1000,
        "linphone_ms": (linphone_sas.line.at - dialled) * 1000,
        "role": ours["zrtp"]["role"],
        "algorithms": "/".join(str(ours["zrtp"].get(k)) for k in
                               ("key_agreement", "hash", "cipher", "auth_tag", "sas_type")),
    }


async def deskphone_to_linphone(runs: int = 5, *, key_agreement: str | None = None,
                                timeout: float = 20, workdir: Path | None = None
                                ) -> dict[str, Any]:
    """Time dialled -> SAS on both sides for `runs` fresh deskphone->linphonec calls.

    key_agreement: None for linphonec's default (DH3k), or e.g. "X255" (set on linphonec; we
    offer both). Raises FileNotFoundError when linphonec is not installed.
    """
    if runs < 1:
        raise ValueError(f"runs: {runs} is not a number of runs (expected 1 or more)")
    if shutil.which("linphonec") is None:
        raise FileNotFoundError("linphonec is not installed (Debian package linphone-cli)")
    key_agreements = [key_agreement] if key_agreement else None
    samples: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="dl-bench-", dir=workdir) as scratch:
        root = Path(scratch)
        phone = PhoneProcess("bench", "201", root / "p", bench_phone_config(_free_port()))
        await asyncio.to_thread(phone.start)
        try:
            for index in range(runs):
                samples.append(await _one_call(phone, root / f"linphone{index}",
                                               key_agreements, timeout))
        finally:
            await asyncio.to_thread(phone.stop)
    both = [max(s["ours_ms"], s["linphone_ms"]) for s in samples]
    return {
        "pair": "deskphone->linphonec",
        "linphonec_version": linphonec_version(),
        "key_agreement": key_agreement or "DH3k (linphonec default)",
        "algorithms": sorted({s["algorithms"] for s in samples}),
        "runs": runs,
        "our_roles": [s["role"] for s in samples],
        "invite_to_sas_ms": summarize(both),
        "invite_to_ours_sas_ms": summarize([s["ours_ms"] for s in samples]),
        "invite_to_linphone_sas_ms": summarize([s["linphone_ms"] for s in samples]),
        "clock": "CLOCK_MONOTONIC: phone timeline and linphonec stdout read time",
    }


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    runs = int(args[0]) if args else 5
    key_agreement = args[1] if len(args) > 1 else None
    print(json.dumps(asyncio.run(deskphone_to_linphone(runs, key_agreement=key_agreement)),
                     indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
