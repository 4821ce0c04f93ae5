"""Several calls with linphonec as the independent peer (issue 15 item 6): linphonec as the
caller who waits while we talk to another linphonec, and as the target and as the transferee
of our attended transfer (with a second deskphone in the other role).

We call Bob (a linphonec that answers by itself); Carol (another linphonec) calls us during that
call and waits; `answer ID` takes her call and holds Bob's (RFC 3264 §8.4). Her leg runs a ZRTP
session of its own: the SAS our screen shows for it is the one Carol's linphonec printed, and
not Bob's. Audio on her leg decrypts both ways — her 1000 Hz tone in our earpiece, our 700 Hz in
her recording — and Bob's 400 Hz, on hold, is not what our earpiece plays (FFT, as
test_zrtp_linphone checks its tones).
"""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from deskphone_tools.harness import PhoneProcess
from deskphone_tools.peers.linphone import SAS_SHOWN
from tests.interop_linphone.conftest import (
    LINPHONE_TONE_HZ,
    OUR_TONE_HZ,
    RATE,
    Interop,
    phone_ctl,
    wait_file_size,
    wait_phone,
)
from tests.peers.audio import dominant_frequency, loud_part, read_wav, write_tone_wav
from tests.support import free_udp_port

pytestmark = [pytest.mark.interop, pytest.mark.timeout(120)]

BOB_TONE_HZ = 400.0


def call_id_of(calls: list[dict], peer_part: str) -> str:
    ids = [str(call["id"]) for call in calls if peer_part in call["peer"]]
    assert len(ids) == 1, calls
    return ids[0]


def second_phone(interop: Interop) -> tuple[PhoneProcess, int]:
    """B, ext 202: a second deskphone process beside ours, SIP on a free loopback port."""
    port = free_udp_port()
    workdir = interop.root / "b"
    workdir.mkdir(mode=0o700)
    b = PhoneProcess("B", "202", workdir, f"""
[identity]
user = "ext202"
extension = "202"
display_name = "Bob"

[sip]
listen = "udp:127.0.0.1:{port}"

[devices]
mode = "sim"

[discovery]
enabled = false
""")
    interop.phones.append(b)
    b.start()
    return b, port


def test_linphonec_waits_during_a_call_and_its_leg_has_its_own_sas_and_audio(
        interop: Interop) -> None:
    phone = interop.phone()
    bob = interop.linphone("bob", auto_answer=True)
    carol = interop.linphone("carol")
    bob_tone = write_tone_wav(interop.root / "bob.wav", BOB_TONE_HZ, seconds=20)
    carol_tone = write_tone_wav(interop.root / "carol.wav", LINPHONE_TONE_HZ, seconds=3)
    carol_heard = interop.root / "carol-heard.wav"
    playback = phone.workdir / "playback.raw"

    async def scenario() -> tuple[dict, dict, str, str, int]:
        await asyncio.gather(bob.start(), carol.start())
        await carol.record(carol_heard)
        await phone_ctl(phone, "dial", bob.sip_uri)
        bob_sas = await bob.wait_for_sas(15)
        with_bob = await wait_phone(phone, 15, call="in_call", security="secure", sas=bob_sas)
        await bob.play(bob_tone)

        await carol.call(Interop.sip_uri(phone))
        waiting = await wait_phone(phone, 15, waiting="~carol")
        assert waiting["tone"] == "call_waiting" and waiting["ringing"] is False, waiting
        await phone_ctl(phone, "answer", call_id_of(waiting["calls"], "carol"))
        carol_sas = await carol.wait_for_sas(15)
        ours = await wait_phone(phone, 15, call="in_call", peer="~carol", security="secure",
                                sas=carol_sas)
        mark = playback.stat().st_size if playback.exists() else 0
        before = ours["media"]["packets_received"]
        await carol.play(carol_tone)
        ours = await wait_phone(phone, 10, **{"media.packets_received": f">{before + 90}"})
        await wait_file_size(carol_heard, min_bytes=int(1.5 * 2 * 8000), timeout=10)
        calls = {call["peer"]: call for call in await phone_ctl(phone, "calls")}
        await phone_ctl(phone, "hangup")  # Carol's call; Bob's stays held
        await carol.wait_call_end(10)
        await wait_phone(phone, 15, call="held")
        await phone_ctl(phone, "swap")
        await wait_phone(phone, 15, call="in_call", sas=bob_sas)
        await phone_ctl(phone, "hangup")
        await bob.wait_call_end(10)
        return with_bob, {"ours": ours, "calls": calls}, bob_sas, carol_sas, mark

    with_bob, during, bob_sas, carol_sas, mark = interop.run(scenario, timeout=100)
    ours, calls = during["ours"], during["calls"]
    context = f"{ours}\n{calls}\nphone log:\n{phone.log_tail()}"
    assert ours["sas"] == carol_sas and carol_sas != bob_sas, context
    assert with_bob["sas"] == bob_sas, context
    listed = {("carol" in peer, call["state"], call["sas"]) for peer, call in calls.items()}
    assert listed == {(True, "active", carol_sas), (False, "held", bob_sas)}, context
    media = ours["media"]
    assert media["secure"] is True and media["srtp_auth_failures"] == 0, context
    assert media["dropped_cleartext"] == 0, context

    # Our earpiece after the answer: Carol's tone, not Bob's (his call is held).
    played = np.frombuffer(playback.read_bytes()[mark:], "<i2").astype(float)
    heard = loud_part(played, RATE)
    assert len(heard) >= RATE, f"only {len(heard) / RATE:.2f} s of Carol's tone\n{context}"
    frequency = dominant_frequency(heard, RATE)
    assert abs(frequency - LINPHONE_TONE_HZ) < 20, (frequency, context)
    # Carol's linphonec decrypted what we said.
    rate, recorded = read_wav(carol_heard)
    heard = loud_part(recorded, rate)
    assert len(heard) >= rate, f"Carol recorded only {len(heard) / rate:.2f} s"
    assert abs(dominant_frequency(heard, rate) - OUR_TONE_HZ) < 20


