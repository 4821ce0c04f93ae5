"""Call CPU and memory, deskphone against linphonec, measured side by side (issue 19).

Two deskphones (real `deskphone run --sim` processes, audio from and to files) and two linphonec
(`soundcard use files`, `play`/`record` of WAV files) are each in a two-way call at the same time,
and every process's CPU (utime + stime from /proc/PID/stat) is read at the start and the end of
one shared window: a busy neighbour on the machine slows both pairs alike. Per phone: % of one
core over the window, and VmRSS at its end. The ratio is deskphone / linphonec, per phone (the
mean of the two phones of a pair).

Windows, one after another:
- idle: both pairs started, no call (deskphones announce themselves over DNS-SD; nothing else
  should tick);
- G.711: PCMU, SRTP keyed by ZRTP on both pairs;
- Opus: the same with opus (deskphone's figure is also given relative to its own G.711 call).
And cold start to ready (control socket answering) of a deskphone process, three times.

Floors (what no Python phone on this machine can go below, so what the ratios can reach):
- CPU: two call_floor.py processes (Python + uvloop doing per 20 ms only one timer wake-up, one
  datagram in, one out, one audio frame read from a file and one written) run in the G.711
  window beside the phones;
- RSS: a Python process that only imports the libraries the phone cannot do without (the loop,
  cryptography, pylibsrtp, Pillow for the screen, gpiozero for the pins, zeroconf for the LAN).

CPU time is the sum over the process's threads of /proc/PID/task/TID/schedstat's time on CPU
(nanoseconds; /proc/PID/stat's utime + stime tick at 10 ms, too coarse for ~1 % over 15 s).

Profile: when py-spy is installed (`pip install -e 'tools[bench]'`), one deskphone of the G.711
call is sampled after the measured window (non-blocking: the process is never paused) and the
top entries by own and by inclusive samples are reported: where a call's CPU goes.
"""

from __future__ import annotations

import asyncio
import math
import os
import shutil
import statistics
import sys
import tempfile
import time
import wave
from array import array
from collections import Counter
from pathlib import Path
from typing import Any

CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """Time on CPU of every live thread of `pid` (schedstat, ns), utime + stime without it."""
    total = 0
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            try:
                total += int((task / "schedstat").read_text().split()[0])
            except (OSError, ValueError, IndexError):
                continue  # a thread that has just ended
    except OSError:
        total = 0
    if total:
        return total / 1e9
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


def speech_like(rate: int, seconds: float) -> array:
    """A tone that changes pitch and loudness every 200 ms: not silence, which some codecs
    (Opus DTX) and jitter buffers treat more cheaply than speech."""
    samples = array("h")
    for i in range(int(rate * seconds)):
        segment = i // (rate // 5)
        freq = 300 + 97 * (segment % 7)
        amp = 4000 + 3000 * (segment % 3)
        samples.append(int(amp * math.sin(2 * math.pi * freq * i / rate)))
    return samples


async def _window(pids: dict[str, list[int]], seconds: float) -> dict[str, Any]:
    """CPU % of one core and end RSS of every pid, over one shared window."""
    start = {pid: cpu_seconds(pid) for group in pids.values() for pid in group}
    t0 = time.monotonic()
    await asyncio.sleep(seconds)  # a benchmark measures a window of a given length
    elapsed = time.monotonic() - t0
    result: dict[str, Any] = {"seconds": round(elapsed, 1)}
    for name, group in pids.items():
        cpu = [round((cpu_seconds(p) - start[p]) / elapsed * 100, 2) for p in group]
        result[name] = {"cpu_percent_of_one_core": cpu,
                        "cpu_percent_mean": round(statistics.mean(cpu), 2),
                        "rss_mib": [rss_mib(p) for p in group]}
    return result


