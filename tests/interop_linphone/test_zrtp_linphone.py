"""ZRTP interop with linphonec (Linphone 5.1, bzrtp), both directions, on loopback (issue 5).

Each test runs one real `deskphone run --sim` process and one linphonec, bounded by one timeout
and torn down by the `interop` fixture. The SAS our `state` shows must equal the one linphonec
prints, and the algorithms both sides use must be the ones expected from the two Hellos:

- linphonec defaults (its Hello: S256; AES1, AES3; HS80, HS32; DH3k, Mult; B32):
  DH3k/S256/AES1/HS80/B32;
- linphonec set to X255/S384/AES3/B256 (its rc `[sip] zrtp_*_suites`; bzrtp appends the
  mandatory algorithms after them): X255/S384/AES3/HS80/B256, whoever wins Commit contention
  (deskphone.zrtp.negotiation.tie_break), with the SAS as two PGP words (RFC 6189 §5.1.6).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from deskphone_tools.harness import PhoneProcess
from deskphone_tools.peers.linphone import LinphonePeer
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

pytestmark = pytest.mark.interop

B32_SAS = re.compile(r"^[ybndrfg8ejkmcpqxot1uwisza345h769]{4}$")  # RFC 6189 §5.1.6
B256_SAS = re.compile(r"^[A-Za-z]+:[A-Za-z]+$")  # two PGP words, even word first

DEFAULT_SUITES: dict[str, list[str]] = {}
STRONG_SUITES = {"key_agreements": ["X255"], "hashes": ["S384"], "ciphers": ["AES3"],
                 "sas_types": ["B256"]}
EXPECTED = {
    "default": {"key_agreement": "DH3k", "hash": "S256", "cipher": "AES1", "auth_tag": "HS80",
                "sas_type": "B32"},
    "strong": {"key_agreement": "X255", "hash": "S384", "cipher": "AES3", "auth_tag": "HS80",
               "sas_type": "B256"},
}
SUITES = {"default": DEFAULT_SUITES, "strong": STRONG_SUITES}


@dataclass
class SecuredCall:
    ours: dict[str, Any]
    linphone_sas: str


async def establish(phone: PhoneProcess, linphone: LinphonePeer, *, we_call: bool) -> SecuredCall:
    """Set up a call in the given direction and wait for the SAS on both sides."""
    if we_call:
        await phone_ctl(phone, "dial", linphone.sip_uri)  # linphonec auto-answers
    else:
        await linphone.call(Interop.sip_uri(phone))
        await wait_phone(phone, 10, call="ringing")
        await phone_ctl(phone, "hook", "off")
    linphone_sas = await linphone.wait_for_sas(15)
    ours = await wait_phone(phone, 15, security="secure|verified", call="in_call")
    return SecuredCall(ours, linphone_sas)


async def hang_up(phone: PhoneProcess, linphone: LinphonePeer) -> str:
    since = linphone.mark()
    if (await phone_ctl(phone, "state"))["off_hook"]:
        await phone_ctl(phone, "hook", "on")  # the handset goes back on the cradle
    else:
        await phone_ctl(phone, "hangup")  # a call placed with `dial`, handset never lifted
    return await linphone.wait_call_end(10, since=since)


def check_secured(call: SecuredCall, suites: str, phone: PhoneProcess) -> None:
    ours = call.ours
    context = f"our state {ours}\nphone log:\n{phone.log_tail()}"
    assert ours["sas"] == call.linphone_sas, context
    expected = EXPECTED[suites]
    zrtp = ours["zrtp"]
    assert {key: zrtp.get(key) for key in expected} == expected, context
    assert zrtp["peer_client_id"] == "BZRTPv1.1", context
    # RFC 6189 §8.1.1: linphonec's Hello hashes to the a=zrtp-hash of its SDP, checked by us
    assert zrtp["peer_hello_hash_verified"] is True, context
    sas_format = B32_SAS if expected["sas_type"] == "B32" else B256_SAS
    assert sas_format.match(ours["sas"]), context
    for word in ours["sas"].split(":"):  # B256: one PGP word per line on the OLED
        assert word.upper() in ours["screen"].upper(), context
    # Nothing was dropped as forged or corrupt: linphone's packets pass CRC, hash chain and MACs.
    for counter in ("dropped_crc", "dropped_mac", "dropped_hash_chain", "dropped_hello_hash",
                    "dropped_malformed"):
        assert zrtp[counter] == 0, f"{counter}: {context}"
    assert ours["media"]["secure"] is True, context
    # linphonec 5.1 does not list our DPQ1: the usual agreement, and no "PQ" mark on screen.
    assert ours["post_quantum"] is False and "PQ" not in ours["screen"].split(), context


CODEC_RATES = {"PCMU": 8000, "PCMA": 8000, "G722": 16000, "opus": 48000}


@dataclass
class AudioCheck:
    played_by_linphone: Path
    recorded_by_linphone: Path


async def exchange_tones(phone: PhoneProcess, linphone: LinphonePeer, audio: AudioCheck,
                         codec: str) -> dict[str, Any]:
    """linphonec plays its tone; wait until ~1.8 s of it reached us and 1.5 s of ours reached
    it (linphonec prints nothing for received audio: its recording growing is the signal)."""
    before = (await phone_ctl(phone, "state"))["media"]["packets_received"]
    await linphone.play(audio.played_by_linphone)
    state = await wait_phone(phone, 10, **{"media.packets_received": f">{before + 90}"})
    bytes_per_second = 2 * CODEC_RATES[codec]
    await wait_file_size(audio.recorded_by_linphone, min_bytes=int(1.5 * bytes_per_second),
                         timeout=10)
    return state


def check_tones(phone: PhoneProcess, audio: AudioCheck, codec: str) -> None:
    played = np.frombuffer((phone.workdir / "playback.raw").read_bytes(), "<i2").astype(float)
    heard = loud_part(played, RATE)
    assert len(heard) >= RATE, (
        f"only {len(heard) / RATE:.2f} s of linphonec's tone reached our earpiece "
        f"({codec})\n{phone.log_tail()}")
    frequency = dominant_frequency(heard, RATE)
    assert abs(frequency - LINPHONE_TONE_HZ) < 20, (
        f"our earpiece heard {frequency:.1f} Hz, linphonec played {LINPHONE_TONE_HZ} Hz")
    rate, recorded = read_wav(audio.recorded_by_linphone)
    assert rate == CODEC_RATES[codec], f"linphonec recorded at {rate} Hz over {codec}"
    heard = loud_part(recorded, rate)
    assert len(heard) >= rate, f"linphonec recorded only {len(heard) / rate:.2f} s of our tone"
    frequency = dominant_frequency(heard, rate)
    assert abs(frequency - OUR_TONE_HZ) < 20, (
        f"linphonec recorded {frequency:.1f} Hz, our handset said {OUR_TONE_HZ} Hz")


@pytest.mark.parametrize("suites", ["default", "strong"])
@pytest.mark.parametrize("we_call", [True, False], ids=["we_call", "linphone_calls"])
def test_sas_algorithms_and_audio_both_ways(interop: Interop, we_call: bool, suites: str) -> None:
    phone = interop.phone()
    linphone = interop.linphone(auto_answer=we_call, **SUITES[suites])
    audio = AudioCheck(write_tone_wav(interop.root / "tone.wav", LINPHONE_TONE_HZ, seconds=2.5),
                       interop.root / "linphone-heard.wav")

    async def scenario() -> tuple[SecuredCall, str]:
        await linphone.start()
        await linphone.record(audio.recorded_by_linphone)  # applies when the stream starts
        call = await establish(phone, linphone, we_call=we_call)
        # Media keeps flowing with linphonec's STUN Binding Requests (every ~500 ms, on our RTP
        # and RTCP ports) and RTCP on port + 1: still secure and the same SAS afterwards.
        call.ours = await exchange_tones(phone, linphone, audio, call.ours["codec"])
        return call, await hang_up(phone, linphone)

    call, linphone_end = interop.run(scenario)
    zrtp = call.ours["zrtp"]
    print(f"{'/'.join(zrtp[k] for k in ('key_agreement', 'hash', 'cipher', 'auth_tag', 'sas_type'))}"
          f" ({'we call' if we_call else 'linphone calls'}, {call.ours['codec']}, we were "
          f"{zrtp['role']}): ours {call.ours['sas']} = linphone {call.linphone_sas}")
    check_secured(call, suites, phone)
    media = call.ours["media"]
    assert media["srtp_auth_failures"] == 0 and media["dropped_cleartext"] == 0, media
    assert media["dropped_foreign"] == 0 and media["stun_answered"] > 0, media
    assert linphone_end == "No error"
    check_tones(phone, audio, call.ours["codec"])


@pytest.mark.parametrize("codec", ["opus", "G722"])
def test_each_codec_linphone_offers_alone_decodes_both_ways(interop: Interop, codec: str) -> None:
    # With its defaults linphonec offers opus, speex, PCMU, PCMA, G729 and we answer PCMU (our
    # preference; RFC 3264 §6.1 lets the answerer choose). Offering one codec at a time makes us
    # use the wideband ones we share with it (PCMA is PCMU's sibling, left to the unit tests).
    phone = interop.phone()
    linphone = interop.linphone(codecs=[codec])
    audio = AudioCheck(write_tone_wav(interop.root / "tone.wav", LINPHONE_TONE_HZ, seconds=2.5),
                       interop.root / "linphone-heard.wav")

    async def scenario() -> SecuredCall:
        await linphone.start()
        await linphone.record(audio.recorded_by_linphone)
        call = await establish(phone, linphone, we_call=False)
        call.ours = await exchange_tones(phone, linphone, audio, codec)
        await hang_up(phone, linphone)
        return call

    call = interop.run(scenario)
    assert call.ours["codec"] == codec and call.ours["sas"] == call.linphone_sas, call.ours
    media = call.ours["media"]
    assert media["srtp_auth_failures"] == 0 and media["malformed"] == 0, media
    check_tones(phone, audio, codec)
