"""`make bench` section "nat": calls between two homes behind real NAT routers (the NAT lab).

For each router mode (port-preserving: ICE finds a srflx pair straight between the routers;
randomising: only coturn's TURN relay connects) two `deskphone run --sim` processes registered
with Kamailio on the public side call each other a few times. Figures: dialled → SAS on both
screens (each phone's own monotonic timeline, as in the LAN call_setup section), ICE gathering
and connectivity-check times as the agents report them (caller: controlling, callee:
controlled), each side's nomination → secured (ZRTP on the pair), and the CPU of both phone
processes during the two-way SRTP call on the pair, next to the same figure for a LAN call
(two phones on loopback, no [nat]) measured in this section over the same window (CALL_SECONDS,
also the "process" section's), so the ICE path and today's path compare within one run.
Needs root, nftables, coturn and Kamailio; otherwise the section says so instead of a figure.

Where the ~0.5 s after nomination went (port-preserving, 5 calls, medians): the callee's first
check is dropped by the caller's router (no mapping yet); aioice restarted only Frozen/Failed
pairs on the peer's check, so the callee's pair succeeded at its 500 ms retransmission and the
caller's ZRTP Hellos, sent on nomination, were dropped until then. Before the adapter's
triggered check (agent.py, RFC 8445 §7.3.1.4): callee checks 523 ms, caller nomination →
secured 558 ms, dialled → SAS 657 ms; after: 41 ms, 56 ms, 161 ms. Through TURN (randomising
routers, 3 calls): callee checks 564 → 120 ms, dialled → SAS 769 → 247 ms, and both ends now
nominate the same relay ↔ relay pair.
"""

from __future__ import annotations

import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from deskphone_tools.natlab import PUBLIC_ADDRESS, NatLab, NatMode, TurnServer
from deskphone_tools.natlab_phones import LabRegistrar, lab_phone

CLK_TCK = os.sysconf("SC_CLK_TCK")
CALL_SECONDS = 10.0  # the window of every CPU figure of a call (bench.py's process section too)


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def _median(samples: list[float]) -> float | None:
    return round(statistics.median(samples), 1) if samples else None