async def profile(pid: int, seconds: float, out: Path, top: int = 12) -> dict[str, Any]:
    """py-spy's samples of `pid` for `seconds`: the top frames by own and by inclusive share."""
    # the venv's bin first: `make bench` runs .venv/bin/python without the venv on PATH
    beside = Path(sys.executable).parent / "py-spy"
    spy = str(beside) if beside.exists() else shutil.which("py-spy")
    if spy is None:
        return {"skipped": "py-spy is not installed (pip install -e 'tools[bench]')"}
    process = await asyncio.create_subprocess_exec(
        spy, "record", "--nonblocking", "-p", str(pid), "-d", str(int(seconds)), "-r", "1000",
        "-f", "raw", "-o", str(out), stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE)
    _, err = await process.communicate()
    if process.returncode != 0 or not out.exists():
        return {"error": f"py-spy exited with {process.returncode}: {err.decode()[-300:]}"}
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in out.read_text().splitlines():  # collapsed stacks: "f1;f2;...;fn count"
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        total += int(count)
        own[frames[-1]] += int(count)
        for frame in set(frames):
            inclusive[frame] += int(count)

    def share(counter: Counter[str]) -> list[tuple[str, float]]:
        return [(frame, round(100 * n / total, 1)) for frame, n in counter.most_common(top)]

    return {"samples": total, "own_pct": share(own), "inclusive_pct": share(inclusive)}


def _ratios(window: dict[str, Any]) -> dict[str, float | None]:
    desk, lin = window.get("deskphone"), window.get("linphonec")
    if not desk or not lin:
        return {}
    cpu_l = lin["cpu_percent_mean"]
    rss_d, rss_l = statistics.mean(desk["rss_mib"]), statistics.mean(lin["rss_mib"])
    return {"cpu": round(desk["cpu_percent_mean"] / cpu_l, 2) if cpu_l else None,
            "rss": round(rss_d / rss_l, 2) if rss_l else None,
            **_floor_ratio(window, cpu_l)}


def _floor_ratio(window: dict[str, Any], cpu_linphonec: float) -> dict[str, float]:
    """The Python floor's CPU over linphonec's: the smallest ratio a Python phone could show."""
    floor = window.get("python_floor")
    if not floor or not cpu_linphonec:
        return {}
    return {"python_floor_cpu": round(floor["cpu_percent_mean"] / cpu_linphonec, 2)}


class _DeskphonePair:
    """Two sim phones with file audio; calls placed and ended through the control socket."""

    def __init__(self, root: Path, capture: Path, codec: str) -> None:
        from deskphone_tools.harness import PhoneProcess, lan_config, unique_extensions

        self.phones = []
        for name, ext in zip(("A", "B"), unique_extensions(2), strict=True):
            extra = (f'\n[audio]\ncapture_file = "{capture}"\n'
                     f'playback_file = "{root / (name + ".out.raw")}"\n'
                     f'codecs = ["{codec}"]\n')
            self.phones.append(PhoneProcess(name, ext, root / name,
                                            lan_config(ext, f"Bench {name}", extra=extra)))

    @property
    def pids(self) -> list[int]:
        return [p.proc.pid for p in self.phones if p.proc is not None]

    def start(self) -> None:
        for phone in self.phones:
            phone.start()
        self.phones[0].wait(lan_peers=f"~{self.phones[1].extension}")

    def call(self) -> str:
        a, b = self.phones
        a.ctl("hook", "off")
        a.ctl("press", f"{b.extension}#")
        b.wait(call="ringing")
        b.ctl("hook", "off")
        a.wait(security="secure|verified")
        b.wait(security="secure|verified")
        b.wait(15.0, **{"media.packets_received": ">50"})
        return str(b.state().get("codec"))

    def hang_up(self) -> None:
        a, b = self.phones
        a.ctl("hook", "on")
        b.wait(call="ended")
        b.ctl("hook", "on")
        a.wait(call="idle")
        b.wait(call="idle")

    def stop(self) -> None:
        for phone in self.phones:
            phone.stop()


class _FloorPair:
    """Two call_floor.py processes sending to each other (module docstring: the CPU floor)."""

    def __init__(self, root: Path, capture: Path) -> None:
        self.root, self.capture = root, capture
        self.processes: list[asyncio.subprocess.Process] = []

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.processes]

    async def start(self) -> None:
        from deskphone_tools.peers.bench import _free_port

        self.root.mkdir(parents=True, exist_ok=True)
        ports = (_free_port(), _free_port())
        for name, mine, theirs in (("A", ports[0], ports[1]), ("B", ports[1], ports[0])):
            self.processes.append(await asyncio.create_subprocess_exec(
                sys.executable, "-m", "deskphone_tools.call_floor", "--port", str(mine),
                "--peer-port", str(theirs), "--capture", str(self.capture),
                "--playback", str(self.root / f"{name}.out.raw")))

    async def stop(self) -> None:
        for process in self.processes:
            if process.returncode is None:
                process.terminate()
            await process.wait()


