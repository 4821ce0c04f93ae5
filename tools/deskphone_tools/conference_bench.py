"""Conference benchmark (not a test): CPU of a 3-way conference next to a 2-party call, and
mouth-to-ear through the mixer (issue 15 item 7, issue 19's goal: a conference <= 2x a call).

Phone A runs in its own process with the real media path: SRTP streams on loopback UDP, the
event loop and its 20 ms timers. Its peers B and C run in another process (their CPU is not
A's). Two windows, one after the other, with the same peers:

* call: A's stream with B ticks itself (one timer), as in any two-party call;
* conference: A's streams with B (PCMU, 8 kHz) and C (G.722, 16 kHz) are handed to one
  `ConferenceBridge` (media/conference.py), which mixes them with A's handset (8 kHz) from one
  timer: resampling, saturating sums, two SRTP legs.

A's CPU (time.process_time over the steady state) is % of one core; the ratio is conference /
call. Mouth-to-ear: B's capture carries a short burst every 340 ms; we time from the tick that
captured it to the tick that plays it, on A's earpiece (both windows) and on C's (conference:
B -> A's mixer -> C), and add the 20 ms a capture frame takes to fill (media_bench.py's
convention). Each process reads the same CLOCK_MONOTONIC.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from typing import Any

from deskphone.sdp.codecs import CodecChoice
from deskphone_tools.media_bench import (
    _KEY_A,
    _KEY_B,
    _SALT_A,
    _SALT_B,
    _BurstSource,
    _EnergySink,
    _warm_up_codec,
    burst_latencies,
    latency_summary,
)

PCMU = ("PCMU", 0, 8000, 1)
G722 = ("G722", 9, 8000, 1)  # RFC 3551 §4.5.2: 8000 in SDP, 16 kHz audio
_WARMUP = 0.5
_DEVICE_RATE = 8000


def _keys(side: str) -> Any:
    from deskphone.zrtp.events import SrtpKeys

    ours, theirs = ((_KEY_A, _SALT_A), (_KEY_B, _SALT_B))[:: 1 if side == "A" else -1]
    return SrtpKeys("AES_CM_128_HMAC_SHA1_80", *ours, *theirs)


# ---- phone A -----------------------------------------------------------------------------------

def _a_process(conn: Any, c_codec: tuple) -> None:
    asyncio.run(_phone_a(conn, c_codec))


async def _phone_a(conn: Any, c_codec: tuple) -> None:
    from deskphone.devices.audio import NullAudio
    from deskphone.media.conference import ConferenceBridge
    from deskphone.media.stream import MediaStream

    loop = asyncio.get_running_loop()
    for spec in (PCMU, G722):
        _warm_up_codec(CodecChoice(*spec))
    earpiece = _EnergySink(_DEVICE_RATE, time.monotonic)
    to_b = await MediaStream.open("127.0.0.1", audio=earpiece)
    to_c = await MediaStream.open("127.0.0.1", audio=NullAudio(_DEVICE_RATE))
    conn.send((to_b.local_port, to_c.local_port))
    (b_port, c_port), seconds = await loop.run_in_executor(None, conn.recv)
    to_b.start(("127.0.0.1", b_port), CodecChoice(*PCMU), dtmf_pt=None, send_audio=True)
    to_b.set_srtp(_keys("A"))
    results = {}
    for window in ("call", "conference"):
        bridge = None
        if window == "conference":
            to_c.start(("127.0.0.1", c_port), CodecChoice(*c_codec), dtmf_pt=None,
                       send_audio=True)
            to_c.set_srtp(_keys("A"))
            bridge = ConferenceBridge(earpiece, {"b": to_b, "c": to_c})
            bridge.start()
        earpiece.arrivals.clear()
        await asyncio.sleep(_WARMUP)
        cpu0, wall0 = time.process_time(), time.monotonic()
        await asyncio.sleep(seconds)
        cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
        wakeups = bridge.loop_wakeups if bridge is not None else to_b.loop_wakeups
        results[window] = {"core_pct": round(100 * cpu / wall, 2), "ears": list(earpiece.arrivals),
                           "loop_wakeups_ticks": wakeups}
        conn.send(("window_done", window))
        await loop.run_in_executor(None, conn.recv)
    await to_b.close()
    await to_c.close()
    conn.send(results)


# ---- peers B and C -----------------------------------------------------------------------------

def _peers_process(conn: Any, c_codec: tuple) -> None:
    asyncio.run(_peers(conn, c_codec))


async def _peers(conn: Any, c_codec: tuple) -> None:
    from deskphone.media.stream import MediaStream

    loop = asyncio.get_running_loop()
    rate_b, rate_c = (_warm_up_codec(CodecChoice(*spec)) for spec in (PCMU, c_codec))
    mouth = _BurstSource(rate_b, time.monotonic, first_after=0)
    ear_c = _EnergySink(rate_c, time.monotonic)
    b = await MediaStream.open("127.0.0.1", audio=mouth)
    c = await MediaStream.open("127.0.0.1", audio=ear_c)
    conn.send((b.local_port, c.local_port))
    a_b, a_c = await loop.run_in_executor(None, conn.recv)
    b.start(("127.0.0.1", a_b), CodecChoice(*PCMU), dtmf_pt=None, send_audio=True)
    b.set_srtp(_keys("B"))
    windows = {}
    for window in ("call", "conference"):
        if window == "conference":  # C joins only now: it costs A nothing during the call
            c.start(("127.0.0.1", a_c), CodecChoice(*c_codec), dtmf_pt=None, send_audio=True)
            c.set_srtp(_keys("B"))
        mouth.burst_times.clear()
        ear_c.arrivals.clear()
        await loop.run_in_executor(None, conn.recv)  # the window is over
        windows[window] = {"mouth": list(mouth.burst_times), "ear_c": list(ear_c.arrivals)}
    await b.close()
    await c.close()
    conn.send(windows)


def _relay_windows(a_conn: Any, peers_conn: Any) -> None:
    for _ in ("call", "conference"):
        a_conn.recv()  # ("window_done", name)
        peers_conn.send("window over")
        a_conn.send("next")


def run(seconds: float = 6.0) -> dict[str, Any]:
    """Both conferences: two PCMU legs (the like-for-like ratio), and PCMU + G.722 (resampling
    between an 8 kHz and a 16 kHz leg)."""
    results: dict[str, Any] = {"pcmu_pcmu": _run_once(seconds, PCMU),
                               "pcmu_g722": _run_once(seconds, G722)}
    results["goal"] = "conference <= 2x a call (issue 19)"
    return results


def _run_once(seconds: float, c_codec: tuple) -> dict[str, Any]:
    context = multiprocessing.get_context("spawn")
    a_ours, a_theirs = context.Pipe()
    p_ours, p_theirs = context.Pipe()
    a = context.Process(target=_a_process, args=(a_theirs, c_codec), daemon=True)
    peers = context.Process(target=_peers_process, args=(p_theirs, c_codec), daemon=True)
    a.start()
    peers.start()
    a_ports, peer_ports = a_ours.recv(), p_ours.recv()
    p_ours.send(a_ports)
    a_ours.send((peer_ports, seconds))
    _relay_windows(a_ours, p_ours)
    a_results, peer_results = a_ours.recv(), p_ours.recv()
    a.join(10)
    peers.join(10)
    rows: dict[str, Any] = {}
    window_s = 0.340  # the burst period: a later edge is the next burst's
    for window in ("call", "conference"):
        mouth = peer_results[window]["mouth"]
        to_a = burst_latencies(mouth, a_results[window]["ears"], window_s)
        row = {"core_pct_a": a_results[window]["core_pct"],
               "loop_wakeups_ticks": a_results[window]["loop_wakeups_ticks"],
               "b_to_a": {**latency_summary([x * 1000 for x in to_a]),
                          "bursts_heard": f"{len(to_a)}/{len(mouth)}"}}
        if window == "conference":
            to_c = burst_latencies(mouth, peer_results[window]["ear_c"], window_s)
            row["b_to_c_through_mixer"] = {**latency_summary([x * 1000 for x in to_c]),
                                           "bursts_heard": f"{len(to_c)}/{len(mouth)}"}
        rows[window] = row
    call, conf = rows["call"]["core_pct_a"], rows["conference"]["core_pct_a"]
    rows["conference_over_call"] = round(conf / call, 2) if call else None
    print(f"phone A, 2-party PCMU call: {call} % of a core; 3-way conference (PCMU + {c_codec[0]}"
          f" legs, mixed at 8 kHz): {conf} % -> ratio {rows['conference_over_call']}")
    print(f"mouth-to-ear B -> A: call {rows['call']['b_to_a']['mouth_to_ear_ms']} ms, conference "
          f"{rows['conference']['b_to_a']['mouth_to_ear_ms']} ms; B -> C through A's mixer "
          f"{rows['conference']['b_to_c_through_mixer']['mouth_to_ear_ms']} ms")
    return rows


def summary(results: dict[str, Any]) -> list[tuple[str, str]]:
    """The rows `make bench` prints."""
    rows = []
    for key, label in (("pcmu_pcmu", "PCMU + PCMU"), ("pcmu_g722", "PCMU + G.722")):
        row = results.get(key) or {}
        if not row:
            continue
        conference = row["conference"]
        rows += [
            (f"3-way conference ({label}) / 2-party call, CPU of the mixing phone",
             f"{row['conference_over_call']}x ({conference['core_pct_a']} % vs "
             f"{row['call']['core_pct_a']} % of a core)"),
            (f"mouth-to-ear through the mixer ({label}), leg to leg",
             f"{conference['b_to_c_through_mixer']['mouth_to_ear_ms']} ms"),
        ]
    return rows


if __name__ == "__main__":
    run()