def _mode(mode: NatMode, runs: int, call_seconds: float) -> dict[str, Any]:
    dial_to_sas: list[float] = []
    gathering: list[float] = []
    checks: dict[str, list[float]] = {"caller": [], "callee": []}
    nominated_to_secured: dict[str, list[float]] = {"caller": [], "callee": []}
    paths: set[str] = set()
    with tempfile.TemporaryDirectory(prefix="deskphone-natbench-") as tmp, \
            NatLab(modes=(mode, mode)) as lab, TurnServer(lab) as turn:
        root = Path(tmp)
        nat = f'[nat]\nstun = "{PUBLIC_ADDRESS}:{turn.port}"'
        if mode is NatMode.RANDOM:
            nat += (f'\nturn = "turn:{PUBLIC_ADDRESS}:{turn.port}?transport=udp"'
                    f'\nturn_user = "{turn.username}"\nturn_password = "{turn.password}"')
        registrar = LabRegistrar(lab)
        alice = lab_phone(root, lab.homes[0], "alice", "201", registrar.address, nat=nat,
                          audio="")
        bob = lab_phone(root, lab.homes[1], "bob", "202", registrar.address, nat=nat, audio="")
        try:
            registrar.start()
            alice.start()
            bob.start()
            for phone in (alice, bob):
                phone.wait(status="registered", timeout=15)
            assert alice.proc is not None and bob.proc is not None
            cpu: list[float] = []
            for run in range(runs):
                alice.ctl("hook", "off")
                alice.ctl("press", "202#")
                bob.wait(call="ringing")
                bob.ctl("hook", "off")
                sa = alice.wait(25, security="secure|verified")
                sb = bob.wait(25, security="secure|verified")
                secured = max(sa["timeline"]["secured"], sb["timeline"]["secured"])
                dial_to_sas.append((secured - sa["timeline"]["dialled"]) * 1000)
                for side, state in (("caller", sa), ("callee", sb)):
                    stats = state["ice"]["stats"]
                    gathering.append(stats["gathering_seconds"] * 1000)
                    if stats["connect_seconds"] is not None:
                        checks[side].append(stats["connect_seconds"] * 1000)
                    if stats["connected_at"] is not None:  # both on time.monotonic()
                        nominated_to_secured[side].append(
                            (state["timeline"]["secured"] - stats["connected_at"]) * 1000)
                    paths.add(state["ice"]["path"] + " " + state["ice"]["kind"])
                if run == 0:  # CPU of a call on the pair, once per mode
                    bob.wait(15, **{"media.packets_received": ">25"})
                    before = [_cpu_seconds(p.proc.pid) for p in (alice, bob) if p.proc]
                    started = time.monotonic()
                    time.sleep(call_seconds)  # a benchmark measures a call of a given length
                    elapsed = time.monotonic() - started
                    after = [_cpu_seconds(p.proc.pid) for p in (alice, bob) if p.proc]
                    cpu = [round((b - a) / elapsed * 100, 2) for a, b in zip(before, after,
                                                                                strict=True)]
                    receive_mode = bob.state()["media"]["receive_mode"]
                alice.ctl("hook", "on")
                bob.wait(call="ended")
                bob.ctl("hook", "on")
                alice.wait(call="idle")
                bob.wait(call="idle")
        finally:
            for phone in (alice, bob):
                phone.stop()
            registrar.close()
    return {"runs": runs, "path": sorted(paths),
            "dial_to_sas_ms": {"median": _median(dial_to_sas),
                               "samples": [round(x, 1) for x in dial_to_sas]},
            "ice_gathering_ms": {"median": _median(gathering)},
            "ice_checks_ms": {side: {"median": _median(samples),
                                     "samples": [round(x, 1) for x in samples]}
                              for side, samples in checks.items()},
            "nomination_to_secured_ms": {side: {"median": _median(samples)}
                                         for side, samples in nominated_to_secured.items()},
            "cpu_percent_of_one_core": cpu, "receive_mode": receive_mode,
            "note": "G.711 SRTP both ways, silence captured; CPU over "
                    f"{call_seconds:g} s of the first call"}


def _lan_call_cpu(call_seconds: float) -> dict[str, Any]:
    """The same measurement on today's path: two phones on loopback without [nat]."""
    from deskphone_tools.harness import PhonePair

    with PhonePair() as pair:
        a, b = pair.a, pair.b
        a.wait(lan_peers=f"~{b.extension}")
        assert a.proc is not None and b.proc is not None
        a.ctl("hook", "off")
        a.ctl("press", f"{b.extension}#")
        b.wait(call="ringing")
        b.ctl("hook", "off")
        a.wait(security="secure|verified")
        b.wait(15, **{"media.packets_received": ">25"})
        before = [_cpu_seconds(p.proc.pid) for p in (a, b) if p.proc]
        started = time.monotonic()
        time.sleep(call_seconds)  # a benchmark measures a call of a given length
        elapsed = time.monotonic() - started
        after = [_cpu_seconds(p.proc.pid) for p in (a, b) if p.proc]
        receive_mode = b.state()["media"]["receive_mode"]
        a.ctl("hook", "on")
    return {"cpu_percent_of_one_core": [round((y - x) / elapsed * 100, 2)
                                        for x, y in zip(before, after, strict=True)],
            "receive_mode": receive_mode,
            "note": f"G.711 SRTP both ways on loopback, no ICE; CPU over {call_seconds:g} s"}


def run(runs: int = 3, call_seconds: float = CALL_SECONDS) -> dict[str, Any]:
    if os.geteuid() != 0:
        return {"skipped": "needs root (network namespaces, nftables)"}
    missing = [t for t in ("ip", "nft", "turnserver", "kamailio")
               if shutil.which(t) is None and not os.path.exists(f"/usr/sbin/{t}")]
    if missing:
        return {"skipped": f"not installed: {', '.join(missing)}"}
    results: dict[str, Any] = {"lan": _lan_call_cpu(call_seconds)}
    results.update({mode.value: _mode(mode, runs, call_seconds)
                    for mode in (NatMode.PORT_PRESERVING, NatMode.RANDOM)})
    return results