# What the phone imports and cannot do without (module docstring: the RSS floor).
_REQUIRED_LIBRARIES = ("uvloop", "cryptography.hazmat.primitives.asymmetric.x25519",
                       "cryptography.hazmat.primitives.ciphers.aead", "pylibsrtp",
                       "google_crc32c", "PIL.ImageDraw", "gpiozero.pins.mock", "zeroconf.asyncio")


async def rss_floor() -> dict[str, Any]:
    code = ("import importlib, pathlib\n"
            f"for name in {_REQUIRED_LIBRARIES!r}: importlib.import_module(name)\n"
            "status = pathlib.Path('/proc/self/status').read_text()\n"
            "print(int(status.split('VmRSS:')[1].split()[0]))\n")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", code, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    out, err = await process.communicate()
    if process.returncode != 0:
        return {"error": err.decode()[-300:]}
    return {"rss_mib": round(int(out) / 1024, 1), "libraries": list(_REQUIRED_LIBRARIES)}


class _LinphonePair:
    def __init__(self, root: Path, wav: Path, codec: str) -> None:
        from deskphone_tools.peers.bench import _free_port
        from deskphone_tools.peers.linphone import LinphonePeer

        self.root, self.wav = root, wav
        self.caller = LinphonePeer(root / "caller", user="caller", sip_port=_free_port(),
                                   rtp_port=_free_port(pair=True), codecs=[codec])
        self.callee = LinphonePeer(root / "callee", user="callee", sip_port=_free_port(),
                                   rtp_port=_free_port(pair=True), codecs=[codec],
                                   auto_answer=True)

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in (self.caller, self.callee) if p.pid is not None]

    async def start(self) -> None:
        for peer in (self.caller, self.callee):
            peer.workdir.mkdir(parents=True, exist_ok=True)
        await asyncio.gather(self.caller.start(), self.callee.start())

    async def call(self) -> None:
        for peer in (self.caller, self.callee):
            await peer.record(peer.workdir / "received.wav")
        await self.caller.call(self.callee.sip_uri, timeout=20)
        await asyncio.gather(self.caller.wait_for_sas_line(20), self.callee.wait_for_sas_line(20))
        for peer in (self.caller, self.callee):
            await peer.play(self.wav)

    async def hang_up(self) -> None:
        await self.caller.terminate(timeout=10)

    async def stop(self) -> None:
        await asyncio.gather(self.caller.stop(), self.callee.stop())


async def _run(seconds: float, root: Path) -> dict[str, Any]:
    rate = 8000
    audio = speech_like(rate, 600.0)  # longer than any window: never silence mid-window
    capture = root / "speech.raw"
    capture.write_bytes(audio.tobytes())
    wav = root / "speech.wav"
    with wave.open(str(wav), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(audio.tobytes())
    have_linphone = shutil.which("linphonec") is not None
    result: dict[str, Any] = {"window_seconds": seconds}
    for label, codec in (("g711", "PCMU"), ("opus", "opus")):
        desk = _DeskphonePair(root / f"deskphone-{label}", capture, codec)
        lin = _LinphonePair(root / f"linphone-{label}", wav, codec) if have_linphone else None
        floor = _FloorPair(root / "floor", capture) if label == "g711" else None
        try:
            await asyncio.to_thread(desk.start)
            if lin is not None:
                await lin.start()
            if label == "g711":
                pids = {"deskphone": desk.pids} | ({"linphonec": lin.pids} if lin else {})
                idle = await _window(pids, seconds)
                idle["ratio"] = _ratios(idle)
                result["idle"] = idle
            negotiated = await asyncio.to_thread(desk.call)
            if lin is not None:
                await lin.call()
            if floor is not None:
                await floor.start()
            await asyncio.sleep(1.0)  # jitter buffers settle, warm-up out of the window
            pids = {"deskphone": desk.pids} | ({"linphonec": lin.pids} if lin else {})
            if floor is not None:
                pids["python_floor"] = floor.pids
            window = await _window(pids, seconds)
            window["codec"] = negotiated
            window["ratio"] = _ratios(window)
            result[label] = window
            if label == "g711":
                result["profile_g711"] = await profile(desk.pids[1], 8.0, root / "g711.spy")
            await asyncio.to_thread(desk.hang_up)
            if lin is not None:
                await lin.hang_up()
        finally:
            if floor is not None:
                await floor.stop()
            if lin is not None:
                await lin.stop()
            await asyncio.to_thread(desk.stop)
    if not have_linphone:
        result["linphonec"] = "skipped: linphonec is not installed (Debian package linphone-cli)"
    g711, opus = result["g711"]["deskphone"], result["opus"]["deskphone"]
    result["rss_floor"] = await rss_floor()
    if g711["cpu_percent_mean"]:
        result["opus_over_g711_cpu"] = round(opus["cpu_percent_mean"] / g711["cpu_percent_mean"],
                                             2)
    return result


def cold_start(runs: int = 3) -> dict[str, Any]:
    from deskphone_tools.harness import PhoneProcess, lan_config

    samples: list[float] = []
    with tempfile.TemporaryDirectory(prefix="deskphone-cold-") as tmp:
        for i in range(runs):
            phone = PhoneProcess(f"cold{i}", "290", Path(tmp) / f"cold{i}",
                                 lan_config("290", "Cold"))
            started = time.monotonic()
            phone.start()
            samples.append(round((time.monotonic() - started) * 1000, 1))
            phone.stop()
    return {"median_ms": statistics.median(samples), "samples_ms": samples}


def run(seconds: float = 15.0) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="call-cpu-bench-") as tmp:
        result = asyncio.run(_run(seconds, Path(tmp)))
    result["cold_start_to_ready"] = cold_start()
    return result