def test_linphonec_as_the_attended_transfer_target_gets_its_own_sas_with_the_transferee(
        interop: Interop) -> None:
    """We (A) talk to B, a second deskphone; Carol (linphonec) calls us and we answer her (B
    held) — the consultation. `transfer --attended B` sends B a REFER whose Refer-To is Carol's
    Contact with Replaces naming our dialog with her (RFC 5589 §7); B's INVITE with that
    Replaces reaches linphonec, which takes it in place of our call (RFC 3891). B and Carol then
    have a ZRTP session of their own: B's SAS equals the one linphonec prints for it."""
    ours = interop.phone()
    b, b_port = second_phone(interop)
    carol = interop.linphone("carol")

    async def scenario() -> dict:
        await carol.start()
        await phone_ctl(ours, "dial", f"sip:ext202@127.0.0.1:{b_port}")
        await wait_phone(b, 15, call="ringing")
        await phone_ctl(b, "hook", "off")
        sab = await wait_phone(ours, 15, call="in_call", security="secure")
        await carol.call(Interop.sip_uri(ours))
        waiting = await wait_phone(ours, 15, waiting="~carol")
        await phone_ctl(ours, "answer", call_id_of(waiting["calls"], "carol"))
        sac_linphone = await carol.wait_for_sas(15)
        sac = await wait_phone(ours, 15, call="in_call", peer="~carol", sas=sac_linphone)
        await wait_phone(b, 15, direction="recvonly")  # B is held

        since = carol.mark()
        await phone_ctl(ours, "transfer", "--attended", call_id_of(sac["calls"], "202"))
        done = await wait_phone(ours, 20, call="ended|idle")
        # linphonec: B's INVITE with Replaces arrives, our call with it ends, B's takes its place.
        replacing = await carol.wait_for_incoming(20, since=since)
        replaced_end = await carol.wait_call_end(20, since=since)
        sbc_linphone = await carol.wait_for_sas(20)  # the new call's, after the old one ended
        sb = await wait_phone(b, 20, call="in_call", security="secure", sas=sbc_linphone)
        last = carol.mark()
        await phone_ctl(b, "hook", "on")
        await carol.wait_call_end(10, since=last)
        return {"sab": sab, "sac": sac, "done": done, "sb": sb, "sbc": sbc_linphone,
                "replacing": replacing, "replaced_end": replaced_end}

    seen = interop.run(scenario, timeout=100)
    context = f"{seen}\nA log:\n{ours.log_tail()}\nB log:\n{b.log_tail()}"
    assert "Transferred" in seen["done"]["screen"], context
    assert "ext202" in seen["replacing"] and seen["replaced_end"] == "No error", context
    assert seen["sb"]["sas"] == seen["sbc"], context
    assert seen["sbc"] not in (seen["sab"]["sas"], seen["sac"]["sas"]), context
    media = seen["sb"]["media"]
    assert media["secure"] is True and media["srtp_auth_failures"] == 0, context


def test_linphonec_as_the_transferee_calls_the_target_with_replaces(interop: Interop) -> None:
    """We (A) talk to Dave (linphonec), B (a second deskphone) calls us and we answer it (Dave
    held); `transfer --attended Dave` sends linphonec our REFER with Replaces (RFC 5589 §7). Its
    INVITE with Replaces reaches B, which answers it in place of our call (RFC 3891 §3, the
    target role): B and Dave then share a SAS of their own."""
    ours = interop.phone()
    b, b_port = second_phone(interop)
    dave = interop.linphone("dave", auto_answer=True)

    async def scenario() -> dict:
        await dave.start()
        await phone_ctl(ours, "dial", dave.sip_uri)
        sad_linphone = await dave.wait_for_sas(15)
        await wait_phone(ours, 15, call="in_call", security="secure", sas=sad_linphone)
        await phone_ctl(b, "dial", Interop.sip_uri(ours))
        waiting = await wait_phone(ours, 15, waiting="~Bob")
        await phone_ctl(ours, "answer", call_id_of(waiting["calls"], "Bob"))
        sab = await wait_phone(ours, 15, call="in_call", peer="~Bob", security="secure")
        await wait_phone(b, 15, call="in_call", security="secure", sas=sab["sas"])

        since = dave.mark()
        await phone_ctl(ours, "transfer", "--attended", call_id_of(sab["calls"], "dave"))
        done = await wait_phone(ours, 20, call="ended|idle")
        # Its new call's SAS; the call with us ends meanwhile (wait_for_sas would stop there).
        sbd_linphone = (await dave.wait_for(SAS_SHOWN, 20, since=since)).group("sas")
        sb = await wait_phone(b, 20, call="in_call", peer="~dave", sas=sbd_linphone)
        last = dave.mark()
        await phone_ctl(b, "hangup")
        await dave.wait_call_end(10, since=last)
        return {"sad": sad_linphone, "sab": sab, "done": done, "sb": sb, "sbd": sbd_linphone}

    seen = interop.run(scenario, timeout=100)
    context = f"{seen}\nA log:\n{ours.log_tail()}\nB log:\n{b.log_tail()}"
    assert "Transferred" in seen["done"]["screen"], context
    assert seen["sb"]["sas"] == seen["sbd"], context
    assert seen["sbd"] not in (seen["sad"], seen["sab"]["sas"]), context
    assert len(seen["sb"]["calls"]) == 1, context  # B's call with us was replaced, not added
