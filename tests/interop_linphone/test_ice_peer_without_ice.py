"""A phone that offers ICE (`[nat] stun` set) calling linphonec with ICE off (its default).

linphonec answers without a=ice-ufrag/ice-pwd, so (RFC 8839 §4.2.3) media goes between our
default candidate (the c=/m= of our offer: here the srflx one, the STUN server being on
loopback) and linphonec's c=/m=, with no checks; ZRTP runs over that pair as on any call: same
SAS on both sides, SRTP audio both ways.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.interop_linphone.conftest import LINPHONE_TONE_HZ, Interop, phone_ctl
from tests.interop_linphone.test_zrtp_linphone import (
    AudioCheck,
    check_tones,
    establish,
    exchange_tones,
    hang_up,
    write_tone_wav,
)
from tests.nat.test_ice_loopback import StunResponder

pytestmark = pytest.mark.interop


def test_ice_offer_answered_without_ice_uses_the_default_candidate(interop: Interop) -> None:
    stun = StunResponder()
    try:
        phone = interop.phone(extra=f'[nat]\nstun = "127.0.0.1:{stun.port}"\n')
        linphone = interop.linphone(auto_answer=True)
        audio = AudioCheck(write_tone_wav(interop.root / "tone.wav", LINPHONE_TONE_HZ,
                                          seconds=2.5), interop.root / "linphone-heard.wav")

        async def scenario() -> tuple[dict[str, Any], str, str]:
            await linphone.start()
            await linphone.record(audio.recorded_by_linphone)
            call = await establish(phone, linphone, we_call=True)
            await exchange_tones(phone, linphone, audio, call.ours["codec"])
            state = await phone_ctl(phone, "state")
            return state, call.linphone_sas, await hang_up(phone, linphone)

        state, linphone_sas, end = interop.run(scenario)
    finally:
        stun.close()
    assert state["sas"] == linphone_sas, (state, linphone_sas)
    ice = state["ice"]
    assert ice["state"] == "connected" and ice["path"] == "direct", ice
    assert ice["kind"] == "srflx", ice  # our default candidate
    assert state["remote_media"] == ice["remote"], state
    media = state["media"]
    assert media["secure"] and media["srtp_auth_failures"] == 0, media
    assert end == "No error"
    check_tones(phone, audio, state["codec"])