def summary(result: dict[str, Any]) -> list[tuple[str, str]]:
    """Rows for bench.py's table: deskphone | linphonec | ratio."""
    rows: list[tuple[str, str]] = []

    def side_by_side(label: str, window: Any) -> None:
        if not isinstance(window, dict) or "deskphone" not in window:
            return
        d, lin = window["deskphone"], window.get("linphonec")
        ratio = window.get("ratio") or {}
        cpu = f"{d['cpu_percent_mean']:g} %"
        rss = f"{statistics.mean(d['rss_mib']):.1f} MiB"
        if lin:
            cpu += f" vs linphonec {lin['cpu_percent_mean']:g} % = {ratio.get('cpu')}×"
            rss += f" vs linphonec {statistics.mean(lin['rss_mib']):.1f} MiB = {ratio.get('rss')}×"
        rows.append((f"CPU of one core per phone, {label}", cpu))
        rows.append((f"RSS per phone, {label}", rss))

    side_by_side("two-way G.711 SRTP call, audio from files", result.get("g711"))
    side_by_side("two-way Opus SRTP call, audio from files", result.get("opus"))
    side_by_side("idle (no call)", result.get("idle"))
    g711 = result.get("g711")
    if isinstance(g711, dict) and "python_floor" in g711:
        floor = g711["python_floor"]["cpu_percent_mean"]
        text = f"{floor:g} %"
        if "python_floor_cpu" in (g711.get("ratio") or {}):
            text += f" = {g711['ratio']['python_floor_cpu']}× linphonec"
        rows.append(("CPU floor of a Python+uvloop call (wake, recv, send, file frame)", text))
    rss_floor = result.get("rss_floor")
    if isinstance(rss_floor, dict) and "rss_mib" in rss_floor:
        text = f"{rss_floor['rss_mib']:g} MiB"
        lin = g711.get("linphonec") if isinstance(g711, dict) else None
        if lin:
            text += f" = {rss_floor['rss_mib'] / statistics.mean(lin['rss_mib']):.2f}× linphonec"
        rows.append(("RSS floor: Python + the libraries the phone needs, imported", text))
    spy = result.get("profile_g711")
    if isinstance(spy, dict) and spy.get("own_pct"):
        top = ", ".join(f"{frame.split(' (')[0]} {pct:g} %" for frame, pct in spy["own_pct"][:4])
        rows.append(("G.711 call profile, top own entries (py-spy)", top))
    if "opus_over_g711_cpu" in result:
        rows.append(("deskphone Opus call CPU / G.711 call CPU",
                     f"{result['opus_over_g711_cpu']}×"))
    cold = result.get("cold_start_to_ready")
    if isinstance(cold, dict):
        rows.append(("cold start to ready (control socket answers)", f"{cold['median_ms']:g} ms"))
    return rows


def main() -> int:
    import json

    result = run()
    print(json.dumps(result, indent=2))
    for label, value in summary(result):
        print(f"{label}: {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
