"""`make bench`: one run, one machine, every figure side by side — printed, JSON and a PNG plot.

Sections (each can be chosen with --only; a section that cannot run here is reported, not faked):
- call_setup: deskphone↔deskphone through the control socket, real processes on loopback:
  handset lifted (answer) → SAS on both screens, and dialled → SAS on both screens, from each
  phone's own monotonic timeline (CLOCK_MONOTONIC is shared by processes on one machine); with
  the default key agreement (DPQ1, post-quantum) and again with only X255 and only DH3k;
- linphone: linphonec↔linphonec dialled → SAS (the reference), and deskphone↔linphonec when the
  interop bench exists;
- zrtp: the in-process handshake per key agreement;
- media: own mouth-to-ear latency, CPU and RSS of the audio path with impairments;
- call_cpu: deskphone↔deskphone and linphonec↔linphonec in two-way calls with audio from files,
  in the same window: CPU % of a core and RSS per phone side by side with the ratio, for G.711
  and Opus, and idle; the floors a Python phone cannot go below here (call_floor.py's CPU in
  the same window, the RSS of the libraries the phone needs); cold start to ready
  (call_cpu_bench.py, issue 19);
- process: cold start to ready, RSS idle and in a call, CPU seconds per minute of a two-way call;
- nat: deskphone↔deskphone behind two NAT routers (ICE srflx pair, then TURN relay): dialled →
  SAS, ICE gathering and check times, CPU of a call on the pair (nat_bench.py; needs root);
- worst_case: the biggest inputs per size (a 60 KB SIP message of 5,000 headers, an SDP of
  10,000 lines, issue 21's offer) and how parsing/answering grows from n to 4n;
- flood: a secure call while one phone is flooded from 64 sources at 250-8,000 datagrams/s
  (deskphone_tools.flood_call): gap frames at each ear, control p99, RSS growth, CPU; the
  highest rate held with zero gaps; and genuine calls to the flooded idle phone while strangers
  fill their share of its SIP transactions: how many of 8 rang, from a LAN peer vs a stranger;
- conference: phone A's CPU in a 3-way conference it mixes next to a 2-party call (ratio, issue
  19's goal <= 2x), and mouth-to-ear through the mixer (conference_bench.py, issue 15).
Speed and memory claims live here, never in tests.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

CLK_TCK = os.sysconf("SC_CLK_TCK")


def machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("model name", "Model")):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": model or platform.processor(), "cores": os.cpu_count(),
            "arch": platform.machine(), "python": platform.python_version(),
            "kernel": platform.release(), "date": time.strftime("%Y-%m-%d %H:%M:%S")}


def _ms(samples: list[float]) -> dict[str, Any]:
    if not samples:
        return {"median": None, "min": None, "max": None, "samples": []}
    return {"median": round(statistics.median(samples), 1), "min": round(min(samples), 1),
            "max": round(max(samples), 1), "samples": [round(s, 1) for s in samples]}


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


# -- sections --------------------------------------------------------------------------------


# Beside the default configuration (which negotiates DPQ1 between deskphones): classical only.
CALL_SETUP_KEY_AGREEMENTS = ("X255", "DH3k")


def bench_call_setup(runs: int = 5) -> dict[str, Any]:
    return {"pair": "deskphone<->deskphone", "runs": runs, **_call_setup(runs, None),
            "by_key_agreement": {ka: _call_setup(runs, ka) for ka in CALL_SETUP_KEY_AGREEMENTS}}


def _call_setup(runs: int, key_agreement: str | None) -> dict[str, Any]:
    from deskphone_tools.harness import PhonePair

    answer_to_sas: list[float] = []
    dial_to_sas: list[float] = []
    negotiated: set[str] = set()
    zrtp = f'[zrtp]\nkey_agreements = ["{key_agreement}"]\n' if key_agreement else ""
    with PhonePair(extra_a=zrtp, extra_b=zrtp) as pair:
        a, b = pair.a, pair.b
        a.wait(lan_peers=f"~{b.extension}")
        for _ in range(runs):
            a.ctl("hook", "off")
            a.ctl("press", f"{b.extension}#")
            b.wait(call="ringing")
            b.ctl("hook", "off")
            sa = a.wait(security="secure|verified")
            sb = b.wait(security="secure|verified")
            negotiated.add("/".join(str(sa["zrtp"].get(k)) for k in ("key_agreement", "hash",
                                                                     "cipher")))
            secured = max(sa["timeline"]["secured"], sb["timeline"]["secured"])
            answer_to_sas.append((secured - sb["timeline"]["answered"]) * 1000)
            dial_to_sas.append((secured - sa["timeline"]["dialled"]) * 1000)
            a.ctl("hook", "on")
            b.wait(call="ended")
            b.ctl("hook", "on")
            a.wait(call="idle")
            b.wait(call="idle")
    return {"algorithms": sorted(negotiated), "answer_to_sas_ms": _ms(answer_to_sas),
            "invite_to_sas_ms": _ms(dial_to_sas)}


def bench_linphone(runs: int = 5) -> dict[str, Any]:
    from deskphone_tools.peers.bench import linphone_to_linphone

    result: dict[str, Any] = {"linphonec<->linphonec": asyncio.run(linphone_to_linphone(runs))}
    try:
        from deskphone_tools.peers.bench_deskphone import deskphone_to_linphone
    except ImportError:
        result["deskphone<->linphonec"] = {"skipped": "interop bench not available"}
    else:
        result["deskphone<->linphonec"] = asyncio.run(deskphone_to_linphone(runs))
    return result


def bench_zrtp(rounds: int = 10) -> dict[str, Any]:
    from deskphone_tools.zrtp_bench import measure_handshakes

    return measure_handshakes(rounds=rounds)


def bench_zrtp_cache(rounds: int = 20) -> dict[str, Any]:
    from deskphone_tools.zrtp_bench import measure_cache_writes

    return measure_cache_writes(rounds=rounds)


def bench_media() -> dict[str, Any]:
    from deskphone_tools.media_bench import run

    result: dict[str, Any] = run()
    return result


def bench_worst_case() -> dict[str, Any]:
    from deskphone_tools.fuzz.worst_case import measure

    return measure()


def bench_flood() -> dict[str, Any]:
    from deskphone_tools.flood_call import bench

    return bench()


def bench_nat() -> dict[str, Any]:
    from deskphone_tools.nat_bench import run

    return run()


def bench_conference() -> dict[str, Any]:
    from deskphone_tools.conference_bench import run

    return run()


def bench_call_cpu() -> dict[str, Any]:
    from deskphone_tools.call_cpu_bench import run

    return run()


def bench_process(call_seconds: float | None = None) -> dict[str, Any]:
    import tempfile

    from deskphone_tools.harness import PhonePair, PhoneProcess, lan_config
    from deskphone_tools.nat_bench import CALL_SECONDS

    call_seconds = CALL_SECONDS if call_seconds is None else call_seconds
    with tempfile.TemporaryDirectory(prefix="deskphone-bench-") as tmp:
        cold: list[float] = []
        for i in range(3):
            phone = PhoneProcess(f"cold{i}", "290", Path(tmp) / f"cold{i}",
                                 lan_config("290", "Cold"))
            started = time.monotonic()
            phone.start()
            cold.append((time.monotonic() - started) * 1000)
            phone.stop()
    with PhonePair() as pair:
        a, b = pair.a, pair.b
        a.wait(lan_peers=f"~{b.extension}")
        assert a.proc is not None and b.proc is not None
        rss_idle = _rss_mib(a.proc.pid)
        a.ctl("hook", "off")
        a.ctl("press", f"{b.extension}#")
        b.wait(call="ringing")
        b.ctl("hook", "off")
        a.wait(security="secure|verified")
        b.wait(security="secure|verified")
        b.wait(15.0, **{"media.packets_received": ">25"})
        cpu_a, cpu_b, t0 = _cpu_seconds(a.proc.pid), _cpu_seconds(b.proc.pid), time.monotonic()
        time.sleep(call_seconds)  # a benchmark measures a call of a given length
        elapsed = time.monotonic() - t0
        used_a = _cpu_seconds(a.proc.pid) - cpu_a
        used_b = _cpu_seconds(b.proc.pid) - cpu_b
        rss_call = max(_rss_mib(a.proc.pid), _rss_mib(b.proc.pid))
        state = b.state()
        a.ctl("hook", "on")
    per_minute = [u * 60 / elapsed for u in (used_a, used_b)]
    return {
        "cold_start_to_ready_ms": _ms(cold),
        "rss_idle_mib": rss_idle,
        "rss_in_call_mib": rss_call,
        "cpu_seconds_per_call_minute": [round(x, 2) for x in per_minute],
        "cpu_percent_of_one_core": [round(x / 60 * 100, 2) for x in per_minute],
        "codec": state.get("codec"),
        "note": "two-way G.711 SRTP call between two sim phones, silence on both capture sides",
    }


SECTIONS: dict[str, Callable[[], dict[str, Any]]] = {
    "call_setup": bench_call_setup,
    "zrtp": bench_zrtp,
    "zrtp_cache": bench_zrtp_cache,
    "process": bench_process,
    "call_cpu": bench_call_cpu,
    "media": bench_media,
    "linphone": bench_linphone,
    "worst_case": bench_worst_case,
    "flood": bench_flood,
    "nat": bench_nat,
    "conference": bench_conference,
}


# -- report ----------------------------------------------------------------------------------


def summary_rows(results: dict[str, Any]) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []

    def median(section: str, *path: str) -> float | None:
        value: Any = results.get(section)
        for key in path:
            if not isinstance(value, dict):
                return None
            value = value.get(key)
        return value if isinstance(value, int | float) else None

    def add(label: str, value: float | None, unit: str) -> None:
        rows.append((label, "—" if value is None else f"{value:g} {unit}"))

    add("answer → SAS on both screens, deskphone↔deskphone",
        median("call_setup", "answer_to_sas_ms", "median"), "ms")
    add("dialled → SAS, deskphone↔deskphone (default: DPQ1)",
        median("call_setup", "invite_to_sas_ms", "median"), "ms")
    for ka in CALL_SETUP_KEY_AGREEMENTS:
        add(f"dialled → SAS, deskphone↔deskphone, {ka} only",
            median("call_setup", "by_key_agreement", ka, "invite_to_sas_ms", "median"), "ms")
    for mode, label in (("port-preserving", "ICE srflx"), ("random", "ICE TURN relay")):
        add(f"dialled → SAS, deskphone↔deskphone behind two NATs, {label}",
            median("nat", mode, "dial_to_sas_ms", "median"), "ms")
        add(f"ICE gathering (host+srflx{'+relay' if mode == 'random' else ''}), {label}",
            median("nat", mode, "ice_gathering_ms", "median"), "ms")
        for side, role in (("caller", "controlling"), ("callee", "controlled")):
            add(f"ICE checks to a nominated pair, {label}, {side} ({role})",
                median("nat", mode, "ice_checks_ms", side, "median"), "ms")
            add(f"ICE nomination → secured, {label}, {side}",
                median("nat", mode, "nomination_to_secured_ms", side, "median"), "ms")
    add("dialled → SAS, deskphone↔linphonec",
        median("linphone", "deskphone<->linphonec", "invite_to_sas_ms", "median"), "ms")
    add("dialled → SAS, linphonec↔linphonec",
        median("linphone", "linphonec<->linphonec", "invite_to_sas_ms", "median"), "ms")
    for ka in ("DPQ1", "DH3k", "X255", "EC25"):
        add(f"ZRTP handshake in process, {ka}", median("zrtp", ka, "median_ms"), "ms")
    for ka in ("DPQ1", "DH3k", "X255"):
        add(f"largest ZRTP packet (UDP payload), {ka}",
            median("zrtp", ka, "largest_packet_bytes"), "bytes")
    add("retained-secret write, loop held inline (fsync)",
        median("zrtp_cache", "inline", "loop_held", "median_ms"), "ms")
    add("retained-secret write, loop held via CacheWriter",
        median("zrtp_cache", "cache_writer", "loop_held", "median_ms"), "ms")
    media = results.get("media") or {}
    rows_media = media.get("media", []) if isinstance(media, dict) else []
    for row in rows_media:
        if row.get("phase_ms") == 10 and (row.get("loss_pct"), row.get("jitter_ms")) in (
                (0, 0), (5, 30), (20, 0)):
            add(f"own mouth-to-ear, {row['codec']}, {row['loss_pct']} % loss, "
                f"{row['jitter_ms']} ms jitter", row.get("mouth_to_ear_ms"), "ms")
    if isinstance(media, dict) and isinstance(media.get("code_us_per_tick"), dict):
        pcmu = media["code_us_per_tick"].get("PCMU")
        add("media code per 20 ms tick, PCMU SRTP", pcmu, "µs")
    proc = results.get("process") or {}
    if isinstance(proc, dict) and "cpu_percent_of_one_core" in proc:
        add("CPU of one core in a G.711 SRTP call (per phone, max)",
            max(proc["cpu_percent_of_one_core"]), "%")
        add("RSS idle", proc.get("rss_idle_mib"), "MiB")
        add("RSS in call", proc.get("rss_in_call_mib"), "MiB")
        add("cold start to ready", median("process", "cold_start_to_ready_ms", "median"), "ms")
    call_cpu = results.get("call_cpu")
    if isinstance(call_cpu, dict) and "g711" in call_cpu:
        from deskphone_tools.call_cpu_bench import summary as call_cpu_summary

        rows += call_cpu_summary(call_cpu)
    flood = results.get("flood") or {}
    if isinstance(flood, dict) and "runs" in flood:
        from deskphone_tools.flood_call import summary as flood_summary

        rows += flood_summary(flood)
    nat = results.get("nat")
    if isinstance(nat, dict):
        for mode, label in (("lan", "the LAN path (same run, same window)"),
                            ("port-preserving", "an ICE srflx pair"), ("random", "TURN")):
            cpus = nat.get(mode, {}).get("cpu_percent_of_one_core") if isinstance(
                nat.get(mode), dict) else None
            if cpus:
                add(f"CPU of one core in a G.711 SRTP call over {label} (per phone, max)",
                    max(cpus), "%")
    conference = results.get("conference") or {}
    if isinstance(conference, dict) and "pcmu_pcmu" in conference:
        from deskphone_tools.conference_bench import summary as conference_summary

        rows += conference_summary(conference)
    worst = results.get("worst_case") or {}
    if isinstance(worst, dict) and "sip" in worst:
        from deskphone_tools.fuzz.worst_case import summary

        rows += summary(worst)
    return rows


def print_table(rows: list[tuple[str, str]], out: Any = sys.stdout) -> None:
    width = max(len(label) for label, _ in rows)
    print(f"| {'figure':<{width}} | value |", file=out)
    print(f"|{'-' * (width + 2)}|-------|", file=out)
    for label, value in rows:
        print(f"| {label:<{width}} | {value} |", file=out)


def plot(results: dict[str, Any], path: Path) -> None:
    """A bar chart of the call-setup figures (drawn with Pillow: no plotting dependency)."""
    from PIL import Image, ImageDraw, ImageFont

    ascii_only = str.maketrans({"→": "->", "↔": "<->", "—": "-", "µ": "u"})
    bars = [(label.translate(ascii_only), float(value.split()[0]))
            for label, value in summary_rows(results)
            if value != "—" and value.endswith(" ms") and "cold start" not in label]
    width, row = 900, 34
    image = Image.new("RGB", (width, 60 + row * max(1, len(bars))), "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=14)
    draw.text((10, 10), f"deskphone: call setup and audio latency (ms), "
              f"{results['machine']['cpu']}, {results['machine']['cores']} cores",
              fill="black", font=font)
    top = max((v for _, v in bars), default=1.0)
    for i, (label, value) in enumerate(bars):
        y = 45 + i * row
        draw.text((10, y + 6), label[:60], fill="black", font=font)
        length = int((width - 520) * value / top)
        draw.rectangle((430, y + 4, 430 + max(2, length), y + row - 8), fill=(40, 90, 160))
        draw.text((436 + length, y + 6), f"{value:g}", fill="black", font=font)
    image.save(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="deskphone_tools.bench", description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("bench-results.json"))
    parser.add_argument("--only", nargs="*", choices=sorted(SECTIONS), default=None)
    args = parser.parse_args(argv)
    results: dict[str, Any] = {"machine": machine()}
    for name in args.only or list(SECTIONS):
        print(f"bench: {name}…", file=sys.stderr, flush=True)
        started = time.monotonic()
        try:
            results[name] = SECTIONS[name]()
        except Exception as exc:  # one section failing must not hide the others
            results[name] = {"error": f"{type(exc).__name__}: {exc}"}
            traceback.print_exc()
        print(f"bench: {name} took {time.monotonic() - started:.1f} s", file=sys.stderr)
    args.out.write_text(json.dumps(results, indent=2, default=str) + "\n")
    png = args.out.with_suffix(".png")
    plot(results, png)
    rows = summary_rows(results)
    markdown = args.out.with_suffix(".md")
    with markdown.open("w") as out:
        m = results["machine"]
        print(f"Measured {m['date']} on {m['cpu']}, {m['cores']} cores, {m['arch']}, "
              f"Python {m['python']} (`make bench`).\n", file=out)
        print_table(rows, out)
    print(f"\nmachine: {results['machine']['cpu']}, {results['machine']['cores']} cores, "
          f"Python {results['machine']['python']}")
    print_table(rows)
    print(f"\nwritten: {args.out}, {png} and {markdown}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
