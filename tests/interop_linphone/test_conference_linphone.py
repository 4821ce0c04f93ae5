"""linphonec as legs of a 3-way conference mixed on our phone (issue 15 items 4 and 6).

Our phone calls linphonec B, then linphonec C calls us (B held), we answer and press
`conference`. Each leg's SAS is the one that linphonec shows (each leg is its own ZRTP session
with us); B plays a 1 kHz tone and our handset says 700 Hz, and C's recording (what C decrypted)
holds both: the conference audio reaches an independent peer through SRTP keyed by its ZRTP.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.interop_linphone.conftest import (
    OUR_TONE_HZ,
    Interop,
    phone_ctl,
    wait_file_size,
    wait_phone,
)
from tests.peers.audio import read_wav, write_tone_wav

pytestmark = pytest.mark.interop

B_TONE_HZ = 1000.0


def share_at(samples: np.ndarray, rate: int, frequency: float) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples)))) ** 2
    spectrum[:3] = 0
    hz = rate / len(samples)
    centre = int(round(frequency / hz))
    return float(spectrum[centre - 4:centre + 5].sum() / (spectrum.sum() or 1.0))


def test_linphonec_legs_keep_their_sas_and_hear_the_mix(interop: Interop) -> None:
    phone = interop.phone(extra="[phone]\nconference_hangup = \"end\"\n")
    bob = interop.linphone("bob", auto_answer=True, codecs=["PCMU"])
    carol = interop.linphone("carol", codecs=["PCMU"])
    tone = write_tone_wav(interop.root / "bob-tone.wav", B_TONE_HZ, seconds=12)
    heard_by_carol = interop.root / "carol-heard.wav"

    async def scenario() -> dict:
        await bob.start()
        await carol.start()
        await carol.record(heard_by_carol)
        await phone_ctl(phone, "dial", bob.sip_uri)
        sas_bob = await bob.wait_for_sas(15)
        ours_b = await wait_phone(phone, 15, security="secure|verified", call="in_call")
        await carol.call(Interop.sip_uri(phone))
        waiting = await wait_phone(phone, 15, waiting="~carol")
        carol_id = next(c["id"] for c in waiting["calls"] if c["state"] == "waiting")
        await phone_ctl(phone, "answer", carol_id)
        sas_carol = await carol.wait_for_sas(15)
        ours_c = await wait_phone(phone, 15, security="secure|verified", call="in_call",
                                  peer="~carol")
        await phone_ctl(phone, "conference")
        mixed = await wait_phone(phone, 10, conference="true")
        await bob.play(tone)
        # carol's recording grows with what she decrypts: 3 s more of the mix
        size = heard_by_carol.stat().st_size if heard_by_carol.exists() else 0
        await wait_file_size(heard_by_carol, min_bytes=size + 3 * 2 * 8000, timeout=15)
        state = await phone_ctl(phone, "state")
        await phone_ctl(phone, "hangup")  # the conference ends: both legs
        await bob.wait_call_end(10)
        await carol.wait_call_end(10)
        return {"sas_bob": sas_bob, "sas_carol": sas_carol, "ours_b": ours_b,
                "ours_c": ours_c, "mixed": mixed, "state": state}

    got = interop.run(scenario, timeout=90)
    # each leg: our SAS with that linphonec is the one it shows
    assert got["ours_b"]["sas"] == got["sas_bob"] and got["ours_c"]["sas"] == got["sas_carol"]
    legs = {c["state"]: c for c in got["mixed"]["calls"]}
    assert legs["conference"]["sas"] == got["sas_bob"]
    assert legs["active"]["sas"] == got["sas_carol"]
    assert "not to each other" in got["mixed"]["screen"]
    media = got["state"]["media"]  # the leg in the earpiece: SRTP only
    assert media["secure"] is True and media["dropped_cleartext"] == 0, media
    rate, recorded = read_wav(heard_by_carol)
    tail = recorded[-int(2.0 * rate):-int(0.3 * rate)]  # the mix, before the hang-up
    b_share, a_share = share_at(tail, rate, B_TONE_HZ), share_at(tail, rate, OUR_TONE_HZ)
    print(f"carol heard: {B_TONE_HZ} Hz share {b_share:.2f}, {OUR_TONE_HZ} Hz share {a_share:.2f}; "
          f"SAS bob {got['sas_bob']}, carol {got['sas_carol']}")
    assert b_share > 0.15 and a_share > 0.15, (b_share, a_share)
    assert np.sqrt(np.mean(tail ** 2)) > 500  # not silence: decrypted audio
